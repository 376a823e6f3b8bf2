"""The suites a tuning loop reads: an :class:`rft.eval.Suite` and its gate block, resolved once.

``tune_until`` takes its target and guards as an :class:`rft.eval.Suite` (with an optional
``gate`` block: deciding grader, metric, tolerance, threshold, replay data), a suite file path,
or a dict in the suite file format. The flat dict of earlier versions (``metric``, ``tolerance``,
``threshold``, ``grader``, ``max_new_tokens``, ``temperature`` at top level) is read too: those
keys move into ``gate`` and ``generation``.

>>> from rft import StringCheck
>>> s = as_tune_suite({"name": "fmt", "data": [{"prompt": "hi", "answer": "x"}],
...                    "graders": [StringCheck(name="m", reference="x")], "tolerance": 0.1}, "guard1")
>>> s.name, s.grader, s.metric, s.tolerance
('fmt', 'm', 'pass_rate', 0.1)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rft._data import load_rows
from rft._errors import ConfigError
from rft.eval._compare import compare
from rft.eval._evaluate import evaluate, load_graders
from rft.eval._fingerprint import grader_fingerprint
from rft.eval._suite import GATE_KEYS, Suite

__all__ = ["METRICS", "TuneSuite", "as_tune_suite", "gate_comparison"]

METRICS = ("pass_rate", "mean")
_DEFAULT_TOLERANCE = 0.05
_LEGACY_GENERATION = ("max_new_tokens", "temperature", "top_p", "seed", "batch_size")
_DEFAULT_GENERATION = {"max_new_tokens": 64, "temperature": 0.0}


@dataclasses.dataclass
class TuneSuite:
    """A suite with its graders built and its gate settled (what the loop evaluates and decides on)."""

    suite: Any = dataclasses.field(metadata={"help": "The rft.eval.Suite."})
    graders: list[Any] = dataclasses.field(metadata={"help": "The suite's graders, built."})
    grader: str = dataclasses.field(metadata={"help": "The grader whose metric decides."})
    metric: str = dataclasses.field(metadata={"help": "pass_rate or mean."})
    tolerance: float = dataclasses.field(metadata={"help": "Guards: largest drop the non-inferiority bound may allow."})
    threshold: float | None = dataclasses.field(metadata={"help": "Target: stop once the metric reaches this."})
    replay_data: Any = dataclasses.field(
        metadata={"help": "Rows a replay remedy trains on (default: the suite's own)."}
    )
    replay_graders: list[Any] | None = dataclasses.field(
        default=None, metadata={"help": "Graders rewarding replayed rows, built (default: the suite's graders)."}
    )

    @property
    def rewards(self) -> list[Any]:
        """The graders that reward this suite's rows when they are replayed in training."""
        return self.replay_graders if self.replay_graders is not None else self.graders

    @property
    def name(self) -> str:
        return str(self.suite.name)

    def rows(self) -> list[dict[str, Any]]:
        """The rows evaluated: the suite's data, its split, its first ``limit`` rows."""
        rows = load_rows(self.suite.data)
        if self.suite.split is not None:
            rows = [r for r in rows if r.get("split") == self.suite.split]
            if not rows:
                raise ConfigError(f"no row has split {self.suite.split!r}", f"{self.name}.split")
        return rows[: self.suite.limit] if self.suite.limit else rows

    def replay_rows(self) -> tuple[list[dict[str, Any]], bool]:
        """Rows for a replay remedy, and whether they are the evaluated rows themselves."""
        own = self.replay_data is None
        rows = self.rows() if own else load_rows(self.replay_data)
        field = self.suite.prompt_field
        if field != "prompt":
            rows = [{**r, "prompt": r.get(field)} for r in rows]
        return rows, own

    def generation(self) -> dict[str, Any]:
        return {**_DEFAULT_GENERATION, **dict(self.suite.generation or {})}

    def evaluate(self, pair: Any, out: Path, *, progress: bool = False) -> Any:
        """Evaluate ``(model, tokenizer)`` on the suite; grades stream to ``out`` (resumable)."""
        return evaluate(
            pair,
            self.rows(),
            self.graders,
            samples_per_item=self.suite.samples_per_item,
            prompt_field=self.suite.prompt_field,
            id_field=self.suite.id_field,
            out=out,
            progress=progress,
            **self.generation(),
        )

    def fingerprint(self) -> str:
        """A digest of what decides: rows, graders, deciding grader, metric, generation."""

        def config(g: Any) -> Any:
            # The config plus the name and code hashes of callables inside (notebook functions too):
            # an edited grader function changes the digest, so old results are never reused.
            return grader_fingerprint(g) if hasattr(g, "to_config") else repr(g)

        parts = [
            self.rows(),
            [config(g) for g in self.graders],
            self.grader,
            self.metric,
            self.generation(),
            self.suite.samples_per_item,
        ]
        if self.replay_graders is not None:  # only when set: digests of earlier runs stay as they were
            parts.append([config(g) for g in self.replay_graders])
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=repr).encode()).hexdigest()[:16]


