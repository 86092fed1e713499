"""Folding of Unicode disguises before detection, with a map back to the original positions.

Recognizers see ASCII-shaped PII: an e-mail address with a full-width "@" (U+FF20), or a card
number in full-width or Arabic-Indic digits, would slip past them, and a zero-width space inside
an e-mail address would leave its first part unredacted. So would a combining mark: "jóhn"
typed decomposed (NFD: "o", then U+0301) holds a character that is neither letter nor digit,
which splits the word for the recognizers' patterns. :func:`fold` removes invisible format
characters (zero-width spaces and joiners, soft hyphens, bidi controls, BOM, tag characters)
and combining marks (categories Mn and Me: accents typed apart, the keycap U+20E3), applies
NFKC to each character (full-width forms, no-break spaces, the small "@" U+FE6B) and turns
every decimal digit into its ASCII one. The detector runs on the folded text and maps each
finding back, so what gets redacted is the original span, disguise included.

What must stay true: text that needs no folding (all ASCII, or already NFKC without format
characters, combining marks or foreign digits, which is nearly all text) costs one or two
C-speed checks.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache

__all__ = ["fold", "original_span"]

# Invisible characters that change no meaning but split a token: Unicode category Cf in the
# ranges text actually uses, the tag characters, the Hangul fillers and the combining grapheme
# joiner.
_INVISIBLE = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0001\U000e0020-\U000e007f"
)
_INVISIBLE_CHAR = re.compile(rf"[{_INVISIBLE}]")
_MARKS = frozenset({"Mn", "Me"})
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")


@cache
def _needs_folding() -> re.Pattern[str]:
    """A character only the slow path folds right; built on first use (about 6 ms).

    The combining marks of the BMP are listed: a class of BMP characters compiles to one
    bitmap lookup per character. Past the BMP a class of the marks' 124 ranges made the search
    six times slower, so the planes that hold marks there (U+10000-U+1EFFF: historic scripts,
    musical and mathematical symbols; U+E0000-U+E0FFF: tags, variation selectors) take the slow
    path whole. Emoji (U+1F000 on) and CJK extensions (U+20000 on) hold none and do not.
    """
    marks = "".join(
        re.escape(chr(c)) for c in range(0x10000) if unicodedata.category(chr(c)) in _MARKS
    )
    return re.compile(
        rf"[{_INVISIBLE}{marks}\U00010000-\U0001efff\U000e0000-\U000e0fff]|(?![0-9])\d"
    )


@lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    if _INVISIBLE_CHAR.match(char):
        return ""
    if char.isdecimal():
        return str(unicodedata.decimal(char))
    # A mark alone folds to nothing, and so does one NFKC leaves (U+00B4 is " " + U+0301).
    folded = unicodedata.normalize("NFKC", char)
    return "".join(c for c in folded if unicodedata.category(c) not in _MARKS)


def fold(text: str) -> tuple[str, list[int] | None]:
    """``(folded, origin)``: ``origin[i]`` is where folded character ``i`` came from.

    ``origin`` is None when nothing changed (then positions are the same); otherwise it has
    one more entry than ``folded``, ``len(text)``, so that an end position maps too.
    """
    if text.isascii() or (
        unicodedata.is_normalized("NFKC", text) and _needs_folding().search(text) is None
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
    """The span of the original text that folded ``[start, end)`` came from (``end > start``).

    It reaches up to the next character kept, so that what was folded away right after the
    span goes with it: "José" typed decomposed is redacted with its accent (U+0301) too.
    Two spans may share an original character that folded to several ("℅" is "c/o").
    """
    return origin[start], max(origin[end - 1] + 1, origin[end])
