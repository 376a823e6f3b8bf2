"""Text helpers shared by graders: the one documented normalisation."""

from __future__ import annotations

import unicodedata

__all__ = ["ZERO_WIDTH", "clip", "normalize_text", "short_repr"]

#: Characters that render as nothing and are removed by :func:`normalize_text`.
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"
_DROP = dict.fromkeys(map(ord, ZERO_WIDTH))


def normalize_text(text: str) -> str:
    """rft's one normalisation: NFKC, zero-width characters removed, outer whitespace stripped.

    NFKC folds fullwidth digits and letters to ASCII and no-break spaces to plain spaces, so a
    policy cannot win or lose on look-alike characters. Case is kept.

    >>> normalize_text("\\u00a0\\uff14\\u200b2 ")
    '42'
    """
    if text.isascii():
        return text.strip()
    return unicodedata.normalize("NFKC", text).translate(_DROP).strip()


def short_repr(text: str | None, limit: int = 60) -> str:
    """``repr`` of ``text`` cut to ``limit`` characters, for reasons shown to people.

    >>> short_repr("x" * 100, limit=8)
    "'xxxxx...'"
    """
    if text is None:
        return "None"
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def clip(text: str | None, limit: int = 500) -> str | None:
    """``text`` cut to ``limit`` characters (with ``...``), for values kept in ``Grade.details``."""
    return text if text is None or len(text) <= limit else text[:limit] + "..."