def _is_suite_file(spec: Any) -> bool:
    return isinstance(spec, os.PathLike) or (isinstance(spec, str) and spec.endswith((".yaml", ".yml", ".json")))


def _from_mapping(spec: Mapping[str, Any], default_name: str) -> tuple[Any, dict[str, Any]]:
    """An rft.eval.Suite from a dict in the suite format, or in the flat format of earlier versions."""
    values = dict(spec)
    values.setdefault("name", default_name)
    gate = dict(values.pop("gate", None) or {})
    for key in GATE_KEYS:
        if key in values:
            gate.setdefault(key, values.pop(key))
    generation = dict(values.get("generation") or {})
    for key in _LEGACY_GENERATION:
        if key in values:
            generation.setdefault(key, values.pop(key))
    if generation:
        values["generation"] = generation
    graders = values.get("graders")
    if graders is not None and not isinstance(graders, (str, Mapping, list, tuple)):
        values["graders"] = [graders]  # one grader object
    elif isinstance(graders, tuple):
        values["graders"] = list(graders)
    suite = Suite.from_dict(values)
    return suite, gate


def as_tune_suite(spec: Any, default_name: str, *, trust_code: bool = False) -> TuneSuite:
    """Resolve a suite for the loop: an ``rft.eval.Suite``, a suite file path, or a dict."""
    if isinstance(spec, TuneSuite):
        return spec
    gate: dict[str, Any] = {}
    if isinstance(spec, Suite):
        suite = spec
    elif _is_suite_file(spec):
        suite = Suite.load(spec)
    elif isinstance(spec, Mapping):
        try:
            suite, gate = _from_mapping(spec, default_name)
        except ConfigError as exc:
            raise exc.at(str(spec.get("name") or default_name)) from None
    else:
        raise ConfigError(
            f"cannot use a {type(spec).__name__} as a suite; pass an rft.eval.Suite, a suite file or a dict "
            "with data and graders",
            default_name,
        )
    block = getattr(suite, "gate", None)
    if block is not None:
        settled = {k: getattr(block, k, None) for k in GATE_KEYS}
        gate = {**{k: v for k, v in settled.items() if v is not None}, **gate}
    return _settle(suite, gate, load_graders(suite.graders, trust_code=trust_code), trust_code=trust_code)


def _settle(suite: Any, gate: Mapping[str, Any], graders: list[Any], *, trust_code: bool = False) -> TuneSuite:
    where = suite.name
    unknown = sorted(set(gate) - set(GATE_KEYS))
    if unknown:
        raise ConfigError(f"unknown gate keys {unknown}; known: {list(GATE_KEYS)}", f"{where}.gate")
    names = [g.name for g in graders]
    grader = gate.get("grader") or names[0]
    if grader not in names:
        raise ConfigError(f"grader {grader!r} is not one of the suite's graders {names}", f"{where}.gate.grader")
    metric = gate.get("metric") or "pass_rate"
    if metric not in METRICS:
        raise ConfigError(f"unknown metric {metric!r}; use pass_rate or mean", f"{where}.gate.metric")
    tolerance = gate.get("tolerance", _DEFAULT_TOLERANCE)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not 0 <= tolerance <= 1:
        raise ConfigError(f"expected a tolerance between 0 and 1, got {tolerance!r}", f"{where}.gate.tolerance")
    threshold = gate.get("threshold")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))):
        raise ConfigError(f"expected a number, got {threshold!r}", f"{where}.gate.threshold")
    replay_graders = gate.get("replay_graders")
    if replay_graders is not None:
        try:
            replay_graders = load_graders(replay_graders, trust_code=trust_code)
        except ConfigError as exc:
            raise exc.at(f"{where}.gate.replay_graders") from None
        if not replay_graders:
            raise ConfigError("expected at least one grader", f"{where}.gate.replay_graders")
    return TuneSuite(
        suite, graders, grader, metric, float(tolerance), threshold, gate.get("replay_data"), replay_graders
    )


def gate_comparison(suite: TuneSuite, before: Mapping[str, Any], after: Mapping[str, Any], level: float) -> Any:
    """The paired comparison of two evaluations of ``suite`` on its deciding grader and metric.

    Both gates of a round and the report call this one function, with compare's fixed bootstrap
    seed, so the same two evaluations always give the same interval wherever it is shown.
    """
    return compare(before["report"], after["report"], graders=[suite.grader], metric=suite.metric, level=level)[
        suite.grader
    ]
