"""The tuning report of :func:`rft.tune_until`: JSON, Markdown, HTML and a plot.

Per round: target and guard scores with 95% CIs, the target's change against the best model so far
(paired CI), kept or rolled back and why, the reward curves of training. Overall: baseline against
the best model for the target and every guard, each change with its paired 95% CI.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["report_markdown", "write_report"]

REPORT_FORMAT = "rft.tuning_report/1"


def _summary(state: Mapping[str, Any], final: Mapping[str, Any], target: Any, guards: Sequence[Any]) -> dict[str, Any]:
    from rft.tuning._until import compare_scores

    base = state["baseline"]

    def change(b: Mapping[str, Any], f: Mapping[str, Any]) -> dict[str, Any]:
        cmp = compare_scores(b["per_item"], f["per_item"])
        return {
            "baseline": b["score"],
            "baseline_ci": [b["ci_low"], b["ci_high"]],
            "final": f["score"],
            "final_ci": [f["ci_low"], f["ci_high"]],
            "delta": cmp["delta"],
            "delta_ci": [cmp["ci_low"], cmp["ci_high"]],
            "n_paired": cmp["n"],
            "grader": b["grader"],
            "metric": b["metric"],
        }

    out = {"target": {"suite": target.name, **change(base["target"], final["target"])}, "guards": {}}
    for g in guards:
        c = change(base["guards"][g.name], final["guards"][g.name])
        c["tolerance"] = g.tolerance
        c["within_tolerance"] = c["final"] is not None and c["baseline"] is not None and c["final"] >= c["baseline"] - g.tolerance - 1e-12
        out["guards"][g.name] = c
    return out


def _rounds(state: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    offset = 0
    for rec in state["rounds"]:
        curves = {}
        for name, pts in rec.get("rewards", {}).items():
            curves[name] = [[offset + int(s), float(v)] for s, v in pts]
        offset += int(rec.get("steps") or 0)
        rows.append(
            {
                "round": rec["round"],
                "lr": rec["lr"],
                "steps": rec["steps"],
                "kept": rec["kept"],
                "reason": rec["reason"],
                "target": rec["target"],
                "guards": rec["guards"],
                "rewards": curves,
                "train_seconds": rec.get("train_seconds"),
                "eval_seconds": rec.get("eval_seconds"),
            }
        )
    return rows


def _n(x: Any, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _signed(x: Any) -> str:
    return "-" if x is None else f"{x:+.3f}"


def _ci(pair: Sequence[Any]) -> str:
    lo, hi = pair
    return "" if lo is None or hi is None else f" [{lo:.3f}, {hi:.3f}]"


def _dci(pair: Sequence[Any]) -> str:
    lo, hi = pair
    return "" if lo is None or hi is None else f" [{lo:+.3f}, {hi:+.3f}]"


def report_markdown(report: Mapping[str, Any]) -> str:
    """The report as Markdown (what ``report.md`` holds)."""
    s = report["summary"]
    t = s["target"]
    lines = [
        "# Tuning report",
        "",
        f"Stopped: {report['stopped']}. Best model: round {report['best_round']} (`{report['best_model_dir']}`).",
        "",
        "| suite | role | metric | baseline | best | change (paired 95% CI) |",
        "|---|---|---|---:|---:|---:|",
        f"| {t['suite']} | target | {t['grader']} {t['metric']} | {_n(t['baseline'])}{_ci(t['baseline_ci'])} | "
        f"{_n(t['final'])}{_ci(t['final_ci'])} | {_signed(t['delta'])}{_dci(t['delta_ci'])} |",
    ]
    for name, g in s["guards"].items():
        ok = "ok" if g["within_tolerance"] else "REGRESSED"
        lines.append(
            f"| {name} | guard (tol {g['tolerance']:g}, {ok}) | {g['grader']} {g['metric']} | {_n(g['baseline'])}{_ci(g['baseline_ci'])} | "
            f"{_n(g['final'])}{_ci(g['final_ci'])} | {_signed(g['delta'])}{_dci(g['delta_ci'])} |"
        )
    lines += ["", "## Rounds", ""]
    guard_names = list(s["guards"])
    head = ["round", "lr", "steps", "target (95% CI)", "vs best (paired CI)", *guard_names, "verdict", "train s", "eval s"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for r in report["rounds"]:
        tg = r["target"]
        cells = [
            str(r["round"]),
            f"{r['lr']:.2g}",
            str(r["steps"]),
            f"{_n(tg.get('score'))}{_ci([tg.get('ci_low'), tg.get('ci_high')])}",
            f"{_signed(tg.get('vs_best_delta'))}{_dci([tg.get('vs_best_ci_low'), tg.get('vs_best_ci_high')])}",
            *[_n(r["guards"].get(g, {}).get("score")) for g in guard_names],
            ("kept" if r["kept"] else "rolled back") + f": {r['reason']}",
            _n(r.get("train_seconds"), 0),
            _n(r.get("eval_seconds"), 0),
        ]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
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
    s = report["summary"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    xs = [0] + [r["round"] for r in report["rounds"]]

    def series(base: Mapping[str, Any], get: Any) -> tuple[list[Any], list[Any], list[Any]]:
        ys = [base["baseline"]] + [get(r).get("score") for r in report["rounds"]]
        lo = [base["baseline_ci"][0]] + [get(r).get("ci_low") for r in report["rounds"]]
        hi = [base["baseline_ci"][1]] + [get(r).get("ci_high") for r in report["rounds"]]
        return ys, lo, hi

    def draw(label: str, ys: list[Any], lo: list[Any], hi: list[Any], marker: str) -> None:
        pts = [(x, y, l, h) for x, y, l, h in zip(xs, ys, lo, hi) if y is not None]
        if not pts:
            return
        err = [
            [max(0.0, y - (lo_ if lo_ is not None else y)) for _, y, lo_, _ in pts],
            [max(0.0, (hi_ if hi_ is not None else y) - y) for _, y, _, hi_ in pts],
        ]
        ax1.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=err, marker=marker, capsize=3, label=label)

    draw(f"target: {s['target']['suite']}", *series(s["target"], lambda r: r["target"]), "o")
    for name, g in s["guards"].items():
        draw(f"guard: {name}", *series(g, lambda r, n=name: r["guards"].get(n, {})), "s")
    for r in report["rounds"]:
        if not r["kept"]:
            ax1.axvline(r["round"], color="red", alpha=0.15, linewidth=6)
    ax1.set_xlabel("round (0 = baseline; red = rolled back)")
    ax1.set_ylabel("score (95% CI)")
    ax1.set_ylim(-0.02, 1.02)
    ax1.set_xticks(xs)
    ax1.legend(fontsize=8)
    ax1.set_title("Evaluation per round")
    names: list[str] = []
    for r in report["rounds"]:
        for n in r["rewards"]:
            if n not in names:
                names.append(n)
    for n in names:
        pts = [p for r in report["rounds"] for p in r["rewards"].get(n, [])]
        if pts:
            ax2.plot([p[0] for p in pts], [p[1] for p in pts], label=n, marker="." if len(pts) < 40 else None)
    ax2.set_xlabel("training step")
    ax2.set_ylabel("mean reward")
    ax2.set_title("Training rewards")
    if names:
        ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _html(report: Mapping[str, Any], markdown: str, png: Path | None) -> str:
    # A small hand-written renderer of our own tables: no Markdown library is a dependency.
    body: list[str] = []
    in_table = False
    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if all(set(c) <= set("-:") for c in cells):
                continue
            tag = "th" if not in_table else "td"
            if not in_table:
                body.append("<table>")
                in_table = True
            body.append("<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells) + "</tr>")
            continue
        if in_table:
            body.append("</table>")
            in_table = False
        if line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("!["):
            if png is not None and png.is_file():
                data = base64.b64encode(png.read_bytes()).decode()
                body.append(f'<img alt="tuning curves" src="data:image/png;base64,{data}">')
        elif line.strip():
            body.append(f"<p>{html.escape(line)}</p>")
    if in_table:
        body.append("</table>")
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:4px 8px;font-size:14px}th{background:#f4f4f4}img{max-width:100%}"
    )
    return f"<!doctype html><html><head><meta charset='utf-8'><title>rft tuning report</title><style>{style}</style></head><body>{''.join(body)}</body></html>\n"


def write_report(
    state: Mapping[str, Any], final: Mapping[str, Any], target: Any, guards: Sequence[Any], out: Path
) -> tuple[dict[str, Any], dict[str, str]]:
    """Write ``report.json``, ``report.md``, ``report.html`` and ``report.png`` into ``out``."""
    from rft.eval._store import atomic_write_text as _atomic_write

    report: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "stopped": state["stopped"],
        "best_round": state["best_round"],
        "best_model_dir": str(out / "best"),
        "summary": _summary(state, final, target, guards),
        "rounds": _rounds(state),
        "plot": None,
    }
    files: dict[str, str] = {}
    png = out / "report.png"
    if _plot(report, png):
        report["plot"] = png.name
        files["plot"] = str(png)
    md = report_markdown(report)
    _atomic_write(out / "report.json", json.dumps(report, indent=1))
    _atomic_write(out / "report.md", md)
    _atomic_write(out / "report.html", _html(report, md, png if report["plot"] else None))
    files.update(json=str(out / "report.json"), markdown=str(out / "report.md"), html=str(out / "report.html"))
    return report, files
