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
characters) is folded in C: characters folding to one character each (full-width forms) are
translated in one pass, which moves no position, and the text is split at the others (marks,
invisible characters, "½"; foreign digits too in text already NFKC), which alone are visited
in Python. Visiting every character took 110 ms per MB of Hindi, more than the detection
after it (60 ms); splitting takes 41 ms (measured). The map back holds a piece per character
split at, and no more: one per character that changed held 86 MiB while 1 MiB of full-width
card numbers was scanned.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from array import array
from bisect import bisect_right
from collections.abc import Iterable
from functools import cache, lru_cache
from itertools import accumulate, repeat
from typing import NamedTuple

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
_TRANSLATED = 0x20000  # the code points the table of characters folding to one covers


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


class _Folding(NamedTuple):
    """What :func:`fold` needs, built on first use (about 50 ms)."""

    same_length: str  # indexed by code point: what a character folding to one becomes
    has_same_length: re.Pattern[str]  # a character past Latin-1 folding to another single one
    other: re.Pattern[str]  # one folding to none, several or (in Latin-1) one, to split at
    other_or_digit: re.Pattern[str]  # the same or a digit of another script


@cache
def _folding() -> _Folding:
    """Exact in the BMP; past it, the planes of ``_ASTRAL_FOLDED`` are split at whole: listed
    one by one, their ranges cost a comparison each per character.

    Latin-1 characters folding to one (the no-break space, "ª", "²") are split at, not
    translated: they are sparse in the texts that hold them, mostly Latin-1, where a
    translation costs 13 ms per MB and a split next to nothing. The table reaches to the end
    of plane 1 (512 KB), where emoji are: a character past it costs the translation an
    exception (about 40 ns).
    """
    codes = array("I", range(_TRANSLATED))
    others: list[int] = []
    for code in range(0x80, 0x10000):
        char = chr(code)
        if not _may_change(char) or (folded := _fold_one(char)) == char:
            continue
        if len(folded) == 1 and code > 0xFF:
            codes[code] = ord(folded)
        else:
            others.append(code)
    changed = [code for code in range(0x100, 0x10000) if codes[code] != code]
    digits = [code for code in changed if chr(code).isdecimal()]
    return _Folding(
        codes.tobytes().decode(f"utf-32-{sys.byteorder[0]}e", "surrogatepass"),
        re.compile(f"[{_char_class(changed)}]"),
        re.compile(rf"([{_char_class(others)}{_ASTRAL_FOLDED}])"),
        re.compile(rf"([{_char_class(sorted(others + digits))}{_ASTRAL_FOLDED}])"),
    )


def _char_class(codes: Iterable[int]) -> str:
    """The inside of a character class matching ``codes`` (ascending), as ranges."""
    ranges: list[list[int]] = []
    for code in codes:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(
        re.escape(chr(low)) if low == high else f"{re.escape(chr(low))}-{re.escape(chr(high))}"
        for low, high in ranges
    )


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

    Kept as the folded pieces the text was split into, not as one position per character:
    the even ones are runs as long as they were (characters kept or folded to one each) and
    map by offset; each odd one was one character, and all it folded to comes from it. The
    offsets are summed on the first lookup (a text without findings needs none), into arrays
    (a list held a 32-byte int per piece); each lookup is a bisection.
    """

    __slots__ = ("_folded_at", "_original_at", "_pieces", "_size")

    def __init__(self, pieces: list[str], size: int) -> None:
        self._pieces = pieces
        self._size = size
        self._original_at: array[int] | None = None
        self._folded_at: array[int] = array("q")

    def __getitem__(self, index: int) -> int:
        if self._original_at is None:
            lengths = list(map(len, self._pieces))
            self._folded_at = array("q", accumulate(lengths, initial=0))
            lengths[1::2] = repeat(1, len(lengths) // 2)
            self._original_at = array("q", accumulate(lengths, initial=0))
        if index >= self._folded_at[-1]:
            return self._size
        # The last piece starting at or before ``index``: pieces that folded to nothing start
        # where the next one does, so this is the one that holds it.
        piece = bisect_right(self._folded_at, index) - 1
        start = self._original_at[piece]
        if self._original_at[piece + 1] - start != len(self._pieces[piece]):
            return start
        return start + index - self._folded_at[piece]


def fold(text: str) -> tuple[str, FoldMap | None]:
    """``(folded, origin)``: ``origin[i]`` is where folded character ``i`` came from.

    ``origin`` is None when positions are the same (nothing changed, or only characters
    folding to one character each).
    """
    if text.isascii():
        return text, None
    normalized = unicodedata.is_normalized("NFKC", text)
    if normalized and _needs_folding().search(text) is None:
        return text, None
    folding = _folding()
    if normalized:
        # Of the characters folding to one, text already NFKC (Hindi, Thai, Arabic) holds
        # only digits of other scripts: split at too, they cost it no search of their own.
        pieces = folding.other_or_digit.split(text)
    else:
        # Characters folding to one keep every position: translated in one pass, they need no
        # piece of their own, and a text of full-width forms is one piece, mapped by offset.
        # The pieces of the translated text are as long as those of the original.
        if folding.has_same_length.search(text) is not None:
            text = text.translate(folding.same_length)
        pieces = folding.other.split(text)
    if len(pieces) == 1:
        return text, None
    # Folded in place: the map needs no copy of the characters split at (a string each), as
    # each was one character.
    pieces[1::2] = map(_fold_char, pieces[1::2])
    return "".join(pieces), FoldMap(pieces, len(text))


def original_span(origin: FoldMap, start: int, end: int) -> tuple[int, int]:
    """The span of the original text that folded ``[start, end)`` came from (``end > start``).

    It reaches up to the next character kept, so that what was folded away right after the
    span goes with it: "José" typed decomposed is redacted with its accent (U+0301) too.
    Two spans may share an original character that folded to several ("℅" is "c/o").
    """
    return origin[start], max(origin[end - 1] + 1, origin[end])
