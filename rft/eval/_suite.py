"""Unit benchmarks: a suite file names data, graders, a target and thresholds; running it passes or fails.

A suite is YAML (or JSON)::

    name: arithmetic
    data: arithmetic.jsonl            # relative paths are relative to this file's folder
    prompt_field: prompt
    target: default                   # default | MODEL_FOLDER | openai:MODEL@URL | {outputs: FILE.jsonl}
    samples_per_item: 1
    generation: {max_new_tokens: 64, temperature: 0, seed: 0, batch_size: 16}
    split: eval                       # optional: only rows whose "split" field equals this
    limit: 50                         # optional: first N rows only
    graders:
      - answer_in_tags                # a catalogue name
      - graders/strict.yaml           # a file (relative to the suite file)
      - {type: string_check, name: says_yes, reference: "yes", operation: ilike}   # inline
    thresholds:
      "*": {min_pass_rate: 0.1}       # every grader
      answer_in_tags: {min_score: 0.5, min_pass_rate: 0.4}
    baseline: baseline/report.json    # optional saved report
    max_regression: 0.05              # optional: fail if a grader's mean drops more than this vs baseline
    gate:                             # optional, for rft.tune_until / rft tune: how a round is judged
      grader: answer_in_tags          #   deciding grader (default: the first)
      metric: pass_rate               #   pass_rate or mean
      tolerance: 0.05                 #   as a guard: the non-inferiority margin
      threshold: 0.9                  #   as the target: stop once reached
      replay_data: replay.jsonl       #   as a guard: rows a replay remedy may train on
      replay_graders: [graders/strict.yaml]   # and what rewards them (default: this suite's graders)

Every relative path in a suite file (``data``, grader files, a model folder, ``outputs``,
``baseline``) is relative to the folder of the suite file, wherever rft runs from
(:func:`resolve_path`); a suite built from a dict reads them from the current directory. Before
anything is generated, :meth:`Suite.run` checks that the data, outputs and baseline files exist
and that the graders build; errors name the suite file, the key and the resolved path.

>>> import rft
>>> suite = rft.Suite.from_dict({"name": "demo", "data": [{"prompt": "hi", "answer": "hi"}],
...     "target": {"outputs_column": "answer"}, "graders": [{"type": "string_check", "name": "same",
...     "reference": "{{item.answer}}"}], "thresholds": {"same": {"min_score": 1.0}}})
>>> result = rft.run_suite(suite)
>>> result.passed
True
"""

from __future__ import annotations

import dataclasses
import html
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rft._catalogue import read_config_file
from rft._data import load_rows
from rft._errors import ConfigError, SuiteFailed
from rft.eval._compare import compare
from rft.eval._evaluate import evaluate, load_graders
from rft.eval._report import Report, _text_table, load_report
from rft.models import is_default_model_name, is_tiny_model_name

__all__ = ["Check", "Suite", "SuiteFailed", "SuiteGate", "SuiteResult", "Threshold", "resolve_path", "run_suite"]

_THRESHOLD_KEYS = ("min_score", "min_pass_rate", "max_regression")
_GENERATION_KEYS = ("max_new_tokens", "temperature", "top_p", "seed", "batch_size")
_SUITE_KEYS = (
    "name", "description", "data", "prompt_field", "id_field", "target", "samples_per_item", "generation",
    "limit", "split", "graders", "thresholds", "baseline", "max_regression", "gate",
)
GATE_KEYS = ("grader", "metric", "tolerance", "threshold", "replay_data", "replay_graders")


