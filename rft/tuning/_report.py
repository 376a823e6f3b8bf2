"""The tuning report of :func:`rft.tune_until`: JSON, Markdown, HTML and a plot, and the verdict.

The report shows the numbers the decisions used: every gate is one paired, metric-aware
comparison (:func:`rft.eval.compare`) and the report repeats it. Sections: the verdict; baseline
against the best model for the target and every guard (change with its paired CI, the gate and
whether it holds); the power check made before training; each round (what it trained with, the
remedy in force, both gates, kept or rolled back); the remedies tried and their effect; a plot of
the evaluations per round (rejected rounds shaded, remedies named) beside the training rewards.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rft.eval._compare import decision_text
from rft.eval._store import atomic_write_text
from rft.tuning._suites import gate_comparison

__all__ = ["report_markdown", "verdict_text", "write_report"]

REPORT_FORMAT = "rft.tuning_report/2"


def _change(suite: Any, before: Mapping[str, Any], after: Mapping[str, Any], level: float) -> dict[str, Any]:
    """Baseline against best, by the comparison the gates use."""
    d = gate_comparison(suite, before, after, level)
    return {
        "suite": suite.name,
        "grader": suite.grader,
        "metric": suite.metric,
        "baseline": before["score"],
        "baseline_ci": [before["ci_low"], before["ci_high"]],
        "final": after["score"],
        "final_ci": [after["ci_low"], after["ci_high"]],
        "delta": d.delta,
        "delta_ci": [d.ci_low, d.ci_high],
        "n_paired": d.n_paired,
        "verdict": d.verdict,
        "_delta": d,
    }


def _summary(state: Any, target: Any, guards: Sequence[Any], options: Any) -> dict[str, Any]:
    base = state.baseline
    final = state.rounds[state.best_round - 1]["scores"] if state.best_round else base
    t = _change(target, base["target"], final["target"], options.level)
    t_delta = t.pop("_delta")
    t["gate"] = decision_text("superior", level=options.level, metric=target.metric)
    t["holds"] = t_delta.superior()
    out: dict[str, Any] = {"target": t, "guards": {}}
    for g in guards:
        c = _change(g, base["guards"][g.name], final["guards"][g.name], options.level)
        d = c.pop("_delta")
        c.update(
            tolerance=g.tolerance,
            rule=options.guard_rule,
            gate=decision_text(options.guard_rule, tolerance=g.tolerance, level=options.level, metric=g.metric),
            holds=base["guards"][g.name]["score"] is None or d.holds(options.guard_rule, g.tolerance),
        )
        out["guards"][g.name] = c
    return out


def _rounds(state: Any) -> list[dict[str, Any]]:
    rows = []
    offset = 0
    for rec in state.rounds:
        curves = {name: [[offset + int(s), float(v)] for s, v in pts] for name, pts in rec.get("rewards", {}).items()}
        offset += int(rec.get("steps") or 0)
        rows.append(
            {
                k: rec.get(k)
                for k in (
                    "round",
                    "lr",
                    "beta",
                    "steps",
                    "remedy",
                    "kept",
                    "reason",
                    "target",
                    "guards",
                    "train_seconds",
                    "eval_seconds",
                )
            }
            | {"rewards": curves}
        )
    return rows


def _remedies(state: Any) -> list[dict[str, Any]]:
    """Each remedy with its effect: the failing guards' change in the round before and the round after."""
    out = []
    by_round = {rec["round"]: rec for rec in state.rounds}
    for rem in state.remedies:
        before, after = by_round.get(rem["after_round"]), by_round.get(rem["after_round"] + 1)
        effect = []
        for g in rem.get("guards", []):
            b = (before or {}).get("guards", {}).get(g, {}).get("vs_baseline", {})
            a = (after or {}).get("guards", {}).get(g, {}).get("vs_baseline", {}) if after else None
            effect.append(
                {
                    "guard": g,
                    "before": _dci(b),
                    "after": _dci(a) if a else "not tried (no round left)",
                    "holds_after": (after or {}).get("guards", {}).get(g, {}).get("holds") if after else None,
                }
            )
        tb = (before or {}).get("target", {}).get("vs_best", {})
        ta = (after or {}).get("target", {}).get("vs_best", {}) if after else None
        out.append(
            {
                **rem,
                "effect": effect,
                "target_before": _dci(tb),
                "target_after": _dci(ta) if ta else None,
                "kept_after": (after or {}).get("kept") if after else None,
            }
        )
    return out


