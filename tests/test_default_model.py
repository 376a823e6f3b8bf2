"""The embedded default model on a fresh environment: converted from its GGUF file into an empty
cache, loaded, and generating, through the real CLI. Not marked slow on purpose: CI must prove the
path a new user's ``make demo`` takes (it once failed on a fresh machine for lack of ``gguf``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


def _run(code: str, cache: Path, *, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RFT_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def rows_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "rows.jsonl"
    rows = [
        {"id": "a", "prompt": "What is 2+2? Answer inside <answer></answer> tags.", "answer": "4"},
        {"id": "b", "prompt": "What is 3+4? Answer inside <answer></answer> tags.", "answer": "7"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_default_model_converts_into_an_empty_cache_and_generates(tmp_path: Path, rows_file: Path) -> None:
    cache = tmp_path / "cache"  # empty: nothing converted before, as on a new machine
    out = tmp_path / "run"
    proc = _run(
        f"""
        import sys
        from rft.cli import main
        sys.exit(main(["eval", "--model", "default", "--data", {str(rows_file)!r}, "--grader", "answer_in_tags",
                       "--max-new-tokens", "12", "--out", {str(out)!r}, "--no-progress", "--format", "json"]))
        """,
        cache,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (cache / "models").is_dir() and any((cache / "models").glob("*/config.json")), "nothing was converted"
    outputs = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]
    assert len(outputs) == 2
    # The model really generated: text and a token count came back for each prompt, and was graded.
    assert sorted(o["id"] for o in outputs) == ["a", "b"]
    assert all(o["output"].strip() and o["gen"]["tokens"] > 0 for o in outputs)
    assert all(o["grade"]["score"] in (0.0, 1.0) for o in outputs)


def test_missing_gguf_is_a_config_error_with_the_pip_command(tmp_path: Path, rows_file: Path) -> None:
    # gguf is "uninstalled" for this process only: a None entry in sys.modules makes its import fail.
    proc = _run(
        f"""
        import sys
        sys.modules["gguf"] = None
        from rft.cli import main
        sys.exit(main(["eval", "--model", "default", "--data", {str(rows_file)!r}, "--grader", "answer_in_tags",
                       "--max-new-tokens", "4", "--no-progress"]))
        """,
        tmp_path / "cache",
    )
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    assert "gguf" in proc.stderr and "pip install" in proc.stderr


def test_missing_gguf_in_the_api_raises_missing_dependency_error(tmp_path: Path) -> None:
    proc = _run(
        """
        import sys
        sys.modules["gguf"] = None
        import rft
        from rft.models import load_model
        try:
            load_model("default")
        except rft.MissingDependencyError as exc:
            assert isinstance(exc, rft.ConfigError) and isinstance(exc, ImportError)
            print("MISSING", exc.name, exc)
        """,
        tmp_path / "cache",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("MISSING gguf ") and "pip install" in proc.stdout


def test_cli_turns_any_missing_module_into_exit_2_with_the_install_command(capsys: pytest.CaptureFixture[str]) -> None:
    from rft.cli import main

    def boom(args: object) -> int:
        import surely_absent_rft_test_module  # noqa: F401

        return 0

    import rft.cli as cli

    parser = cli.build_parser()
    args = parser.parse_args(["graders", "--names"])
    args.func = boom
    original = cli.build_parser
    try:
        cli.build_parser = lambda: type("P", (), {"parse_args": lambda self, argv: args})()  # type: ignore[assignment]
        code = main(["graders"])
    finally:
        cli.build_parser = original  # type: ignore[assignment]
    err = capsys.readouterr().err
    assert code == 2
    assert "surely_absent_rft_test_module" in err and "pip install" in err