@dataclasses.dataclass
class SuiteGate:
    """How :func:`rft.tune_until` decides on a suite (the optional ``gate:`` block of a suite file).

    A target round is kept when ``grader``'s ``metric`` improved significantly; a guard holds when
    its paired change is non-inferior at ``tolerance``; ``threshold`` (target) stops the loop once
    reached; ``replay_data`` (guard) holds rows a replay remedy trains on instead of the suite's own,
    and ``replay_graders`` the graders that reward those rows (default: the suite's own; give stricter
    ones when the suite's graders are fine for measuring but gameable as a reward).

    >>> SuiteGate.from_dict({"metric": "mean", "tolerance": 0.1}, None)
    SuiteGate(grader=None, metric='mean', tolerance=0.1, threshold=None, replay_data=None, replay_graders=None)
    """

    grader: str | None = dataclasses.field(default=None, metadata={"help": "Deciding grader (default: the first)."})
    metric: str | None = dataclasses.field(default=None, metadata={"help": "pass_rate (default) or mean."})
    tolerance: float | None = dataclasses.field(
        default=None, metadata={"help": "Guard: largest drop allowed (default 0.05)."}
    )
    threshold: float | None = dataclasses.field(
        default=None, metadata={"help": "Target: stop once the metric reaches it."}
    )
    replay_data: Any = dataclasses.field(default=None, metadata={"help": "Guard: rows a replay remedy trains on."})
    replay_graders: Any = dataclasses.field(
        default=None, metadata={"help": "Guard: graders rewarding the replayed rows (default: the suite's)."}
    )

    @classmethod
    def from_dict(cls, data: Any, base: str | os.PathLike[str] | None) -> SuiteGate:
        if not isinstance(data, Mapping):
            raise ConfigError(f"expected a mapping of {', '.join(GATE_KEYS)}, got {data!r}", "gate")
        for key, value in data.items():
            if key not in GATE_KEYS:
                raise ConfigError(f"unknown gate key {key!r}; known: {', '.join(GATE_KEYS)}", f"gate.{key}")
            if key in ("tolerance", "threshold") and value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float))
            ):
                raise ConfigError(f"expected a number, got {value!r}", f"gate.{key}")
        values = dict(data)
        if isinstance(values.get("replay_data"), str):
            values["replay_data"] = resolve_path(values["replay_data"], base)
        if values.get("replay_graders") is not None:
            values["replay_graders"] = _grader_specs(values["replay_graders"], base, "gate.replay_graders")
        return cls(**values)


def _grader_specs(graders: Any, base: str | os.PathLike[str] | None, where: str) -> list[Any]:
    """A suite file's list of grader specs (one spec may stand alone), every grader file resolved
    against the suite file's folder."""
    if isinstance(graders, (str, Mapping)):
        graders = [graders]
    if not isinstance(graders, list) or not graders:
        raise ConfigError("expected a non-empty list of graders (catalogue names, files or inline configs)", where)
    return [
        resolve_path(g, base) if isinstance(g, str) and (g.endswith((".yaml", ".yml", ".json")) or "/" in g) else g
        for g in graders
    ]


@dataclasses.dataclass
class Threshold:
    """What one grader must reach. Unset checks are skipped."""

    min_score: float | None = dataclasses.field(default=None, metadata={"help": "Mean score at least this."})
    min_pass_rate: float | None = dataclasses.field(default=None, metadata={"help": "Pass rate at least this."})
    max_regression: float | None = dataclasses.field(
        default=None, metadata={"help": "Mean may drop at most this much vs the baseline report."}
    )

    @classmethod
    def from_dict(cls, data: Any, path: str) -> Threshold:
        if not isinstance(data, Mapping):
            raise ConfigError(f"expected a mapping of {', '.join(_THRESHOLD_KEYS)}, got {data!r}", path)
        for key, value in data.items():
            if key not in _THRESHOLD_KEYS:
                raise ConfigError(f"unknown threshold {key!r}; known: {', '.join(_THRESHOLD_KEYS)}", f"{path}.{key}")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"expected a number, got {value!r}", f"{path}.{key}")
        return cls(**{k: float(v) for k, v in data.items()})

    def merged(self, other: Threshold) -> Threshold:
        """``other``'s values where set, else ours."""
        values = {k: getattr(other, k) if getattr(other, k) is not None else getattr(self, k) for k in _THRESHOLD_KEYS}
        return Threshold(**values)


@dataclasses.dataclass
class Check:
    """One threshold applied to one grader; ``margin`` is by how much it passed (> 0) or missed (< 0)."""

    grader: str
    check: str
    required: str
    actual: str
    ok: bool
    note: str = ""
    margin: float | None = None


