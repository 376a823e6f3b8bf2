"""``multi``: OpenAI's composite grader, a formula over the scores of named sub-graders."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from rft._errors import ConfigError
from rft._grade import Grade
from rft._template import Batch
from rft.graders._base import Grader, Result, _rebuild
from rft.graders._composite import Composite, build_child, sanitize
from rft.graders._formula import Formula, FormulaError
from rft.graders._registry import register_grader

__all__ = ["Multi"]

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _range_field(value: Any) -> tuple[float, float]:
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) for v in value)
        and value[0] < value[1]
    ):
        return float(value[0]), float(value[1])
    raise ConfigError(f"expected [low, high] with finite numbers and low < high, got {value!r}", "range")


def _fmt(value: float | None) -> str:
    return "unscored" if value is None else f"{value:.4g}"


# ------------------------------------------------------------------------------------------------


@register_grader("multi")
@dataclasses.dataclass(kw_only=True, eq=True, repr=False)
class Multi(Composite):
    """OpenAI's ``multi`` grader: ``calculate_output`` combines the sub-graders' scores.

    ``graders`` maps a key (a name usable in the formula) to a grader or a grader config. The
    formula (:mod:`rft.graders._formula`) knows ``+ - * / ^``, parentheses and ``min max abs floor ceil
    exp sqrt log``. Every sub-grader grades the same sample; the composite's Grade carries each
    sub-grade in ``details["sub_grades"]`` and each sub-score in ``details["sub_rewards"]``
    (OpenAI's name).

    Unscored stays unscored: if a sub-grader used in the formula cannot judge a row, the
    composite is unscored for that row, with the sub-grader's reason and error kind. A formula
    that is undefined for a row (division by zero, ``log(0)``, overflow) leaves the row unscored
    (``error="formula_error"``). A score outside ``range`` is unscored (``invalid_result``).

    Sub-graders the formula does not use are allowed: they still run when grading for a report
    (their grades are recorded, which is handy to watch a signal that is not rewarded) but are
    skipped in TRL's reward path, and their unscored rows do not affect the composite.

    ``pass_threshold`` defaults to the top of ``range``: a sample passes when it is perfect.

    >>> import rft
    >>> g = rft.Multi(name="contact", calculate_output="(name + email) / 2", graders={
    ...     "name": rft.StringCheck(input="{{sample.output_json.name}}", reference="{{item.name}}", operation="ilike"),
    ...     "email": {"type": "string_check", "name": "e", "input": "{{sample.output_json.email}}",
    ...               "reference": "{{item.email}}", "operation": "eq"}})
    >>> grade = g.grade('{"name": "Ada Lovelace", "email": "ada@x.org"}', {"name": "ada", "email": "a@x.org"})
    >>> grade.score, grade.details["sub_rewards"]
    (0.5, {'name': 1.0, 'email': 0.0})
    >>> rft.load_grader(g.to_config()) == g
    True
    """

    child_fields: ClassVar[Mapping[str, str]] = {"graders": "dict"}

    graders: dict[str, Any] = dataclasses.field(
        metadata={"help": "Sub-graders by key; the keys are the names calculate_output uses."}
    )
    calculate_output: str = dataclasses.field(
        metadata={"help": "Formula over the keys: + - * / ^ ( ), min max abs floor ceil exp sqrt log."}
    )
    range: tuple[float, float] = dataclasses.field(
        default=(0.0, 1.0), metadata={"help": "[low, high] the formula's result must fall in; outside is unscored."}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.graders, Mapping) or not self.graders:
            raise ConfigError(
                f"expected a non-empty mapping of key -> grader, got {self.graders!r}", "graders"
            )
        built: dict[str, Grader] = {}
        for key, value in self.graders.items():
            if not isinstance(key, str) or not _KEY.match(key):
                suggestion = sanitize(str(key))
                raise ConfigError(
                    f"key {key!r} cannot be named in calculate_output; keys are letters, digits and _ and do "
                    f"not start with a digit (e.g. {suggestion!r})",
                    "graders",
                )
            built[key] = build_child(value, f"graders.{key}")
        self.graders = built
        self._formula = Formula(self.calculate_output, names=built, field="calculate_output")
        self.range = _range_field(self.range)
        self.score_range = self.range  # type: ignore[misc]  # per instance: the base class range-checks against it
        self._used = self._formula.variables

    @property
    def threshold(self) -> float:
        return self.range[1] if self.pass_threshold is None else self.pass_threshold

    @property
    def formula(self) -> Formula:
        """The compiled ``calculate_output``."""
        return self._formula

    def children(self) -> dict[str, Grader]:
        return dict(self.graders)

    # ----------------------------------------------------------------------------------------

    def _keys(self, rich: bool) -> Sequence[str]:
        # Reports see every sub-grader; the reward path runs only those the formula uses.
        return tuple(self.graders) if rich else self._used

    async def _aevaluate(self, batch: Batch, rich: bool) -> Sequence[Result]:
        live, part = self._live(batch)
        keys = self._keys(rich)
        outs = await self._gather(self._child(self.graders[key], part.view(), rich) for key in keys)
        return self._combine(batch.n, live, dict(zip(keys, outs)), rich)

    def _combine(self, n: int, live: list[int], results: dict[str, list[Any]], rich: bool) -> list[Result]:
        formula = self._formula
        out: list[Result] = [None] * n
        for j, i in enumerate(live):
            if rich:
                subs: dict[str, Grade] = {key: grades[j] for key, grades in results.items()}
                scores = {key: g.score for key, g in subs.items()}
            else:
                scores = {key: values[j] for key, values in results.items()}
            missing = next((key for key in self._used if scores[key] is None), None)
            if missing is not None:
                if rich:
                    sub = subs[missing]
                    out[i] = Grade.unscored_because(
                        f"sub-grader {missing!r} is unscored: {sub.reason}",
                        error=sub.error or "unscored",
                        sub_grader=missing,
                        sub_grades=subs,
                        sub_rewards=scores,
                    )
                continue
            try:
                value = formula.evaluate(scores)  # type: ignore[arg-type]
            except FormulaError as exc:
                if rich:
                    out[i] = Grade.unscored_because(
                        f"calculate_output {formula.source!r} is undefined here: {exc}",
                        error="formula_error",
                        sub_grades=subs,
                        sub_rewards=scores,
                    )
                continue
            if not rich:
                out[i] = value
                continue
            inputs = ", ".join(f"{key} = {_fmt(scores[key])}" for key in self._used)
            out[i] = Grade(
                value,
                reason=f"{formula.source} = {_fmt(value)}" + (f" with {inputs}" if inputs else ""),
                details={"sub_grades": subs, "sub_rewards": scores},
            )
        return out

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep the mark that lets `multi + grader` extend this formula instead of nesting it.
        rebuild, (cls, values) = super().__reduce__()
        marker = getattr(self, "_combined_name", None)
        if marker is None:
            return rebuild, (cls, values)
        return _rebuild_marked, (cls, values, marker)


def _rebuild_marked(cls: type[Grader], values: dict[str, Any], marker: str) -> Grader:
    grader = _rebuild(cls, values)
    grader._combined_name = marker  # type: ignore[attr-defined]
    return grader
