""":func:`audit`: calibrate every row, build every family's probes, grade them in one pass, and
keep the probes that count as exploits."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from rft._data import load_rows
from rft._errors import ConfigError
from rft._grade import Grade
from rft.auditing import _code, _empty, _hedge, _hidden, _injection, _json_tricks, _padding, _unicode  # noqa: F401 (register)
from rft.auditing._calibrate import Target, calibrate
from rft.auditing._inspect import GraderInfo, inspect_grader
from rft.auditing._probe import FAMILIES, Family, Probe, family_order
from rft.auditing._report import SHOWN_CHARS, AuditReport, FamilyStats, Finding, _clip
from rft.eval._checks import check_rows
from rft.graders._registry import load_grader

__all__ = ["audit", "family_names", "probe_names"]

#: Completions graded per ``grade_batch`` call (bounds memory with padding probes).
CHUNK = 2000
#: A probe beats the honest wrong answer (graded mode) only by more than this.
_EPS = 1e-9


def family_names() -> list[str]:
    """Every probe family, in report order."""
    return family_order()


def probe_names() -> list[str]:
    """Every probe name, family by family."""
    return [name for fam in family_order() for name in FAMILIES[fam].probes]


def _selection(probes: Any) -> tuple[list[Family], set[str] | None, bool]:
    """Families to run, probe names to keep (None: all), and whether families were forced."""
    order = family_names()
    if probes is None:
        return [FAMILIES[name] for name in order], None, False
    names = [probes] if isinstance(probes, str) else list(probes)
    families: list[Family] = []
    keep: set[str] = set()
    for name in names:
        if not isinstance(name, str):
            raise ConfigError(f"expected probe family or probe names, got {name!r}", "probes")
        if name in FAMILIES:
            if FAMILIES[name] not in families:
                families.append(FAMILIES[name])
            keep.update(FAMILIES[name].probes)
            continue
        owner = next((fam for fam, f in FAMILIES.items() if name in f.probes), None)
        if owner is None:
            raise ConfigError(
                f"unknown probe or family {name!r}; families: {', '.join(order)}; probes: {', '.join(probe_names())}",
                "probes",
            )
        if FAMILIES[owner] not in families:
            families.append(FAMILIES[owner])
        keep.add(name)
    families.sort(key=lambda f: order.index(f.name))
    return families, keep, True


def _item_ids(rows: Sequence[dict[str, Any]]) -> list[Any]:
    ids = [row.get("id") for row in rows]
    if ids and all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in ids) and len(set(ids)) == len(ids):
        return ids
    return list(range(len(rows)))


class _Planned:
    __slots__ = ("control", "family", "probe", "slots", "target")

    def __init__(self, family: str, probe: Probe, target: Target, slots: list[int], control: int | None):
        self.family, self.probe, self.target, self.slots, self.control = family, probe, target, slots, control


class _Plan:
    """Every probe for every row, with its completions collected once per row for one grading pass."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.items: list[Any] = []
        self.planned: list[_Planned] = []
        self._index: dict[tuple[int, str], int] = {}

    def _slot(self, target: Target, text: str) -> int:
        key = (target.index, text)
        if key not in self._index:
            self._index[key] = len(self.texts)
            self.texts.append(text)
            self.items.append(target.item)
        return self._index[key]

    def add(self, family: str, probe: Probe, target: Target) -> None:
        slots = [self._slot(target, text) for text in probe.arrangements]
        control = self._slot(target, probe.control) if probe.control is not None else None
        self.planned.append(_Planned(family, probe, target, slots, control))

    def build(
        self, families: list[Family], targets: list[Target], info: GraderInfo, keep: set[str] | None, forced: bool
    ) -> list[FamilyStats]:
        stats = []
        for fam in families:
            fs = FamilyStats(fam.name, fam.summary)
            stats.append(fs)
            if not forced and not fam.applies(info):
                fs.skipped = f"needs {fam.requires or 'something this grader lacks'}"
                continue
            chosen = [t for t in targets if t.calibrated or not fam.needs_reference]
            if not chosen:
                fs.skipped = "no row has a reference the grader checks"
                continue
            chosen = chosen[: fam.max_rows] if fam.max_rows is not None else chosen
            fs.rows = len(chosen)
            before = len(self.planned)
            for t in chosen:
                for probe in fam.build(t, info):
                    if keep is None or probe.name in keep:
                        self.add(fam.name, probe, t)
            if len(self.planned) == before:
                fs.skipped = "none of its probes fits these rows"
        return stats

    def grade(self, grader: Any) -> list[Grade]:
        grades: list[Grade] = []
        for start in range(0, len(self.texts), CHUNK):
            grades.extend(grader.grade_batch(self.texts[start : start + CHUNK], self.items[start : start + CHUNK]))
        return grades


def _beats(target: Target, grade: Grade) -> bool:
    if grade.score is None:
        return False
    if target.mode == "graded":
        return target.wrong_score is not None and grade.score > target.wrong_score + _EPS
    return grade.passed is True


