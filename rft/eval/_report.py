"""`Report`: what an evaluation found, per grader and per item.

Per grader (:class:`GraderStats`): mean score and pass rate (at the grader's threshold), each with
a standard error clustered by item and a 95% interval that stays inside [0, 1] (Wilson score
interval with a design-effect-adjusted n, see :func:`rft.eval._stats.clustered_interval`),
unbiased pass@k and mean@k when there are several samples per item, unscored counts by reason
(never folded into the mean), and, for judge graders, latency, tokens and cache hits read from
``Grade.details``. Composite graders also get a row per sub-grader (``name.key``).

:meth:`Report.item_values` gives one number per item (mean score or pass fraction), the input of
the paired comparison in :func:`rft.eval.compare`.

Per item (:class:`ItemResult`): the prompt, every output, every Grade, generation metadata.

>>> from rft import Grade
>>> items = [ItemResult(0, 0, "2+2?", ["4"], {"correct": [Grade(1.0, True)]}),
...          ItemResult(1, 1, "3+3?", ["5"], {"correct": [Grade(0.0, False)]})]
>>> report = Report(items, ["correct"])
>>> report["correct"].mean, report["correct"].pass_rate
(0.5, 0.5)
>>> Report.from_dict(report.to_dict()).to_dict() == report.to_dict()
True
"""

from __future__ import annotations

import dataclasses
import html
import itertools
import json
import math
import os
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from rft._errors import ConfigError, DataError
from rft._grade import Grade
from rft.eval._stats import clustered_interval, pass_at_k_values
from rft.eval._store import REPORT, atomic_write_text

__all__ = ["METRICS", "GraderStats", "ItemResult", "Report", "load_report"]

REPORT_FORMAT = "rft.report/1"

#: The per-item metrics a report can give (:meth:`Report.item_values`).
METRICS = ("mean", "pass_rate")


@dataclasses.dataclass
class ItemResult:
    """One dataset row: its prompt, its outputs, and each grader's Grade per output."""

    index: int = dataclasses.field(metadata={"help": "Row index in the data."})
    id: Any = dataclasses.field(metadata={"help": "The row's id field, else its index."})
    prompt: Any = dataclasses.field(metadata={"help": "The prompt (string or chat messages); None if precomputed."})
    outputs: list[str] = dataclasses.field(metadata={"help": "One output per sample."})
    grades: dict[str, list[Grade]] = dataclasses.field(metadata={"help": "Grader name -> one Grade per sample."})
    gen: list[dict[str, Any]] = dataclasses.field(
        default_factory=list, metadata={"help": "Generation metadata per sample (tokens, ...)."}
    )

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "id": self.id,
            "prompt": self.prompt,
            "outputs": list(self.outputs),
            "grades": {name: [g.to_dict() for g in gs] for name, gs in self.grades.items()},
            "gen": list(self.gen),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ItemResult:
        return cls(
            index=data["index"],
            id=data.get("id"),
            prompt=data.get("prompt"),
            outputs=list(data.get("outputs", [])),
            grades={name: [Grade.from_dict(g) for g in gs] for name, gs in data.get("grades", {}).items()},
            gen=list(data.get("gen", [])),
        )


