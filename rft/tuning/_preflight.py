"""Pre-flight: before training, is there any reward signal for GRPO to learn from?

GRPO learns from differences between the completions of one prompt. If every completion of a
prompt earns the same reward (all fail, or all pass), that group's advantage is zero and it
teaches nothing. :func:`preflight` samples ``k`` completions for ``n`` prompts with the training
sampling settings and reports, per grader and for the weighted reward TRL trains on: mean score,
pass@k (share of prompts with at least one passing completion), and the share of prompt groups
whose rewards do not vary. With too little variation it says so and advises what to change.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

from rft._data import load_rows
from rft._errors import RftError
from rft.auditing import audit_rewards
from rft.eval._checks import check_rows
from rft.models import generate, load_model
from rft.tuning._config import TuneConfig
from rft.tuning._rewards import reward_functions, reward_weights, weighted

__all__ = ["GraderSignal", "NoSignalError", "PreflightReport", "preflight", "signal_stats"]


class NoSignalError(RftError):
    """Pre-flight found (almost) no prompt whose completions earn different rewards."""

    def __init__(self, report: PreflightReport):
        self.report = report
        super().__init__(
            "pre-flight found no reward signal: "
            f"{report.varied_share:.0%} of {report.n_prompts} prompt groups (k={report.k}) have rewards that differ, "
            f"below preflight_min_varied={report.min_varied:g}.\n{report.to_markdown()}\nAdvice:\n"
            + "\n".join(f"- {a}" for a in report.advice)
            + "\n(Pass preflight=False in TuneConfig to train anyway.)"
        )


@dataclasses.dataclass
class GraderSignal:
    """Signal statistics of one grader (or of the weighted reward) over ``n`` groups of ``k``."""

    name: str
    mean: float | None
    pass_at_k: float | None
    pass_rate: float | None
    zero_variance_share: float
    unscored_frac: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def signal_stats(
    name: str, groups: Sequence[Sequence[float | None]], passed: Sequence[Sequence[bool | None]] | None = None
) -> GraderSignal:
    """Statistics of per-prompt groups of scores (``None`` = unscored, left out).

    >>> s = signal_stats("fmt", [[1.0, 0.0], [0.0, 0.0]])
    >>> s.mean, s.pass_at_k, s.zero_variance_share
    (0.25, 0.5, 0.5)
    """
    flat = [s for g in groups for s in g]
    scored = [s for s in flat if s is not None]
    mean = sum(scored) / len(scored) if scored else None
    zero = 0
    for g in groups:
        vals = [s for s in g if s is not None]
        if len(vals) < 2 or max(vals) - min(vals) <= 1e-9:
            zero += 1
    if passed is None:
        passed = [[None if s is None else s >= 1.0 for s in g] for g in groups]
    flat_passed = [p for g in passed for p in g if p is not None]
    pass_rate = sum(flat_passed) / len(flat_passed) if flat_passed else None
    judged = [g for g in passed if any(p is not None for p in g)]
    pass_at_k = sum(1 for g in judged if any(p for p in g)) / len(judged) if judged else None
    return GraderSignal(
        name=name,
        mean=mean,
        pass_at_k=pass_at_k,
        pass_rate=pass_rate,
        zero_variance_share=zero / len(groups) if groups else 1.0,
        unscored_frac=(len(flat) - len(scored)) / len(flat) if flat else 0.0,
    )


@dataclasses.dataclass
class PreflightReport:
    """What :func:`preflight` found. ``ok`` is False when there is too little signal to train on."""

    n_prompts: int
    k: int
    graders: list[GraderSignal]
    weighted: GraderSignal
    min_varied: float
    advice: list[str]
    examples: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    audits: list[Any] = dataclasses.field(default_factory=list)  # rft.AuditReport per reward grader

    @property
    def varied_share(self) -> float:
        """Share of prompt groups whose weighted rewards differ (the groups GRPO learns from)."""
        return 1.0 - self.weighted.zero_variance_share

    @property
    def ok(self) -> bool:
        return self.varied_share >= self.min_varied and self.varied_share > 0

    def raise_if_no_signal(self) -> PreflightReport:
        if not self.ok:
            raise NoSignalError(self)
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_prompts": self.n_prompts,
            "k": self.k,
            "ok": self.ok,
            "varied_share": self.varied_share,
            "min_varied": self.min_varied,
            "graders": [g.to_dict() for g in self.graders],
            "weighted": self.weighted.to_dict(),
            "advice": list(self.advice),
            "examples": self.examples,
            "audits": [a.to_dict() for a in self.audits],
        }

    def to_markdown(self) -> str:
        lines = [
            f"| reward | mean | pass rate | pass@{self.k} | zero-variance groups | unscored |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for s in [*self.graders, self.weighted]:
            lines.append(
                f"| {s.name} | {_fmt(s.mean)} | {_pct(s.pass_rate)} | {_pct(s.pass_at_k)} | "
                f"{_pct(s.zero_variance_share)} | {_pct(s.unscored_frac)} |"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        verdict = "signal OK" if self.ok else "NO SIGNAL"
        head = (
            f"pre-flight: {self.n_prompts} prompts x {self.k} completions: {verdict} "
            f"({self.varied_share:.0%} of groups vary, need {self.min_varied:.0%})"
        )
        tail = "".join(f"\n- {a}" for a in self.advice)
        audits = "".join(f"\n\n{a}" for a in self.audits if not a.ok)
        return f"{head}\n{self.to_markdown()}{tail}{audits}"


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def _advice(graders: list[GraderSignal], weighted: GraderSignal, k: int, ok: bool) -> list[str]:
    if ok:
        return []
    out = []
    for s in graders:
        if s.unscored_frac > 0.2:
            out.append(
                f"{s.name!r} left {s.unscored_frac:.0%} of completions unscored: check the data has the fields "
                "its templates read (rft validate) and that any judge server is up."
            )
    means = [s.mean for s in graders if s.mean is not None]
    never = all((s.pass_at_k or 0) == 0 for s in graders) and all((m or 0) <= 1e-9 for m in means)
    always = means and all(s.pass_rate == 1.0 for s in graders)
    if never:
        out.append(
            "No completion earns any reward. Show the expected answer format in the prompt (a one- or "
            "two-example few-shot prompt), add a partial-credit grader (e.g. a format check beside the "
            "correctness check, or text_similarity), or start from easier data."
        )
    elif always:
        out.append("Every completion already earns full reward: use harder data, or the skill is already learnt.")
    else:
        out.append(
            "Rewards rarely differ within a prompt's group: add a partial-credit grader or mix easier and harder data."
        )
    out.append(f"Sample more completions per prompt (num_generations, now {k}) or raise the temperature.")
    return out


def preflight(
    model: Any,
    data: Any,
    graders: Any,
    config: Any = None,
    *,
    weights: Any = None,
    tokenizer: Any = None,
    n: int | None = None,
    k: int | None = None,
    raise_on_no_signal: bool = False,
    progress: bool = False,
    audit: Any = None,
) -> PreflightReport:
    """Sample ``k`` completions for ``n`` prompts with the training sampling settings and measure signal.

    ``model``/``data``/``graders``/``weights`` are as for :func:`rft.tune`; ``config`` is a
    :class:`~rft.TuneConfig` (its temperature, top_p, max_completion_length, seed,
    preflight_prompts, k, preflight_min_varied and audit are used). Before sampling, the reward
    graders get a quick :func:`rft.audit` on the rows (``audit=`` overrides ``config.audit``):
    an exploitable grader warns with the table of the probes that scored, or with ``"strict"``
    raises :class:`~rft.auditing.ExploitableGraderError` before anything is generated.

    >>> from rft import StringCheck, TuneConfig
    >>> from rft.testing import tiny_model
    >>> rows = [{"prompt": f"Say {i}"} for i in range(3)]
    >>> fmt = StringCheck(name="has_e", reference="e", operation="ilike")
    >>> config = TuneConfig(max_completion_length=6, num_generations=4, audit=False)  # a toy grader: no audit
    >>> report = preflight(tiny_model(), rows, [fmt], config, n=3)
    >>> report.n_prompts, report.k, [g.name for g in report.graders]
    (3, 4, ['has_e'])
    """
    config = config or TuneConfig()
    if tokenizer is not None:
        model = (model, tokenizer)
    model, tokenizer = load_model(model) if not _is_pair(model) else model
    loaded = load_rows(data)
    # rft.evaluate's row checker (one prompt rule), plus training's rule: one kind of prompt.
    check_rows(loaded, prompt_field="prompt", one_prompt_kind=True)
    rows = [dict(r) for r in loaded]
    n = n or config.preflight_prompts
    k = k or config.k
    rows = _spread(rows, n)
    rewards = reward_functions(graders, max_unscored_frac=1.0)
    ws = reward_weights(rewards, weights)
    audits = audit_rewards([r.grader for r in rewards], rows, mode=config.audit if audit is None else audit)
    prompts = [r["prompt"] for r in rows]
    outs = generate(
        model,
        tokenizer,
        prompts,
        max_new_tokens=config.max_completion_length,
        temperature=config.temperature,
        top_p=config.top_p,
        n=k,
        seed=config.seed,
        progress=progress,
    )
    chat = not isinstance(prompts[0], str)
    completions = [
        [{"role": "assistant", "content": text}] if chat else text for group in outs for text in group
    ]
    items = [row for row in rows for _ in range(k)]
    per_grader: list[list[float | None]] = []
    signals = []
    for reward in rewards:
        grader = reward.grader
        if hasattr(grader, "grade_batch"):
            grades = grader.grade_batch(completions, items)
            scores = [g.score for g in grades]
            passed = [g.passed for g in grades]
        else:  # a plain TRL reward function
            columns = {key: [it.get(key) for it in items] for key in items[0]}
            columns.pop("prompt", None)
            scores = list(grader(prompts=[it["prompt"] for it in items], completions=completions, **columns))
            passed = [None if s is None else s >= 1.0 for s in scores]
        per_grader.append(scores)
        signals.append(signal_stats(reward.name, _groups(scores, k), _groups(passed, k)))
    total = weighted(per_grader, ws)
    total_signal = signal_stats("weighted", _groups(total, k), [[None] * k for _ in range(len(rows))])
    total_signal = dataclasses.replace(total_signal, pass_at_k=None, pass_rate=None)
    varied = 1.0 - total_signal.zero_variance_share
    ok = varied >= config.preflight_min_varied and varied > 0
    examples = [
        {
            "prompt": _short(prompts[i]),
            "completion": outs[i][0][:300],
            "scores": {r.name: per_grader[j][i * k] for j, r in enumerate(rewards)},
        }
        for i in range(min(3, len(rows)))
    ]
    report = PreflightReport(
        n_prompts=len(rows),
        k=k,
        graders=signals,
        weighted=total_signal,
        min_varied=config.preflight_min_varied,
        advice=_advice(signals, total_signal, k, ok)
        + [
            f"reward grader {a.grader!r} can be gamed: {', '.join(a.by_probe())} (see rft.audit)"
            for a in audits
            if not a.ok
        ],
        examples=examples,
        audits=audits,
    )
    if raise_on_no_signal:
        report.raise_if_no_signal()
    return report


def _is_pair(model: Any) -> bool:
    return isinstance(model, tuple) and len(model) == 2


def _spread(rows: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """``n`` rows spread evenly over the dataset (deterministic), or all of them if fewer."""
    if n >= len(rows):
        return rows
    step = len(rows) / n
    return [rows[math.floor(i * step)] for i in range(n)]


def _groups(values: Sequence[Any], k: int) -> list[list[Any]]:
    return [list(values[i : i + k]) for i in range(0, len(values), k)]


def _short(prompt: Any) -> str:
    text = prompt if isinstance(prompt, str) else str(prompt[-1].get("content", "")) if prompt else ""
    return text[-200:]
