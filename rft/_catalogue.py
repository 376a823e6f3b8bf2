"""The catalogue of ready-made graders: YAML/JSON files loadable by name."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["catalogue_dirs", "catalogue_entry", "catalogue_path", "list_catalogue"]

_SUFFIXES = (".yaml", ".yml", ".json")


def catalogue_dirs() -> list[Path]:
    """Where catalogue graders are looked up, first match wins.

    ``RFT_GRADERS_PATH`` (``os.pathsep``-separated folders), then the catalogue shipped inside the
    wheel (``rft/_catalogue_files``), then ``graders/`` beside the package in a source checkout.
    """
    dirs = [Path(p) for p in os.environ.get("RFT_GRADERS_PATH", "").split(os.pathsep) if p]
    here = Path(__file__).resolve().parent
    dirs += [here / "_catalogue_files", here.parent / "graders"]
    return [d for d in dirs if d.is_dir()]


def catalogue_path(name: str) -> Path | None:
    """The file of catalogue grader ``name``, or None."""
    for folder in catalogue_dirs():
        for suffix in _SUFFIXES:
            candidate = folder / f"{name}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def list_catalogue() -> list[str]:
    """Names of every catalogue grader, sorted."""
    names: set[str] = set()
    for folder in catalogue_dirs():
        names.update(p.stem for p in folder.iterdir() if p.suffix in _SUFFIXES and not p.name.startswith("_"))
    return sorted(names)


def catalogue_entry(name: str) -> dict[str, Any]:
    """The raw catalogue file of ``name``: the config plus ``description`` and ``examples``."""
    from rft._errors import ConfigError
    from rft.graders._registry import read_config_file

    path = catalogue_path(name)
    if path is None:
        raise ConfigError(f"no catalogue grader named {name!r}; catalogue: {', '.join(list_catalogue())}")
    data = read_config_file(path)
    if not isinstance(data, dict):
        raise ConfigError("a catalogue file must hold a mapping", source=str(path))
    return data
