"""`rft serve-graders` as a real process on loopback, and the official openai SDK as its client."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


class Served:
    """A running ``rft serve-graders`` process: its base URL and a way to read what it logged."""

    def __init__(self, proc: subprocess.Popen, url: str, stderr):
        self.proc = proc
        self.url = url
        self._stderr = stderr  # a file, not a pipe: a chatty server must never block on a full pipe

    def client(self, api_key: str = "unused", **kwargs):
        import openai

        return openai.OpenAI(base_url=self.url, api_key=api_key, **kwargs)

    def stats(self, api_key: str = "unused") -> dict:
        request = urllib.request.Request(f"{self.url}/rft/stats", headers={"Authorization": f"Bearer {api_key}"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            return json.loads(resp.read())

    def stop(self, timeout: float = 60) -> tuple[int, str]:
        """SIGTERM, wait; the exit code and what it wrote to stderr."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._stderr.seek(0)
        return self.proc.returncode, self._stderr.read()


@contextmanager
def serve_graders(*args: str, env: dict[str, str] | None = None) -> Iterator[Served]:
    """Start ``rft serve-graders --port 0 ARGS``; stop it (SIGTERM) on the way out."""
    with tempfile.TemporaryFile("w+") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rft", "serve-graders", "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=stderr, text=True, start_new_session=True,
            env={**os.environ, **(env or {})},
        )
        served = Served(proc, "", stderr)
        try:
            line = proc.stdout.readline()
            if "listening on" not in line:
                code, err = served.stop(5)
                raise AssertionError(f"server did not start (exit {code}): {line!r}\n{err}")
            served.url = line.split("listening on", 1)[1].strip()
            yield served
        finally:
            served.stop()


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> str:
    """A judge-cache folder of the module's own: replies cached by other tests never leak in."""
    return str(tmp_path_factory.mktemp("rft-cache"))


@pytest.fixture(scope="session")
def start_server():
    """:func:`serve_graders`, for module fixtures (test files cannot import this conftest)."""
    return serve_graders


@pytest.fixture
def proof():
    """``(folder, source)``: python grader source that leaves files in ``folder`` if it is ever
    loaded (``loaded``) or run (``graded``). The folder is world-writable: the sandbox worker runs
    as 'nobody' when the server runs as root."""
    folder = tempfile.mkdtemp(prefix="rft-proof-", dir="/tmp")
    os.chmod(folder, 0o777)
    source = (f"import pathlib\npathlib.Path({folder!r}, 'loaded').write_text('the module ran')\n"
              f"def grade(sample, item):\n    pathlib.Path({folder!r}, 'graded').write_text('grade ran')\n"
              "    return 1.0\n")
    yield folder, source
    shutil.rmtree(folder, ignore_errors=True)
