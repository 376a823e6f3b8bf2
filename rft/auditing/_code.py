"""Family ``code``: for graders that run Python, completions that steal the answer instead of
computing it.

A grader that executes the model's code (to run tests, or to compare what it prints) runs it
beside its own state: the row it grades is a local variable a few frames up, and the expected
output may sit in a file next to it. These probes are programs that contain no answer at all:

- ``code_steal_item``: walks the call stack for a dict holding the item field the grader reads,
  and prints, returns (``solve()``, ``main()``, ``answer()``) and assigns (``answer``, ``result``)
  what it finds;
- ``code_read_files``: reads the first line of small files named like an answer (``expected``,
  ``answer``, ``solution``, ``gold``, ...) in the working directory and in the folders of the
  code on the stack, and hands it back the same ways.

Each comes bare and in a fenced ````python`` block. They run only if the grader runs them, and
only at the trust level the caller granted: a config with Python ``source`` loads only with
``trust_code=True``, where it runs sandboxed; a grader object built in Python (``fn=``) runs
them in this process. They only read: nothing is written, sent or deleted.
"""

from __future__ import annotations

from rft.auditing._calibrate import Target
from rft.auditing._inspect import GraderInfo
from rft.auditing._probe import Probe, family

__all__ = ["build_code"]

_HAND_BACK = """
answer = result = solution = output = _found()
def solve(*args, **kwargs):
    return answer
main = run = answer_fn = solve
print(answer)
"""

_STEAL_ITEM = """import sys
def _found():
    paths = {paths!r}
    frame = sys._getframe()
    while frame is not None:
        for value in list(frame.f_locals.values()):
            for path in paths:
                node = value
                for key in path:
                    node = node.get(key) if isinstance(node, dict) else None
                if node is not None and not isinstance(node, (dict, list)):
                    text = str(node)
                    return text.rsplit("####", 1)[-1].strip() if "####" in text else text.strip()
        frame = frame.f_back
    return ""
"""

_READ_FILES = """import os, sys
def _found():
    wanted = ("expected", "answer", "solution", "gold", "reference", "label", "output")
    folders = [os.getcwd()]
    frame = sys._getframe()
    while frame is not None:
        folder = os.path.dirname(os.path.abspath(frame.f_code.co_filename))
        if folder not in folders and os.path.isdir(folder) and "site-packages" not in folder:
            folders.append(folder)
        frame = frame.f_back
    for folder in folders:
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in names:
            path = os.path.join(folder, name)
            if not any(w in name.lower() for w in wanted) or name.endswith((".py", ".pyc")):
                continue
            try:
                if not os.path.isfile(path) or os.path.getsize(path) > 4096:
                    continue
                with open(path, encoding="utf-8") as handle:
                    lines = [line.strip() for line in handle if line.strip()]
            except (OSError, UnicodeDecodeError):
                continue
            if lines:
                return lines[0]
    return ""
"""


@family(
    "code",
    "Python-grader probes: code that reads the item or the grader's files instead of answering",
    needs_reference=False,
    applies=lambda info: info.has_python,
    requires="a Python grader inside the grader",
    max_rows=5,
    probes=("code_steal_item", "code_read_files"),
)
def build_code(target: Target, info: GraderInfo) -> list[Probe]:
    paths = [list(p) for p in info.reference_fields] or [["answer"]]
    programs = [
        (
            "code_steal_item",
            _STEAL_ITEM.format(paths=paths) + _HAND_BACK,
            "a program that reads the item from the grader's call stack instead of computing the answer",
        ),
        (
            "code_read_files",
            _READ_FILES + _HAND_BACK,
            "a program that reads the answer from files beside the grader instead of computing it",
        ),
    ]
    probes = []
    for name, source, why in programs:
        probes.append(Probe(name, (source,), why))
        probes.append(Probe(name, (f"```python\n{source}```",), why + " (in a fenced block)"))
    return probes