@dataclasses.dataclass
class GraderStats:
    """Aggregate of one grader over a report. Means and rates use scored samples only."""

    grader: str = dataclasses.field(metadata={"help": "Grader name (sub-graders as parent.key)."})
    n: int = dataclasses.field(metadata={"help": "Samples graded (items x samples)."})
    scored: int = dataclasses.field(metadata={"help": "Samples the grader could judge."})
    mean: float | None = dataclasses.field(metadata={"help": "Mean score over scored samples."})
    se: float | None = dataclasses.field(metadata={"help": "Standard error of the mean, clustered by item."})
    ci_low: float | None = dataclasses.field(
        metadata={
            "help": "Lower end of the mean's 95% interval "
            "(Wilson, clustered by item; normal for scores outside [0, 1])."
        }
    )
    ci_high: float | None = dataclasses.field(metadata={"help": "Upper end of the mean's 95% interval."})
    passed: int = dataclasses.field(metadata={"help": "Scored samples at or above the pass threshold."})
    pass_rate: float | None = dataclasses.field(metadata={"help": "passed / scored."})
    unscored: dict[str, int] = dataclasses.field(metadata={"help": "Unscored samples by error kind."})
    pass_at_k: dict[int, float | None] = dataclasses.field(
        default_factory=dict, metadata={"help": "Unbiased pass@k over items, for k = 1, 2, 4, ..., samples."}
    )
    mean_at_k: float | None = dataclasses.field(
        default=None, metadata={"help": "Mean over items of each item's mean over its k samples (k > 1 only)."}
    )
    judge: dict[str, Any] | None = dataclasses.field(
        default=None, metadata={"help": "Judge calls: latency, tokens, cache hits (judge graders only)."}
    )
    depth: int = dataclasses.field(default=0, metadata={"help": "0 for a grader, 1+ for sub-graders."})
    items: int = dataclasses.field(default=0, metadata={"help": "Items with at least one scored sample."})
    pass_rate_se: float | None = dataclasses.field(
        default=None, metadata={"help": "Standard error of the pass rate, clustered by item."}
    )
    pass_rate_ci_low: float | None = dataclasses.field(
        default=None, metadata={"help": "Lower end of the pass rate's 95% Wilson interval (clustered by item)."}
    )
    pass_rate_ci_high: float | None = dataclasses.field(
        default=None, metadata={"help": "Upper end of the pass rate's 95% Wilson interval."}
    )

    @property
    def unscored_count(self) -> int:
        return sum(self.unscored.values())

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["pass_at_k"] = {str(k): v for k, v in self.pass_at_k.items()}
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GraderStats:
        data = dict(data)
        data["pass_at_k"] = {int(k): v for k, v in (data.get("pass_at_k") or {}).items()}
        return cls(**data)


def _sub_grades(grades: Sequence[Grade], path: str) -> list[Grade]:
    """The grades of the sub-grader at ``path`` (``key`` or ``key.subkey``) under ``grades``."""
    out: list[Grade] = []
    for g in grades:
        subs = g.details.get("sub_grades")
        if not isinstance(subs, Mapping):
            continue
        for key, sub in subs.items():
            if not isinstance(sub, Grade):
                continue
            if key == path:
                out.append(sub)
            elif path.startswith(f"{key}."):
                out.extend(_sub_grades([sub], path[len(key) + 1 :]))
    return out


def _grades_of(item: ItemResult, grader: str) -> list[Grade]:
    """One item's grades of ``grader``: a grader's own, or a sub-grader's (``parent.key``)."""
    if grader in item.grades:
        return item.grades[grader]
    for name, grades in item.grades.items():
        if grader.startswith(f"{name}."):
            found = _sub_grades(grades, grader[len(name) + 1 :])
            if found:
                return found
    return []


