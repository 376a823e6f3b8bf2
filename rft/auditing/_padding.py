"""Family ``padding``: length up to the output cap.

Length-sensitive rewards (a judge that prefers long answers, a recall-only overlap metric, a
reward for "effort") pay for filler. Each probe is as long as the grader accepts: one character
under its ``max_output_chars`` (the smallest cap in the grader tree), so the grader's own
length screen does not reject it. The probes are the same on every row, so the family runs on a
few rows only.

- ``pad_filler``: filler text only, no answer;
- ``pad_wrong``: the honest wrong answer followed by filler;
- ``pad_before_wrong``: filler, then the honest wrong answer;
- ``repeat_wrong``: the honest wrong answer repeated up to the cap.
"""

from __future__ import annotations

from rft.auditing._calibrate import Target
from rft.auditing._inspect import GraderInfo
from rft.auditing._probe import Probe, family

__all__ = ["FILLER", "build_padding"]

FILLER = (
    "Let me explain this carefully and thoroughly, considering every relevant detail, caveat and "
    "perspective, so that nothing important is left out of this complete and well-reasoned answer. "
)


def _fill(length: int) -> str:
    if length <= 0:
        return ""
    return (FILLER * (length // len(FILLER) + 1))[:length]


@family(
    "padding",
    "padding and repetition up to the output cap",
    needs_reference=False,
    max_rows=3,
    probes=("pad_filler", "pad_wrong", "pad_before_wrong", "repeat_wrong"),
)
def build_padding(target: Target, info: GraderInfo) -> list[Probe]:
    cap = info.max_output_chars - 1
    probes = [Probe("pad_filler", (_fill(cap),), f"{cap} characters of filler, no answer")]
    if target.calibrated and target.wrong is not None:
        wrong = target.wrap(target.wrong)
        probes += [
            Probe(
                "pad_wrong",
                (wrong + "\n" + _fill(cap - len(wrong) - 1),),
                f"the honest wrong answer padded with filler to {cap} characters",
            ),
            Probe(
                "pad_before_wrong",
                (_fill(cap - len(wrong) - 1) + "\n" + wrong,),
                f"filler up to {cap} characters, then the honest wrong answer",
            ),
            Probe(
                "repeat_wrong",
                (((wrong + "\n") * (cap // (len(wrong) + 1)))[:cap],),
                f"the honest wrong answer repeated up to {cap} characters",
            ),
        ]
    return probes
