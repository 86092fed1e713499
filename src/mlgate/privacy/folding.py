"""Folding of Unicode disguises before detection, with a map back to the original positions.

Recognizers see ASCII-shaped PII: an e-mail address with a full-width "@" (U+FF20), or a card
number in full-width or Arabic-Indic digits, would slip past them, and a zero-width space inside
an e-mail address would leave its first part unredacted. So would a combining mark: "jóhn"
typed decomposed (NFD: "o", then U+0301) holds a character that is neither letter nor digit,
which splits the word for the recognizers' patterns. :func:`fold` removes invisible format
characters (zero-width spaces and joiners, soft hyphens, bidi controls, BOM, tag characters),
lone surrogates (a JSON string may hold "\\ud800", half of a UTF-16 pair and no character)
and combining marks (categories Mn and Me: accents typed apart, the keycap U+20E3), applies
NFKC to each character (full-width forms, no-break spaces, the small "@" U+FE6B) and turns
every decimal digit into its ASCII one. The detector runs on the folded text and maps each
finding back, so what gets redacted is the original span, disguise included.

What must stay true: text that needs no folding (all ASCII, or already NFKC without format
characters, combining marks or foreign digits, which is nearly all text) costs one or two
C-speed checks. Text that does (Hindi, Thai or vowelled Arabic hold a mark every few
characters) is split at the characters that change, in C, and only those are visited in
Python: visiting every character took 110 ms per MB of Hindi, more than the detection after
it (60 ms); splitting takes 41 ms (measured).
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from functools import cache, lru_cache
from itertools import accumulate

__all__ = ["FoldMap", "fold", "original_span"]

# Invisible characters that change no meaning but split a token: Unicode category Cf in the
# ranges text actually uses, the tag characters, the Hangul fillers and the combining grapheme
# joiner.
_INVISIBLE = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0001\U000e0020-\U000e007f"
)
# Halves of UTF-16 pairs, alone: no character, so folded away like an invisible one.
_SURROGATES = "\ud800-\udfff"
_DROPPED = re.compile(rf"[{_INVISIBLE}{_SURROGATES}]")
_MARKS = frozenset({"Mn", "Me"})
# Past the BMP, the planes holding characters that fold to something else: historic scripts,
# mathematical letters, enclosed alphanumerics and digits (plane 1), CJK compatibility
# ideographs (U+2F800-U+2FA1F), tags and variation selectors (plane 14). Their characters are
# visited whole, folded or not: listed one by one, the class cost a comparison per range for
# every character of the text.
_ASTRAL_FOLDED = "\U00010000-\U0001ffff\U0002f800-\U0002fa1f\U000e0000-\U000e0fff"


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
        rf"[{_INVISIBLE}{_SURROGATES}{marks}\U00010000-\U0001efff\U000e0000-\U000e0fff]"
        r"|(?![0-9])\d"
    )


@cache
def _changing() -> re.Pattern[str]:
    """One character :func:`_fold_one` changes, as a group to split at (built in about 30 ms).

    Exact in the BMP; past it, the planes of ``_ASTRAL_FOLDED`` whole.
    """
    changed = [
        code
        for code in range(0x80, 0x10000)
        if _may_change(chr(code)) and _fold_one(chr(code)) != chr(code)
    ]
    ranges: list[list[int]] = []
    for code in changed:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    listed = "".join(
        re.escape(chr(low)) if low == high else f"{re.escape(chr(low))}-{re.escape(chr(high))}"
        for low, high in ranges
    )
    return re.compile(rf"([{listed}{_ASTRAL_FOLDED}])")


def _may_change(char: str) -> bool:
    """Cheap checks that every character :func:`_fold_one` changes passes."""
    return (
        _DROPPED.match(char) is not None
        or char.isdecimal()
        or unicodedata.category(char) in _MARKS
        or not unicodedata.is_normalized("NFKC", char)
    )


def _fold_one(char: str) -> str:
    if _DROPPED.match(char):
        return ""
    if char.isdecimal():
        return str(unicodedata.decimal(char))
    # A mark alone folds to nothing, and so does one NFKC leaves (U+00B4 is " " + U+0301).
    folded = unicodedata.normalize("NFKC", char)
    return "".join(c for c in folded if unicodedata.category(c) not in _MARKS)


_fold_char = lru_cache(maxsize=4096)(_fold_one)


class FoldMap:
    """Where each character of a folded text came from: ``origin[i]`` is its position in the
    original, and ``origin[len(folded)]`` is ``len(text)``, so that an end position maps too.

    Kept as the pieces the text was split into (runs kept as they were, and each character
    that changed), not as one position per character: the pieces' offsets are summed on the
    first lookup (a text without findings needs none), and each lookup is a bisection.
    """

    __slots__ = ("_folded", "_folded_at", "_original", "_original_at", "_size")

    def __init__(self, pieces: list[str], folded: list[str], size: int) -> None:
        self._original = pieces  # even: a run kept as it was; odd: one character that changed
        self._folded = folded
        self._size = size
        self._original_at: list[int] | None = None
        self._folded_at: list[int] = []

    def __getitem__(self, index: int) -> int:
        if self._original_at is None:
            self._original_at = list(accumulate(map(len, self._original), initial=0))
            self._folded_at = list(accumulate(map(len, self._folded), initial=0))
        if index >= self._folded_at[-1]:
            return self._size
        # The last piece starting at or before ``index``: pieces that folded to nothing start
        # where the next one does, so this is the one that holds it.
        piece = bisect_right(self._folded_at, index) - 1
        if piece % 2:  # all a changed character folded to comes from it
            return self._original_at[piece]
        return self._original_at[piece] + index - self._folded_at[piece]


def fold(text: str) -> tuple[str, FoldMap | None]:
    """``(folded, origin)``: ``origin[i]`` is where folded character ``i`` came from.

    ``origin`` is None when nothing changed (then positions are the same).
    """
    if text.isascii() or (
        unicodedata.is_normalized("NFKC", text) and _needs_folding().search(text) is None
    ):
        return text, None
    pieces = _changing().split(text)
    folded = pieces.copy()
    folded[1::2] = map(_fold_char, pieces[1::2])
    return "".join(folded), FoldMap(pieces, folded, len(text))


def original_span(origin: FoldMap, start: int, end: int) -> tuple[int, int]:
    """The span of the original text that folded ``[start, end)`` came from (``end > start``).

    It reaches up to the next character kept, so that what was folded away right after the
    span goes with it: "José" typed decomposed is redacted with its accent (U+0301) too.
    Two spans may share an original character that folded to several ("℅" is "c/o").
    """
    return origin[start], max(origin[end - 1] + 1, origin[end])