@dataclasses.dataclass
class SuiteResult:
    """The outcome of :func:`run_suite`: every check, the report, and the baseline comparison."""

    suite: str
    checks: list[Check]
    report: Report
    comparison: Any = None

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def table(self) -> str:
        """A readable verdict: one line per check, then the report's summary table."""
        failed = len(self.failures)
        head = f"suite {self.suite}: " + ("PASSED" if not failed else f"FAILED ({failed} of {len(self.checks)} checks)")
        rows = [
            [
                c.grader, c.check, c.required, c.actual, "-" if c.margin is None else f"{c.margin:+.3f}",
                "ok" if c.ok else "FAIL", c.note,
            ]
            for c in self.checks
        ]
        header = ["grader", "check", "required", "actual", "margin", "result", "note"]
        checks = _text_table(header, rows) if rows else "(no thresholds)"
        return f"{head}\n{checks}\n\n{self.report.table()}"

    __str__ = table

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(self.table())}</pre>"


def resolve_path(value: str | os.PathLike[str], base: str | os.PathLike[str] | None) -> str:
    """rft's one rule for a relative path: it is relative to the folder of the file that names it.

    ``base`` is that folder (``None``: the path came from code or the command line, so the current
    directory). Nothing else is tried, so the path an error names is the one rft read.
    ``~`` is expanded; absolute paths are kept.

    >>> resolve_path("rows.jsonl", "/work/suites")
    '/work/suites/rows.jsonl'
    >>> resolve_path("/data/rows.jsonl", "/work/suites")
    '/data/rows.jsonl'
    """
    path = Path(value).expanduser()
    if path.is_absolute():
        return str(path)
    return str((Path(base) if base is not None else Path.cwd()) / path)


def _is_model_name(value: str) -> bool:
    """A short model name ("default", "tiny"), which is not a path."""
    return is_default_model_name(value) or is_tiny_model_name(value)