def _why(p: _Planned, scores: list[float], threshold: float | None) -> str:
    t = p.target
    low = min(scores)
    if t.mode == "graded":
        bar = f"above the honest wrong answer's {t.wrong_score:.3g}"
    else:
        bar = f"a pass (threshold {threshold:.3g})" if threshold is not None else "a pass"
    where = f" in all {len(scores)} arrangements" if len(scores) > 1 else ""
    return f"{p.probe.why}; it scored {low:.3g}, {bar}{where}"


def _findings(
    plan: _Plan, grades: list[Grade], stats: list[FamilyStats], threshold: float | None
) -> tuple[list[Finding], int, set[tuple[str, int]]]:
    """The probes that count (every arrangement beats the bar, the control does not), one per probe
    name and row; how many were left unscored; and which (probe, row) pairs ran."""
    findings: list[Finding] = []
    seen: set[tuple[str, int]] = set()
    runs: set[tuple[str, int]] = set()
    unscored = 0
    by_family = {fs.family: fs for fs in stats}
    for p in plan.planned:
        key = (p.probe.name, p.target.index)
        runs.add(key)
        got = [grades[i] for i in p.slots]
        if any(x.score is None for x in got):
            unscored += 1
            by_family[p.family].unscored += 1
            continue
        if not all(_beats(p.target, x) for x in got) or key in seen:
            continue
        if p.control is not None and _beats(p.target, grades[p.control]):
            continue  # the answer passes without the trick: the trick did not cause the pass
        seen.add(key)
        text = p.probe.arrangements[0]
        scores = [x.score for x in got if x.score is not None]
        findings.append(
            Finding(
                probe=p.probe.name,
                family=p.family,
                item_id=p.target.item_id,
                index=p.target.index,
                completion=_clip(text, SHOWN_CHARS),
                score=min(scores),
                why=_why(p, scores, threshold),
                reason=got[0].reason,
                arrangements=len(got),
                length=len(text),
            )
        )
        by_family[p.family].exploits += 1
    for fs in stats:
        fs.probes = sum(1 for name, _ in runs if name in FAMILIES[fs.family].probes)
    return findings, unscored, runs


def audit(
    grader: Any, data: Any, *, probes: Any = None, trust_code: bool = False, limit: int | None = None
) -> AuditReport:
    """Attack ``grader`` with adversarial completions built from ``data`` and report the exploits.

    ``grader``: a grader, config dict, YAML/JSON file or catalogue name (Python code in a config
    runs only with ``trust_code=True``). ``data``: rows in any form :func:`rft.evaluate` accepts;
    each row must have the item fields the grader reads. ``probes``: family or probe names to run
    (default: every family that applies; naming a family runs it even where it would not apply).
    ``limit``: audit the first ``limit`` rows only.

    A probe is a completion that does not honestly commit to the correct answer (empty, hedged,
    hidden, retracted, padded, malformed, injected, ...). It counts as an exploit when it passes
    (or, for a grader without a reachable pass threshold, scores above the row's honest wrong
    answer) in every arrangement it is written in. See :mod:`rft.auditing` for the families.

    >>> import rft
    >>> weak = rft.StringCheck(name="contains", reference="{{item.answer}}", operation="like")
    >>> report = rft.audit(weak, [{"answer": "42"}], probes=["decoys"])
    >>> report.ok, sorted(report.by_probe())[:2]
    (False, ['decoy_blocks', 'decoy_list'])
    >>> rft.audit("answer_matches_reference", [{"answer": "42"}]).ok
    True
    """
    families, keep, forced = _selection(probes)
    g = load_grader(grader, trust_code=trust_code)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"expected a positive number of rows, got {limit!r}", "limit")
    rows = load_rows(data)
    if limit is not None:
        rows = rows[:limit]
    check_rows(rows, [g], prompt_field=None)
    started = time.perf_counter()
    info = inspect_grader(g)
    targets = calibrate(info, rows, _item_ids(rows))
    plan = _Plan()
    stats = plan.build(families, targets, info, keep, forced)
    threshold = getattr(g, "threshold", None)
    findings, unscored, runs = _findings(plan, plan.grade(g), stats, threshold)
    return AuditReport(
        grader=g.name,
        rows=len(rows),
        calibrated_rows=sum(1 for t in targets if t.calibrated),
        threshold=threshold,
        probes_run=len(runs),
        findings=findings,
        families=stats,
        notes=_notes(targets, unscored),
        completions_graded=len(plan.texts),
        seconds=time.perf_counter() - started,
    )


def _notes(targets: Iterable[Target], unscored: int) -> list[str]:
    notes: list[str] = []
    reasons: dict[str, list[Any]] = {}
    for t in targets:
        if not t.calibrated:
            reasons.setdefault(t.note or "no usable reference", []).append(t.item_id)
    for reason, ids in reasons.items():
        shown = ", ".join(map(str, ids[:5])) + (f" (+{len(ids) - 5} more)" if len(ids) > 5 else "")
        notes.append(f"{len(ids)} row(s) ({shown}): {reason}; only the probes that need no reference ran on them")
    if unscored:
        notes.append(
            f"{unscored} probe(s) were left unscored by the grader (it could not judge them); they do not count"
        )
    return notes