def _dci(d: Mapping[str, Any] | None) -> str:
    if not d or d.get("delta") is None:
        return "-"
    return f"{d['delta']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]"


def verdict_text(
    state: Any, summary: Mapping[str, Any], power: Sequence[Mapping[str, Any]] | None, options: Any
) -> str:
    """One paragraph: what was kept and why, or why nothing could be, and what to try next."""
    t = summary["target"]
    if state.best_round:
        guards = "; ".join(
            f"{name} {g['delta']:+.3f} (lower bound {g['delta_ci'][0]:+.3f} > {-g['tolerance']:g})"
            if g["delta"] is not None
            else f"{name}: nothing to compare"
            for name, g in summary["guards"].items()
        )
        return (
            f"Kept round {state.best_round}: target {t['grader']} {t['metric'].replace('_', ' ')} "
            f"{t['baseline']:.3f} -> {t['final']:.3f}, {t['delta']:+.3f} "
            f"(paired {options.level:.0%} CI {t['delta_ci'][0]:+.3f}..{t['delta_ci'][1]:+.3f})"
            + (f"; every guard non-inferior: {guards}." if guards else ".")
        )
    if not state.rounds:
        return f"Nothing was trained ({state.stopped})."
    return _no_round_kept(state, power, options)


def _no_round_kept(state: Any, power: Sequence[Mapping[str, Any]] | None, options: Any) -> str:
    blocked = [rec for rec in state.rounds if rec.get("target_ok") and rec.get("failing")]
    last_round = state.rounds[-1]["round"]
    applied = [r for r in state.remedies if r["after_round"] < last_round]
    tried = ", ".join(f"{r['kind']} in round {r['after_round'] + 1}" for r in applied) or "none"
    queued = [r for r in state.remedies if r["after_round"] >= last_round]
    if not blocked:
        best = max(state.rounds, key=lambda rec: rec["target"]["vs_best"].get("delta") or -1)
        return (
            f"No round improved the target significantly; the best was round {best['round']}: "
            f"{best['target']['describe']}. Try more steps per round, a higher learning rate, easier training data "
            "or a partial-credit grader (see the pre-flight)."
        )
    last = blocked[-1]
    parts = []
    for name in last["failing"]:
        g = last["guards"][name]
        d = g["vs_baseline"]
        parts.append(
            f"guard {name} changed {d['delta']:+.3f} ({g['metric'].replace('_', ' ')}; "
            f"paired {options.level:.0%} CI {d['ci_low']:+.3f}..{d['ci_high']:+.3f}), "
            f"and non-inferiority needs the lower end above {-g['tolerance']:g}"
        )
    weak = [p for p in power or [] if p["role"] == "guard" and not p["ok"] and p["suite"] in last["failing"]]
    nxt = (
        "The guard is too small for its tolerance: " + "; ".join(p["advice"] for p in weak) + "."
        if weak
        else "Next: replay more guard rows (replay_share), fewer steps or a lower learning rate per round, LoRA "
        "(lora_r) to change fewer weights, or, if a loss down to the interval's lower end is acceptable, "
        "a larger tolerance."
    )
    return (
        f"No round passed both gates. Round {last['round']} improved the target ({last['target']['describe']}) but "
        + "; ".join(parts)
        + f". Remedies tried: {tried}"
        + (f" ({queued[0]['kind']} was next when the run stopped: {state.stopped})" if queued else "")
        + ". "
        + nxt
    )


