"""The audit's result: :class:`AuditReport` and its :class:`Finding` rows."""

from __future__ import annotations

import dataclasses
import html
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["AuditReport", "Finding"]

#: Characters of a completion kept in a report (padding probes are the output cap long).
SHOWN_CHARS = 2000
#: Probes explained one by one under the table (the table lists them all).
DETAILED = 8


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"... [{len(text) - limit} more characters]"


def _one_line(text: str, limit: int = 60) -> str:
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 4] + "...'"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


@dataclasses.dataclass
class Finding:
    """One exploit: a probe that passed on one row."""

    probe: str
    family: str
    item_id: Any
    index: int
    completion: str  # the first arrangement (cut to SHOWN_CHARS characters)
    score: float  # the lowest score over the arrangements
    why: str
    reason: str = ""  # the grader's own reason for the score
    arrangements: int = 1
    length: int = 0  # characters in the full completion

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class FamilyStats:
    """How one family fared: probes tried, on how many rows, how many of them counted."""

    family: str
    summary: str
    rows: int = 0
    probes: int = 0
    exploits: int = 0
    unscored: int = 0
    skipped: str = ""  # why the family did not run, when it did not


class AuditReport:
    """What :func:`rft.audit` found.

    ``ok`` is True when no probe counted as an exploit; ``exploits`` lists every finding (probe,
    item id, completion, score, why); ``probes_run`` counts (probe, row) pairs graded.
    ``families`` says what each family tried, ``notes`` what the audit could not do (rows without
    a usable reference, probes left unscored).

    >>> r = AuditReport(grader="g", rows=2, calibrated_rows=2, threshold=1.0, probes_run=10, findings=[])
    >>> r.ok, str(r).splitlines()[0]
    (True, "audit of grader 'g': no exploit found (10 probes on 2 rows)")
    """

    def __init__(
        self,
        *,
        grader: str,
        rows: int,
        calibrated_rows: int,
        threshold: float | None,
        probes_run: int,
        findings: Sequence[Finding],
        families: Sequence[FamilyStats] = (),
        notes: Sequence[str] = (),
        completions_graded: int = 0,
        seconds: float = 0.0,
    ):
        self.grader = grader
        self.rows = rows
        self.calibrated_rows = calibrated_rows
        self.threshold = threshold
        self.probes_run = probes_run
        self.exploits = list(findings)
        self.families = list(families)
        self.notes = list(notes)
        self.completions_graded = completions_graded
        self.seconds = seconds

    @property
    def ok(self) -> bool:
        """True when no exploit was found."""
        return not self.exploits

    @property
    def claims(self) -> str:
        """``"correctness"`` when some row's reference was calibrated, else ``"format"``."""
        return "correctness" if self.calibrated_rows else "format"

    def by_probe(self) -> dict[str, list[Finding]]:
        """Findings grouped by probe name, in report order."""
        out: dict[str, list[Finding]] = {}
        for f in self.exploits:
            out.setdefault(f.probe, []).append(f)
        return out

    # ------------------------------------------------------------------------------ renderings

    def _rows(self) -> tuple[list[str], list[list[str]]]:
        header = ["probe", "family", "rows", "score", "example item", "completion"]
        tried = {fs.family: fs.rows for fs in self.families}
        body = []
        for probe, found in self.by_probe().items():
            first = found[0]
            body.append(
                [
                    probe,
                    first.family,
                    f"{len(found)}/{tried.get(first.family, self.rows)}",
                    _fmt(min(f.score for f in found)),
                    str(first.item_id),
                    _one_line(first.completion),
                ]
            )
        return header, body

    def table(self) -> str:
        """The probes that scored, as a text table (empty string when none did)."""
        header, body = self._rows()
        if not body:
            return ""
        widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *body]]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def _title(self) -> str:
        where = f"{self.probes_run} probes on {self.rows} row{'' if self.rows == 1 else 's'}"
        if self.ok:
            return f"audit of grader {self.grader!r}: no exploit found ({where})"
        n = len(self.by_probe())
        return f"audit of grader {self.grader!r}: EXPLOITABLE, {n} probe{'' if n == 1 else 's'} scored ({where})"

    def _detail(self, limit: int = DETAILED) -> list[str]:
        lines = []
        grouped = self.by_probe()
        for probe, found in list(grouped.items())[:limit]:
            f = found[0]
            lines.append(f"{probe} (item {f.item_id}): {f.why}")
            lines.append(f"    completion: {_one_line(f.completion, 200)}")
            if f.reason:
                lines.append(f"    grader: {f.reason[:200]}")
        if len(grouped) > limit:
            more = len(grouped) - limit
            lines.append(f"... and {more} more probes in the table (to_dict() / --out holds every finding)")
        return lines

    def _coverage(self) -> list[str]:
        ran = [f"{fs.family} ({fs.probes})" for fs in self.families if fs.probes]
        idle: dict[str, list[str]] = {}
        for fs in self.families:
            if not fs.probes and fs.skipped:
                idle.setdefault(fs.skipped, []).append(fs.family)
        lines = [f"families run (probes): {', '.join(ran) or 'none'}"]
        if idle:
            lines.append("not run: " + "; ".join(f"{', '.join(names)} ({why})" for why, names in idle.items()))
        return lines

    def __str__(self) -> str:
        parts = [self._title()]
        if self.calibrated_rows < self.rows:
            parts.append(f"reference checked on {self.calibrated_rows} of {self.rows} rows (see notes)")
        if not self.ok:
            parts += ["", self.table(), "", *self._detail()]
        if self.families:
            parts += ["", *self._coverage()]
        if self.notes:
            parts += ["", "notes:", *(f"- {n}" for n in self.notes)]
        return "\n".join(parts)

    def __repr__(self) -> str:
        state = "ok" if self.ok else f"{len(self.exploits)} exploits"
        return f"<AuditReport {self.grader!r}: {state}, {self.probes_run} probes>"

    def to_markdown(self) -> str:
        """The report as Markdown: title, table of the probes that scored, details, notes."""
        parts = [f"### {self._title()}"]
        header, body = self._rows()
        if body:
            esc = [[c.replace("|", "\\|") for c in row] for row in [header, *body]]
            parts += ["", "| " + " | ".join(esc[0]) + " |", "|" + "---|" * len(header)]
            parts += ["| " + " | ".join(row) + " |" for row in esc[1:]]
            parts += [
                "",
                *(
                    f"- {line.strip()}" if not line.startswith("    ") else f"  {line.strip()}"
                    for line in self._detail()
                ),
            ]
        if self.notes:
            parts += ["", "**Notes**", "", *(f"- {n}" for n in self.notes)]
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.ok else "#cf222e"
        out = [f'<div><p style="color:{colour}"><b>{html.escape(self._title())}</b></p>']
        header, body = self._rows()
        if body:
            out.append(
                "<table><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr></thead><tbody>"
            )
            for probe, found in zip(body, self.by_probe().values(), strict=True):
                cells = "".join(
                    f"<td><code>{html.escape(c)}</code></td>" if i == len(probe) - 1 else f"<td>{html.escape(c)}</td>"
                    for i, c in enumerate(probe)
                )
                out.append(f'<tr title="{html.escape(found[0].why)}">{cells}</tr>')
            out.append("</tbody></table>")
        if self.notes:
            out.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in self.notes) + "</ul>")
        out.append("</div>")
        return "".join(out)

    def to_dict(self) -> dict[str, Any]:
        return {
            "grader": self.grader,
            "ok": self.ok,
            "claims": self.claims,
            "rows": self.rows,
            "calibrated_rows": self.calibrated_rows,
            "threshold": self.threshold,
            "probes_run": self.probes_run,
            "completions_graded": self.completions_graded,
            "seconds": round(self.seconds, 4),
            "exploits": [f.to_dict() for f in self.exploits],
            "families": [dataclasses.asdict(f) for f in self.families],
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuditReport:
        return cls(
            grader=data["grader"],
            rows=data["rows"],
            calibrated_rows=data["calibrated_rows"],
            threshold=data.get("threshold"),
            probes_run=data["probes_run"],
            findings=[Finding(**f) for f in data.get("exploits", [])],
            families=[FamilyStats(**f) for f in data.get("families", [])],
            notes=data.get("notes", []),
            completions_graded=data.get("completions_graded", 0),
            seconds=data.get("seconds", 0.0),
        )

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the report as JSON (atomically: a temporary file, then a rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(self.to_json() + "\n", encoding="utf-8")
        os.replace(tmp, path)
        return path