def _judge_stats(grades: Sequence[Grade]) -> dict[str, Any] | None:
    latencies: list[float] = []
    tokens = 0
    calls = hits = 0
    seen = False

    def visit(g: Grade) -> None:
        nonlocal tokens, calls, hits, seen
        d = g.details
        lat = d.get("latency_s", d.get("latency"))
        tok = d.get("tokens")
        if tok is None and ("prompt_tokens" in d or "completion_tokens" in d):  # rft's model graders
            tok = {"prompt": d.get("prompt_tokens") or 0, "completion": d.get("completion_tokens") or 0}
        hit = d.get("cache_hit")
        if lat is not None or tok is not None or hit is not None:
            seen = True
            calls += 1
            if isinstance(lat, (int, float)) and not isinstance(lat, bool):
                latencies.append(float(lat))
            if isinstance(tok, Mapping):
                tok = tok.get("total", sum(v for v in tok.values() if isinstance(v, int) and not isinstance(v, bool)))
            if isinstance(tok, int) and not isinstance(tok, bool):
                tokens += tok
            hits += hit is True
        subs = d.get("sub_grades")
        if isinstance(subs, Mapping):
            for sub in subs.values():
                if isinstance(sub, Grade):
                    visit(sub)

    for g in grades:
        visit(g)
    if not seen:
        return None
    latencies.sort()
    return {
        "calls": calls,
        "cache_hits": hits,
        "tokens": tokens,
        "latency_mean_s": sum(latencies) / len(latencies) if latencies else None,
        "latency_p95_s": (
            latencies[min(len(latencies) - 1, math.ceil(0.95 * len(latencies)) - 1)] if latencies else None
        ),
    }


def _ks(max_n: int) -> list[int]:
    ks, k = [], 1
    while k < max_n:
        ks.append(k)
        k *= 2
    if max_n >= 1:
        ks.append(max_n)
    return ks


def grader_stats(name: str, per_item: Sequence[Sequence[Grade]], *, depth: int = 0) -> GraderStats:
    """Statistics of one grader from its Grades grouped by item (one inner list per item)."""
    n = sum(len(gs) for gs in per_item)
    scored_groups = [[g.score for g in gs if g.score is not None] for gs in per_item]
    scored = sum(len(s) for s in scored_groups)
    mean, se, low, high = clustered_interval(scored_groups)
    pass_groups = [[1.0 if g.passed else 0.0 for g in gs if g.score is not None] for gs in per_item]
    _, pass_se, pass_low, pass_high = clustered_interval(pass_groups)
    passed = sum(1 for gs in per_item for g in gs if g.score is not None and g.passed)
    kinds: Counter[str] = Counter(
        str(g.details.get("error") or "unscored") for gs in per_item for g in gs if g.score is None
    )
    max_k = max((len(gs) for gs in per_item), default=0)
    pass_k: dict[int, float | None] = {}
    mean_k = None
    if max_k > 1:
        counts = [
            (sum(1 for g in gs if g.score is not None), sum(1 for g in gs if g.score is not None and g.passed))
            for gs in per_item
        ]
        pass_k = pass_at_k_values(counts, _ks(max_k))
        item_means = [sum(s) / len(s) for s in scored_groups if s]
        mean_k = sum(item_means) / len(item_means) if item_means else None
    return GraderStats(
        grader=name,
        n=n,
        scored=scored,
        mean=mean,
        se=se,
        ci_low=low,
        ci_high=high,
        passed=passed,
        pass_rate=passed / scored if scored else None,
        unscored=dict(sorted(kinds.items())),
        pass_at_k=pass_k,
        mean_at_k=mean_k,
        judge=_judge_stats([g for gs in per_item for g in gs]),
        depth=depth,
        items=sum(1 for g in scored_groups if g),
        pass_rate_se=pass_se,
        pass_rate_ci_low=pass_low,
        pass_rate_ci_high=pass_high,
    )


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


