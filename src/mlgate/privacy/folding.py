"""Folding of Unicode disguises before detection, with a map back to the original positions.

Recognizers see ASCII-shaped PII: an e-mail address with a full-width "@" (U+FF20), or a card
number in full-width or Arabic-Indic digits, would slip past them, and a zero-width space inside
an e-mail address would leave its first part unredacted. :func:`fold` removes invisible format
characters (zero-width spaces and joiners, soft hyphens, bidi controls, BOM), applies NFKC to
each character (full-width forms, no-break spaces, the small "@" U+FE6B) and turns every
decimal digit into its ASCII one. The detector runs on the folded text and maps each finding
back, so what gets redacted is the original span, disguise included.

What must stay true: text that needs no folding (all ASCII, or already NFKC without format
characters or foreign digits, which is nearly all text) costs one or two C-speed checks.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = ["fold", "original_span"]

# Invisible characters that change no meaning but split a token: Unicode category Cf in the
# ranges text actually uses, plus the Hangul fillers and the combining grapheme joiner.
_INVISIBLE = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0"
)
_NEEDS_FOLDING = re.compile(rf"[{_INVISIBLE}]|(?![0-9])\d")
_INVISIBLE_CHAR = re.compile(rf"[{_INVISIBLE}]")
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")


@lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    if _INVISIBLE_CHAR.match(char):
        return ""
    if char.isdecimal():
        return str(unicodedata.decimal(char))
    return unicodedata.normalize("NFKC", char)


def fold(text: str) -> tuple[str, list[int] | None]:
    """``(folded, origin)``: ``origin[i]`` is where folded character ``i`` came from.

    ``origin`` is None when nothing changed (then positions are the same); otherwise it has
    one more entry than ``folded``, ``len(text)``, so that an end position maps too.
    """
    if text.isascii() or (
        unicodedata.is_normalized("NFKC", text) and _NEEDS_FOLDING.search(text) is None
    ):
        return text, None
    parts: list[str] = []
    origin: list[int] = []
    cursor = 0
    for run in _NON_ASCII_RUN.finditer(text):
        start, end = run.span()
        parts.append(text[cursor:start])
        origin.extend(range(cursor, start))
        for index in range(start, end):
            folded = _fold_char(text[index])
            parts.append(folded)
            origin.extend([index] * len(folded))
        cursor = end
    parts.append(text[cursor:])
    origin.extend(range(cursor, len(text) + 1))
    return "".join(parts), origin


def original_span(origin: list[int], start: int, end: int) -> tuple[int, int]:
    """The span of the original text that folded ``[start, end)`` came from (``end > start``)."""
    return origin[start], origin[end - 1] + 1