def _n(x: Any, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _ci(pair: Sequence[Any]) -> str:
    lo, hi = pair
    return "" if lo is None or hi is None else f" [{lo:.3f}, {hi:.3f}]"


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in rows]


def _summary_lines(report: Mapping[str, Any]) -> list[str]:
    s = report["summary"]
    t = s["target"]
    level = f"{report['level']:.0%}"
    rows = [
        [
            t["suite"],
            "target",
            f"{t['grader']} {t['metric']}",
            f"{_n(t['baseline'])}{_ci(t['baseline_ci'])}",
            f"{_n(t['final'])}{_ci(t['final_ci'])}",
            _dci({"delta": t["delta"], "ci_low": t["delta_ci"][0], "ci_high": t["delta_ci"][1]}),
            "superior: " + ("yes" if t["holds"] else "no"),
        ]
    ]
    for name, g in s["guards"].items():
        gate = f"{g['rule']} at tolerance {g['tolerance']:g}: " + ("holds" if g["holds"] else "FAILS")
        rows.append(
            [
                name,
                "guard",
                f"{g['grader']} {g['metric']}",
                f"{_n(g['baseline'])}{_ci(g['baseline_ci'])}",
                f"{_n(g['final'])}{_ci(g['final_ci'])}",
                _dci({"delta": g["delta"], "ci_low": g["delta_ci"][0], "ci_high": g["delta_ci"][1]}),
                gate,
            ]
        )
    head = ["suite", "role", "metric", "baseline (95% CI)", "best", f"change (paired {level} CI)", "gate"]
    return _table(head, rows)


def _power_lines(report: Mapping[str, Any]) -> list[str]:
    power = report.get("power") or []
    if not power:
        return []
    rows = [
        [
            p["suite"],
            p["role"],
            f"{p['n_items']} x {p['samples_per_item']}",
            _n(p.get("sd_diff")),
            _n(p.get("resolvable")),
            "-" if p.get("tolerance") is None else f"{p['tolerance']:g}",
            "-" if p["role"] == "target" else ("yes" if p["ok"] else "NO"),
            "-" if p.get("items_needed") is None else f"{p['items_needed']:,}",
        ]
        for p in power
    ]
    head = [
        "suite",
        "role",
        "items x samples",
        "planned SD of change",
        "resolvable change",
        "tolerance",
        "enough?",
        "items for the tolerance",
    ]
    return [
        "",
        "## Power check (from the baseline, before training)",
        "",
        *_table(head, rows),
        "",
        *[f"- {p['advice']}" for p in power],
    ]


def _round_lines(report: Mapping[str, Any]) -> list[str]:
    guard_names = list(report["summary"]["guards"])
    rows = []
    for r in report["rounds"]:
        tg = r["target"]
        cells = [
            str(r["round"]),
            f"{r['lr']:.2g}",
            f"{r.get('beta') or 0:g}",
            "; ".join(r.get("remedy") or []) or "-",
            f"{_n(tg.get('score'))}{_ci([tg.get('ci_low'), tg.get('ci_high')])}",
            _dci(tg.get("vs_best")) + (" ok" if tg.get("holds") else " no"),
        ]
        for g in guard_names:
            gr = r["guards"].get(g, {})
            cells.append(
                f"{_n(gr.get('score'))}, {_dci(gr.get('vs_baseline'))}" + (" ok" if gr.get("holds") else " FAIL")
            )
        cells += ["kept" if r["kept"] else "rolled back", _n(r.get("train_seconds"), 0), _n(r.get("eval_seconds"), 0)]
        rows.append(cells)
    head = [
        "round",
        "lr",
        "beta",
        "remedy in force",
        "target (95% CI)",
        "target vs best (paired CI)",
        *[f"{g}: score, vs baseline" for g in guard_names],
        "verdict",
        "train s",
        "eval s",
    ]
    lines = ["", "## Rounds", "", *_table(head, rows), ""]
    lines += [f"- round {r['round']}: {r['reason']}" for r in report["rounds"]]
    return lines