class Report:
    """The result of :func:`rft.evaluate`: per-grader statistics and per-item rows.

    ``report[name]`` is a grader's :class:`GraderStats`; ``report.stats`` lists every grader
    (sub-graders after their parent); ``report.items`` holds the rows. ``str(report)`` is a plain
    table; Jupyter shows an HTML summary with a few failing examples.
    """

    def __init__(self, items: Sequence[ItemResult], graders: Sequence[str], meta: Mapping[str, Any] | None = None):
        self.items = list(items)
        self.graders = list(graders)
        self.meta = dict(meta or {})
        self._stats: list[GraderStats] | None = None

    # ---------------------------------------------------------------------------- statistics
    @property
    def stats(self) -> list[GraderStats]:
        if self._stats is None:
            out: list[GraderStats] = []

            def visit(name: str, per_item: list[list[Grade]], depth: int) -> None:
                out.append(grader_stats(name, per_item, depth=depth))
                keys: list[str] = []
                for gs in per_item:
                    for g in gs:
                        subs = g.details.get("sub_grades")
                        if isinstance(subs, Mapping):
                            keys.extend(k for k in subs if k not in keys)
                for key in keys:
                    children = [
                        [
                            g.details["sub_grades"][key]
                            for g in gs
                            if isinstance(g.details.get("sub_grades"), Mapping)
                            and isinstance(g.details["sub_grades"].get(key), Grade)
                        ]
                        for gs in per_item
                    ]
                    visit(f"{name}.{key}", children, depth + 1)

            for name in self.graders:
                visit(name, [item.grades.get(name, []) for item in self.items], 0)
            self._stats = out
        return self._stats

    def __getitem__(self, grader: str) -> GraderStats:
        for s in self.stats:
            if s.grader == grader:
                return s
        raise KeyError(f"no grader {grader!r} in this report; graders: {', '.join(s.grader for s in self.stats)}")

    def __iter__(self) -> Iterator[GraderStats]:
        return iter(self.stats)

    def item_values(self, grader: str, metric: str = "mean") -> dict[str, float]:
        """One number per item, the unit a paired comparison works on.

        ``metric="mean"``: the mean of the item's scored sample scores; ``"pass_rate"``: the fraction
        of its scored samples that passed. Unscored samples are left out, and an item with no
        scored sample is absent (unscored is not 0). Keys are ``json.dumps(item.id)``, so items of
        two reports of the same data line up. Sub-graders are named ``parent.key``.

        >>> from rft import Grade
        >>> r = Report([ItemResult(0, "a", "", ["x", "y"], {"g": [Grade(1.0, True), Grade(0.5, False)]}),
        ...             ItemResult(1, "b", "", ["z"], {"g": [Grade.unscored_because("judge down")]})], ["g"])
        >>> r.item_values("g"), r.item_values("g", "pass_rate")
        ({'"a"': 0.75}, {'"a"': 0.5})
        """
        if metric not in METRICS:
            raise ConfigError(f"unknown metric {metric!r}; use one of: {', '.join(METRICS)}", "metric")
        out: dict[str, float] = {}
        for item in self.items:
            grades = _grades_of(item, grader)
            scores = [float(g.score) for g in grades if g.score is not None]
            if not scores:
                continue
            passed = sum(1 for g in grades if g.score is not None and g.passed)
            out[json.dumps(item.id)] = sum(scores) / len(scores) if metric == "mean" else passed / len(scores)
        return out

    @property
    def samples_per_item(self) -> int:
        return max((len(item.outputs) for item in self.items), default=0)

    def failures(self, grader: str, limit: int | None = None) -> list[tuple[ItemResult, int, Grade]]:
        """``(item, sample, grade)`` for samples of ``grader`` that scored but did not pass."""
        out = []
        for item in self.items:
            for j, g in enumerate(item.grades.get(grader, [])):
                if g.score is not None and not g.passed:
                    out.append((item, j, g))
                    if limit is not None and len(out) >= limit:
                        return out
        return out

    # ---------------------------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "meta": self.meta,
            "graders": self.graders,
            "stats": [s.to_dict() for s in self.stats],
            "items": [item.to_dict() for item in self.items],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Report:
        if data.get("format") != REPORT_FORMAT:
            raise DataError(f"not an rft report (format {data.get('format')!r}, expected {REPORT_FORMAT!r})")
        return cls([ItemResult.from_dict(i) for i in data["items"]], data["graders"], data.get("meta"))

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the report as JSON, atomically. A folder path gets ``report.json`` inside it."""
        path = Path(path)
        if path.is_dir() or not path.suffix:
            path = path / REPORT
        atomic_write_text(path, self.to_json())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Report:
        return load_report(path)

    def to_pandas(self) -> Any:
        """One row per item x sample: id, prompt, output, and ``<grader>.score/passed/reason/error``."""
        import pandas as pd

        rows = []
        for item in self.items:
            for j, output in enumerate(item.outputs):
                row: dict[str, Any] = {
                    "index": item.index, "id": item.id, "sample": j, "prompt": item.prompt, "output": output
                }
                if j < len(item.gen):
                    row.update({f"gen.{k}": v for k, v in item.gen[j].items()})
                for name in self.graders:
                    gs = item.grades.get(name, [])
                    g = gs[j] if j < len(gs) else None
                    row[f"{name}.score"] = g.score if g else None
                    row[f"{name}.passed"] = g.passed if g else None
                    row[f"{name}.reason"] = g.reason if g else None
                    row[f"{name}.error"] = g.error if g else None
                rows.append(row)
        return pd.DataFrame(rows)

    # ---------------------------------------------------------------------------- display
    def _rows(self) -> tuple[list[str], list[list[str]]]:
        k = self.samples_per_item
        header = ["grader", "n", "mean", "SE", "95% CI", "pass rate", "pass 95% CI"]
        ks = _ks(k) if k > 1 else []
        header += [f"pass@{kk}" for kk in ks] + ([f"mean@{k}"] if k > 1 else []) + ["unscored"]
        judged = any(s.judge for s in self.stats)
        if judged:
            header += ["judge calls", "latency", "tokens", "cache hits"]
        body = []
        for s in self.stats:
            ci = "-" if s.ci_low is None else f"[{s.ci_low:.3f}, {s.ci_high:.3f}]"
            if s.pass_rate_ci_low is None:
                pass_ci = "-"
            else:
                pass_ci = f"[{_pct(s.pass_rate_ci_low)}, {_pct(s.pass_rate_ci_high)}]"
            unscored = "0" if not s.unscored else f"{s.unscored_count} (" + ", ".join(
                f"{kind}: {c}" for kind, c in s.unscored.items()
            ) + ")"
            row = ["  " * s.depth + s.grader, str(s.n), _fmt(s.mean), _fmt(s.se), ci, _pct(s.pass_rate), pass_ci]
            row += [_fmt(s.pass_at_k.get(kk)) for kk in ks] + ([_fmt(s.mean_at_k)] if k > 1 else []) + [unscored]
            if judged:
                j = s.judge or {}
                row += [
                    str(j.get("calls", "-")),
                    "-" if j.get("latency_mean_s") is None else f"{j['latency_mean_s']:.2f}s",
                    str(j.get("tokens", "-")),
                    str(j.get("cache_hits", "-")),
                ]
            body.append(row)
        return header, body

    def table(self) -> str:
        """The per-grader summary as a plain-text table."""
        return _text_table(*self._rows())

    def __str__(self) -> str:
        return f"{self._title()}\n{self.table()}"

    def __repr__(self) -> str:
        means = ", ".join(f"{s.grader}={_fmt(s.mean)}" for s in self.stats if s.depth == 0)
        return f"<Report {len(self.items)} items x {self.samples_per_item} samples: {means}>"

    def _title(self) -> str:
        target = self.meta.get("target") or {}
        name = target.get("model") or target.get("name") or target.get("path") or target.get("type") or "?"
        return f"rft evaluation of {name}: {len(self.items)} items x {self.samples_per_item} samples"

    def to_markdown(self) -> str:
        header, body = self._rows()
        lines = [f"**{self._title()}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in body:
            lines.append("| " + " | ".join(c.strip().replace("|", "\\|") for c in row) + " |")
        params = self.meta.get("params")
        if params:
            lines += ["", "Sampling: " + ", ".join(f"{k}={v}" for k, v in params.items())]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        header, body = self._rows()
        esc = html.escape
        parts = [f"<div><b>{esc(self._title())}</b>", "<table><thead><tr>"]
        parts += [f"<th>{esc(h)}</th>" for h in header]
        parts.append("</tr></thead><tbody>")
        for row in body:
            parts.append("<tr>" + "".join(f"<td style='text-align:left'>{esc(c)}</td>" for c in row) + "</tr>")
        parts.append("</tbody></table>")
        shown = False
        for name in self.graders:
            fails = self.failures(name, limit=3)
            if not fails:
                continue
            if not shown:
                parts.append("<p><b>Failing examples</b></p>")
                shown = True
            parts.append(f"<p><i>{esc(name)}</i></p><table><tr><th>id</th><th>prompt</th><th>output</th><th>reason</th></tr>")
            for item, j, g in fails:
                prompt = item.prompt if isinstance(item.prompt, str) or item.prompt is None else json.dumps(item.prompt)
                parts.append(
                    "<tr>"
                    f"<td>{esc(str(item.id))}#{j}</td><td>{esc(_clip(prompt or ''))}</td>"
                    f"<td><pre>{esc(_clip(item.outputs[j]))}</pre></td><td>{esc(_clip(g.reason))}</td></tr>"
                )
            parts.append("</table>")
        parts.append("</div>")
        return "".join(parts)

    def plot(self, graders: Sequence[str] | None = None) -> Any:
        """Score distribution per grader over scored samples; returns the Figure.

        A few distinct scores (pass/fail graders, judges on a small scale) are drawn as one bar at
        each value; many distinct scores as a histogram of equal bins. The score axis spans
        [0, 1] (or the scores' range when they leave it), so 0s and 1s sit where they belong.
        """
        import matplotlib.pyplot as plt

        names = list(graders) if graders else self.graders
        fig, axes = plt.subplots(1, len(names), figsize=(3.2 * max(1, len(names)), 2.6), squeeze=False)
        for ax, name in zip(axes[0], names):
            scores = [float(g.score) for item in self.items for g in _grades_of(item, name) if g.score is not None]
            _draw_distribution(ax, scores)
            s = self[name]
            ax.set_title(f"{name}\nmean {_fmt(s.mean)}, unscored {s.unscored_count}", fontsize=9)
            ax.set_xlabel("score")
        axes[0][0].set_ylabel("samples")
        fig.tight_layout()
        return fig


#: Up to this many distinct scores are drawn as one bar per value rather than binned.
_MAX_DISTINCT_BARS = 11


def _draw_distribution(ax: Any, scores: Sequence[float]) -> None:
    lo, hi = (0.0, 1.0) if all(0.0 <= v <= 1.0 for v in scores) else (min(scores), max(scores))
    span = (hi - lo) or 1.0
    distinct = sorted(set(scores))
    if not scores:
        ax.text(0.5, 0.5, "nothing scored", ha="center", va="center", transform=ax.transAxes, fontsize=8)
    elif len(distinct) <= _MAX_DISTINCT_BARS:
        gaps = [b - a for a, b in itertools.pairwise(distinct)]
        width = min([0.06 * span] + [0.8 * g for g in gaps])
        counts = Counter(scores)
        ax.bar(distinct, [counts[v] for v in distinct], width=width, color="#4c72b0")
    else:
        ax.hist(scores, bins=20, range=(lo, hi), color="#4c72b0")
    ax.set_xlim(lo - 0.05 * span, hi + 0.05 * span)


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text_table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[c]) for row in [header, *body]) for c in range(len(header))]
    lines = []
    for row in [header, ["-" * w for w in widths], *body]:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return "\n".join(lines)


def load_report(path: str | os.PathLike[str]) -> Report:
    """Load a saved report: a ``report.json`` file or a run folder holding one."""
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: no such report; run the evaluation first or check the path") from None
    except ValueError as exc:
        raise DataError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: not an rft report")
    return Report.from_dict(data)
