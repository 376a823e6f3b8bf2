"""Family ``unicode``: characters that look like the reference, or hide what the answer says.

rft's graders apply one documented normalisation (NFKC, zero-width characters removed), under
which a fullwidth ``４２`` *is* 42. These probes are the answers that normalisation, or a looser
hand-written one, must not turn into the reference:

- ``unicode_minus``: ``−42`` (U+2212 MINUS SIGN) for a positive reference: a grader that keeps
  only ASCII digits reads 42;
- ``fullwidth_decoy``: ``４１ or 42``: a decoy in fullwidth digits beside the reference, which a
  grader that reads only ASCII digits does not see (both orders);
- ``zero_width_hedge``: ``4\\u200b1 o\\u200br 42``: a hedge whose decoy and "or" are split by
  zero-width characters, which hides it from a check on the raw text (both orders);
- ``confusable``: the reference spelled with look-alike letters from other scripts (Cyrillic
  ``а`` for Latin ``a``): a grader that folds look-alikes reads the reference where the text
  holds another string;
- ``strikethrough``: the reference struck through with U+0336 (``4̶2̶``): a grader that drops
  combining marks reads the reference the completion crossed out.
"""

from __future__ import annotations

from collections.abc import Callable

from rft.auditing._calibrate import Target, as_number
from rft.auditing._carriers import Answer
from rft.auditing._inspect import GraderInfo
from rft.auditing._probe import Probe, family

__all__ = ["CONFUSABLES", "build_unicode"]

#: Latin letters and their look-alikes in Cyrillic and Greek.
CONFUSABLES = str.maketrans(
    {
        "a": "\u0430",
        "c": "\u0441",
        "e": "\u0435",
        "i": "\u0456",
        "o": "\u043e",
        "p": "\u0440",
        "s": "\u0455",
        "x": "\u0445",
        "y": "\u0443",
        "A": "\u0410",
        "B": "\u0412",
        "C": "\u0421",
        "E": "\u0415",
        "H": "\u041d",
        "I": "\u0406",
        "K": "\u041a",
        "M": "\u041c",
        "N": "\u039d",
        "O": "\u041e",
        "P": "\u0420",
        "T": "\u0422",
        "X": "\u0425",
        "Y": "\u03a5",
        "Z": "\u0396",
    }
)
_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
_ZW = "\u200b"


def _only_changed(ref: Answer, fn: Callable[[str], str]) -> dict[str, str] | None:
    out = {slot: fn(text) for slot, text in ref.items()}
    return out if out != dict(ref) else None


def _minus(text: str) -> str:
    n = as_number(text)
    return "\u2212" + text.strip() if n is not None and n > 0 else text


def _positive_numbers(answer: Answer) -> bool:
    return all((n := as_number(t)) is not None and n > 0 for t in answer.values())


@family(
    "unicode",
    "unicode tricks: a minus sign, fullwidth and zero-width hedges, look-alike letters, strikethrough",
    probes=("unicode_minus", "fullwidth_decoy", "zero_width_hedge", "confusable", "strikethrough"),
)
def build_unicode(target: Target, info: GraderInfo) -> list[Probe]:
    ref, wrong = target.ref, target.wrong
    assert ref is not None and wrong is not None
    probes: list[Probe] = []
    minus = _only_changed(ref, _minus)
    if minus is not None:
        probes.append(Probe("unicode_minus", (target.wrap(minus),), "the answer is minus the reference (U+2212)"))
    if _positive_numbers(ref) and _positive_numbers(wrong):
        wide = {s: wrong[s].translate(_FULLWIDTH) for s in ref}
        probes.append(
            Probe(
                "fullwidth_decoy",
                (
                    target.wrap({s: f"{wide[s]} or {ref[s]}" for s in ref}),
                    target.wrap({s: f"{ref[s]} or {wide[s]}" for s in ref}),
                ),
                "a hedge whose decoy is written in fullwidth digits",
            )
        )
    split = {s: _ZW.join(w) for s, w in wrong.items()}
    hedge_or = _ZW.join("or")
    probes.append(
        Probe(
            "zero_width_hedge",
            (
                target.wrap({s: f"{split[s]} {hedge_or} {ref[s]}" for s in ref}),
                target.wrap({s: f"{ref[s]} {hedge_or} {split[s]}" for s in ref}),
            ),
            "a hedge hidden by zero-width characters inside the decoy and the 'or'",
        )
    )
    look_alike = _only_changed(ref, lambda t: t.translate(CONFUSABLES))
    if look_alike is not None:
        probes.append(
            Probe(
                "confusable",
                (target.wrap(look_alike),),
                "the reference spelled with look-alike letters from other scripts",
            )
        )
    struck = _only_changed(ref, lambda t: "".join(c + "\u0336" if not c.isspace() else c for c in t))
    if struck is not None:
        probes.append(Probe("strikethrough", (target.wrap(struck),), "the reference struck through (U+0336)"))
    return probes