def _remedy_lines(report: Mapping[str, Any]) -> list[str]:
    if not report["remedies"]:
        return []
    lines = ["", "## Remedies tried", ""]
    for rem in report["remedies"]:
        effect = "; ".join(f"guard {e['guard']} {e['before']} -> {e['after']}" for e in rem["effect"])
        outcome = "" if rem["kept_after"] is None else (" -> round kept" if rem["kept_after"] else " -> still rejected")
        lines.append(
            f"- after round {rem['after_round']}: {rem['text']}. Effect on round {rem['after_round'] + 1}: "
            f"{effect}{outcome}"
        )
    return lines


def report_markdown(report: Mapping[str, Any]) -> str:
    """The report as Markdown (what ``report.md`` holds)."""
    lines = [
        "# Tuning report",
        "",
        f"Verdict: {report['verdict']}",
        "",
        f"Stopped: {report['stopped']}. Best model: round {report['best_round']} (`{report['best_model_dir']}`).",
        "",
        f"Gates: the target must be {report['rules']['target']}; each guard must be {report['rules']['guards']}.",
        "",
        *_summary_lines(report),
        *_power_lines(report),
        *_round_lines(report),
        *_remedy_lines(report),
    ]
    if report.get("plot"):
        lines += ["", f"![tuning curves]({report['plot']})"]
    return "\n".join(lines) + "\n"


def _plot(report: Mapping[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
    _plot_scores(ax1, report)
    _plot_rewards(ax2, report)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _plot_scores(ax: Any, report: Mapping[str, Any]) -> None:
    s = report["summary"]
    rounds = report["rounds"]
    xs = [0] + [r["round"] for r in rounds]

    def draw(label: str, base: Mapping[str, Any], get: Any, marker: str) -> None:
        ys = [base["baseline"]] + [get(r).get("score") for r in rounds]
        lo = [base["baseline_ci"][0]] + [get(r).get("ci_low") for r in rounds]
        hi = [base["baseline_ci"][1]] + [get(r).get("ci_high") for r in rounds]
        pts = [(x, y, a, b) for x, y, a, b in zip(xs, ys, lo, hi) if y is not None]
        if pts:
            err = [
                [max(0.0, y - (a if a is not None else y)) for _, y, a, _ in pts],
                [max(0.0, (b if b is not None else y) - y) for _, y, _, b in pts],
            ]
            ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=err, marker=marker, capsize=3, label=label)

    draw(f"target: {s['target']['suite']} ({s['target']['metric']})", s["target"], lambda r: r["target"], "o")
    for name, g in s["guards"].items():
        draw(f"guard: {name} ({g['metric']})", g, lambda r, n=name: r["guards"].get(n, {}), "s")
        if g["baseline"] is not None:  # the line the guard must not be shown to fall below
            color = ax.get_lines()[-1].get_color() if ax.get_lines() else None
            ax.axhline(g["baseline"] - g["tolerance"], color=color, linestyle=":", linewidth=1)
    for r in rounds:
        if not r["kept"]:
            ax.axvspan(r["round"] - 0.3, r["round"] + 0.3, color="red", alpha=0.12)
        if r.get("remedy"):
            ax.annotate(
                "\n".join(x.split(":")[0] for x in r["remedy"]), (r["round"], 1.0), ha="center", va="top", fontsize=7
            )
    if report["best_round"]:
        ax.axvline(
            report["best_round"], color="green", alpha=0.4, linestyle="--", label=f"kept: round {report['best_round']}"
        )
    ax.set_xlabel("round (0 = baseline; red = rejected; labels = remedy; dotted = guard baseline - tolerance)")
    ax.set_ylabel("score (95% CI)")
    ax.set_ylim(-0.02, 1.08)
    ax.set_xticks(xs)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("Evaluation per round")


def _plot_rewards(ax: Any, report: Mapping[str, Any]) -> None:
    names: list[str] = []
    for r in report["rounds"]:
        names += [n for n in r["rewards"] if n not in names and n != "reward"]  # the weighted total: in the JSON
    for n in names:
        pts = [p for r in report["rounds"] for p in r["rewards"].get(n, [])]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], label=n, marker="." if len(pts) < 40 else None)
    ax.set_xlabel("training step (all rounds, rejected ones included)")
    ax.set_ylabel("mean reward")
    ax.set_title("Training rewards (per grader, over the rows it judges)")
    if names:
        ax.legend(fontsize=7)


