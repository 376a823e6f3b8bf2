"""Every ``>>>`` example in rft's docstrings runs and prints what it says."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import rft

# Modules whose examples need something the fast suite does not have.
_SKIP = {"rft.__main__", "rft.demo"}


def _modules() -> list[str]:
    names = ["rft"]
    for info in pkgutil.walk_packages(rft.__path__, prefix="rft."):
        if info.name not in _SKIP and not info.name.startswith("rft.demo"):
            names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name, globs={"__name__": name, **vars(module)}):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} doctest example(s) failed in {name} (see the output above)"