@dataclasses.dataclass
class Suite:
    """A unit benchmark (see the module docstring for the file format)."""

    name: str = dataclasses.field(metadata={"help": "Suite name shown in tables."})
    data: Any = dataclasses.field(metadata={"help": "JSONL path (resolved) or a list of rows."})
    graders: list[Any] = dataclasses.field(metadata={"help": "Grader specs: catalogue names, files, dicts, Graders."})
    target: Any = dataclasses.field(default="default", metadata={"help": "What to evaluate (see rft.evaluate)."})
    thresholds: dict[str, Threshold] = dataclasses.field(
        default_factory=dict, metadata={"help": "Grader -> Threshold; '*' = all."}
    )
    baseline: str | None = dataclasses.field(default=None, metadata={"help": "Saved report to compare against."})
    max_regression: float | None = dataclasses.field(default=None, metadata={"help": "Default max drop vs baseline."})
    samples_per_item: int = dataclasses.field(default=1, metadata={"help": "Samples per row."})
    generation: dict[str, Any] = dataclasses.field(
        default_factory=dict, metadata={"help": "max_new_tokens, temperature, ..."}
    )
    prompt_field: str = dataclasses.field(default="prompt", metadata={"help": "Column holding the prompt."})
    id_field: str = dataclasses.field(default="id", metadata={"help": "Column holding a row id."})
    limit: int | None = dataclasses.field(default=None, metadata={"help": "Evaluate the first N rows only."})
    split: str | None = dataclasses.field(default=None, metadata={"help": "Only rows whose 'split' field equals this."})
    source: str | None = dataclasses.field(default=None, metadata={"help": "The suite file, if any."})
    gate: SuiteGate | None = dataclasses.field(
        default=None, metadata={"help": "How tune_until decides on this suite (grader, metric, tolerance, threshold)."}
    )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Suite:
        """Read a suite file; errors name the file and the bad key."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"suite file {str(path)!r} does not exist ({path.absolute()})")
        try:
            return cls.from_dict(read_config_file(path), base_dir=path.absolute().parent, source=str(path))
        except ConfigError as exc:
            raise exc.in_source(str(path)) from None

    @classmethod
    def from_dict(
        cls, data: Any, *, base_dir: str | os.PathLike[str] | None = None, source: str | None = None
    ) -> Suite:
        if not isinstance(data, Mapping):
            raise ConfigError(f"a suite must be a mapping, got {type(data).__name__}")
        base = base_dir  # every relative path below: relative to the suite file's folder (None: the cwd)
        for key in data:
            if key not in _SUITE_KEYS:
                raise ConfigError(f"unknown suite key {key!r}; known keys: {', '.join(_SUITE_KEYS)}", str(key))
        for key in ("data", "graders"):
            if key not in data:
                raise ConfigError(f"missing required key {key!r}", key)
        raw_data = data["data"]
        if isinstance(raw_data, str):
            raw_data = resolve_path(raw_data, base)
        elif not isinstance(raw_data, list):
            raise ConfigError(f"expected a JSONL path or a list of rows, got {type(raw_data).__name__}", "data")
        specs = _grader_specs(data["graders"], base, "graders")
        target = data.get("target", "default")
        if isinstance(target, str) and not target.startswith("openai:") and not _is_model_name(target):
            target = resolve_path(target, base)  # a model folder
        elif isinstance(target, Mapping) and isinstance(target.get("outputs"), str):
            target = {**target, "outputs": resolve_path(target["outputs"], base)}
        thresholds: dict[str, Threshold] = {}
        raw_thresholds = data.get("thresholds") or {}
        if not isinstance(raw_thresholds, Mapping):
            raise ConfigError(f"expected a mapping grader -> thresholds, got {raw_thresholds!r}", "thresholds")
        for name, value in raw_thresholds.items():
            thresholds[str(name)] = Threshold.from_dict(value, f"thresholds.{name}")
        generation = dict(data.get("generation") or {})
        for key in generation:
            if key not in _GENERATION_KEYS:
                raise ConfigError(
                    f"unknown generation setting {key!r}; known: {', '.join(_GENERATION_KEYS)}", f"generation.{key}"
                )
        baseline = data.get("baseline")
        if baseline is not None:
            if not isinstance(baseline, str):
                raise ConfigError(f"expected a path to a saved report, got {baseline!r}", "baseline")
            baseline = resolve_path(baseline, base)
        max_regression = data.get("max_regression")
        if max_regression is not None and (
            isinstance(max_regression, bool) or not isinstance(max_regression, (int, float))
        ):
            raise ConfigError(f"expected a number, got {max_regression!r}", "max_regression")
        name = data.get("name") or (Path(source).stem if source else "suite")
        return cls(
            name=str(name),
            data=raw_data,
            graders=specs,
            target=target,
            thresholds=thresholds,
            baseline=baseline,
            max_regression=float(max_regression) if max_regression is not None else None,
            samples_per_item=data.get("samples_per_item", 1),
            generation=generation,
            prompt_field=data.get("prompt_field", "prompt"),
            id_field=data.get("id_field", "id"),
            limit=data.get("limit"),
            split=data.get("split"),
            source=source,
            gate=SuiteGate.from_dict(data["gate"], base) if data.get("gate") is not None else None,
        )

    def threshold_for(self, grader: str) -> Threshold:
        base = self.thresholds.get("*", Threshold())
        if self.max_regression is not None and base.max_regression is None:
            base = dataclasses.replace(base, max_regression=self.max_regression)
        return base.merged(self.thresholds[grader]) if grader in self.thresholds else base

    def run(
        self,
        *,
        target: Any = None,
        out: str | os.PathLike[str] | None = None,
        progress: bool = False,
        trust_code: bool = False,
    ) -> SuiteResult:
        """Evaluate and check every threshold (``target`` overrides the suite's).

        Everything that can be checked without the model is checked first: the files exist, the
        graders build, every threshold names a grader, the baseline report loads.
        """
        try:
            graders = load_graders(self.graders, trust_code=trust_code)
            self._check_files(own_target=target is None)
            names = [g.name for g in graders]
            for key in self.thresholds:
                if key != "*" and key not in names:
                    raise ConfigError(
                        f"threshold for unknown grader {key!r}; graders: {', '.join(names)}", f"thresholds.{key}"
                    )
            if any(self.threshold_for(n).max_regression is not None for n in names) and self.baseline is None:
                raise ConfigError("max_regression needs a baseline report; add 'baseline: PATH'", "baseline")
        except ConfigError as exc:
            raise exc.in_source(self.source) if self.source else exc from None
        baseline = load_report(self.baseline) if self.baseline is not None else None
        rows: Any = self.data
        if self.split is not None:
            rows = [r for r in load_rows(self.data) if r.get("split") == self.split]
            if not rows:
                raise ConfigError(f"no row has split {self.split!r}", "split")
        report = evaluate(
            self.target if target is None else target,
            rows,
            graders,
            samples_per_item=self.samples_per_item,
            prompt_field=self.prompt_field,
            id_field=self.id_field,
            limit=self.limit,
            out=out,
            progress=progress,
            trust_code=trust_code,
            **self.generation,
        )
        comparison = None if baseline is None else compare(baseline, report, graders=names)
        checks: list[Check] = []
        for name in names:
            t = self.threshold_for(name)
            stats = report[name]
            minimums = (("min_score", t.min_score, stats.mean), ("min_pass_rate", t.min_pass_rate, stats.pass_rate))
            for check, required, actual in minimums:
                if required is None:
                    continue
                if actual is None:
                    why = f"nothing scored ({stats.unscored_count} unscored)"
                    checks.append(Check(name, check, f">= {required:.3f}", "-", False, why))
                else:
                    note = f"{stats.unscored_count} unscored" if stats.unscored_count else ""
                    ok = actual >= required - 1e-12
                    checks.append(
                        Check(name, check, f">= {required:.3f}", f"{actual:.3f}", ok, note, actual - required)
                    )
            if t.max_regression is not None and comparison is not None:
                d = comparison[name]
                if d.delta is None:
                    bar = f"drop <= {t.max_regression:.3f}"
                    checks.append(Check(name, "max_regression", bar, "-", False, "no items paired with the baseline"))
                else:
                    ci = f"95% CI [{d.ci_low:+.3f}, {d.ci_high:+.3f}], {d.verdict}"
                    checks.append(
                        Check(name, "max_regression", f"delta >= {-t.max_regression:+.3f}", f"{d.delta:+.3f}",
                              d.delta >= -t.max_regression - 1e-12, ci, d.delta + t.max_regression)
                    )
        return SuiteResult(self.name, checks, report, comparison)

    def _check_files(self, *, own_target: bool) -> None:
        """Raise a ConfigError naming the key and the resolved path of a file that is not there."""
        files: list[tuple[str, Any]] = [("data", self.data), ("baseline", self.baseline)]
        if own_target and isinstance(self.target, Mapping):
            files.append(("target.outputs", self.target.get("outputs")))
        if own_target and isinstance(self.target, str):
            if not self.target.startswith("openai:") and not _is_model_name(self.target):
                files.append(("target", self.target))
        where = "the suite file's folder" if self.source else "the current directory"
        for key, value in files:
            if isinstance(value, (str, os.PathLike)) and not Path(value).exists():
                raise ConfigError(f"{os.fspath(value)} does not exist (relative paths are read from {where})", key)


def run_suite(
    suite: Suite | str | os.PathLike[str] | Mapping[str, Any],
    *,
    target: Any = None,
    out: str | os.PathLike[str] | None = None,
    progress: bool = False,
    trust_code: bool = False,
) -> SuiteResult:
    """Run a suite (a :class:`Suite`, a suite file, or a dict) and return its :class:`SuiteResult`."""
    if isinstance(suite, Mapping):
        suite = Suite.from_dict(suite)
    elif not isinstance(suite, Suite):
        suite = Suite.load(suite)
    return suite.run(target=target, out=out, progress=progress, trust_code=trust_code)