def _html(markdown: str, png: Path | None) -> str:
    # A small hand-written renderer of our own Markdown (tables, headings, bullets, one image):
    # no Markdown library is a dependency.
    body: list[str] = []
    in_table = in_list = False
    for line in markdown.splitlines():
        if in_table and not line.startswith("|"):
            body.append("</table>")
            in_table = False
        if in_list and not line.startswith("- "):
            body.append("</ul>")
            in_list = False
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if all(set(c) <= set("-:") for c in cells):
                continue
            tag = "td" if in_table else "th"
            if not in_table:
                body.append("<table>")
                in_table = True
            body.append("<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells) + "</tr>")
        elif line.startswith("- "):
            if not in_list:
                body.append("<ul>")
                in_list = True
            body.append(f"<li>{html.escape(line[2:])}</li>")
        elif line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("!["):
            if png is not None and png.is_file():
                data = base64.b64encode(png.read_bytes()).decode()
                body.append(f'<img alt="tuning curves" src="data:image/png;base64,{data}">')
        elif line.strip():
            body.append(f"<p>{html.escape(line)}</p>")
    body.append("</table>" if in_table else "")
    body.append("</ul>" if in_list else "")
    style = (
        "body{font-family:sans-serif;max-width:1200px;margin:2em auto}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}th{background:#f4f4f4}img{max-width:100%}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>rft tuning report</title><style>{style}</style>"
        f"</head><body>{''.join(body)}</body></html>\n"
    )


def write_report(
    state: Any, target: Any, guards: Sequence[Any], options: Any, out: Path
) -> tuple[dict[str, Any], dict[str, str]]:
    """Write ``report.json``, ``report.md``, ``report.html`` and ``report.png`` into ``out``;
    the verdict is set on ``state`` when it has none."""
    summary = _summary(state, target, guards, options)
    if state.verdict is None:
        state.verdict = verdict_text(state, summary, state.power, options)
    report: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "verdict": state.verdict,
        "stopped": state.stopped,
        "best_round": state.best_round,
        "best_model_dir": str(out / "best"),
        "level": options.level,
        "rules": {
            "target": decision_text("superior", level=options.level, metric=target.metric)
            if options.keep_if == "ci"
            else f"improved by at least min_delta={options.min_delta:g} (point estimate)",
            "guards": decision_text(options.guard_rule, tolerance=0.123456, level=options.level, metric="metric")
            .replace("-0.123456", "-tolerance")
            .replace("change in metric", "change in the guard's metric"),
        },
        "preflight": state.preflight,
        "power": state.power,
        "summary": summary,
        "rounds": _rounds(state),
        "remedies": _remedies(state),
        "plot": None,
    }
    files: dict[str, str] = {}
    png = out / "report.png"
    if _plot(report, png):
        report["plot"] = png.name
        files["plot"] = str(png)
    md = report_markdown(report)
    atomic_write_text(out / "report.json", json.dumps(report, indent=1, default=str))
    atomic_write_text(out / "report.md", md)
    atomic_write_text(out / "report.html", _html(md, png if report["plot"] else None))
    files.update(json=str(out / "report.json"), markdown=str(out / "report.md"), html=str(out / "report.html"))
    return report, files
