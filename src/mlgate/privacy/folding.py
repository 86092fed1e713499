"""Folding of Unicode disguises before detection, with a map back to the original positions.

Recognizers see ASCII-shaped PII: an e-mail address with a full-width "@" (U+FF20), or a card
number in full-width or Arabic-Indic digits, would slip past them, and a zero-width space inside
an e-mail address would leave its first part unredacted. So would a combining mark: "jóhn"
typed decomposed (NFD: "o", then U+0301) holds a character that is neither letter nor digit,
which splits the word for the recognizers' patterns. :func:`fold` removes invisible format
characters (zero-width spaces and joiners, soft hyphens, bidi controls, BOM, tag characters),
code points that are no character (lone surrogates, private-use and unassigned ones: only
"hn@example.com" of "jo\\ue000hn@example.com" was found) and combining marks (categories Mn
and Me: accents typed apart, the keycap U+20E3), applies NFKC to each character (full-width
forms, no-break spaces, the small "@" U+FE6B) and turns every decimal digit into its ASCII
one. The detector runs on the folded text and maps each finding back, so what gets redacted
is the original span, disguise included.

What must stay true: text that needs no folding (all ASCII, or already NFKC without format
characters, combining marks, code points that are no character, foreign digits, or
characters past the BMP other than emoji, which is nearly all text) costs one or two
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
import unicodedata
from array import array
from bisect import bisect_right
from collections.abc import Iterable
from functools import cache, lru_cache, partial
from itertools import accumulate, chain, compress, repeat, zip_longest
from typing import NamedTuple

__all__ = ["FoldMap", "fold", "original_span"]

# Invisible characters that change no meaning but split a token: Unicode category Cf in the
# ranges text actually uses, the tag characters, the Hangul fillers and the combining grapheme
# joiner.
_INVISIBLE = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0001\U000e0020-\U000e007f"
)
_DROPPED = re.compile(f"[{_INVISIBLE}]")
_MARKS = frozenset({"Mn", "Me"})
# Code points that are no character anyone typed, folded away as invisible ones are: private
# use (Co: an icon font's glyphs, a vendor's placeholders, U+E000 inside "jo\ue000hn@…"),
# unassigned (Cn, in the Unicode version of this Python: a newer character folds away too)
# and lone surrogates (Cs: a JSON string may hold "\ud800", half of a UTF-16 pair).
_NO_CHARACTER = frozenset({"Co", "Cn", "Cs"})
_FOLDED_AWAY = _MARKS | _NO_CHARACTER
# The planes past the BMP hold characters folding to something else (historic scripts,
# mathematical letters, enclosed alphanumerics, CJK compatibility ideographs, tags, variation
# selectors) and unassigned or private-use code points nearly everywhere: the slow path
# visits each of their characters, folded or not. Listed one by one, the ranges cost a
# comparison each for every character of the text.
_ASTRAL = "\U00010000-\U0010ffff"
_EMOJI = 0x1F000  # from here to the end of plane 1: emoji and symbols
_DIGIT = re.compile(r"\d")  # any script's
_TRANSLATED = 0x20000  # the code points the table of characters folding to one covers
_BYTES = bytes(range(256))


def _code_points(start: int, stop: int) -> str:
    """The characters from ``start`` to ``stop`` (multiples of 256; surrogates too).

    Made as UTF-32 bytes by slices, in C: an ``array`` of the range took 2.5 times longer.
    """
    blocks = range(start >> 8, stop >> 8)
    utf32 = bytearray(4 * (stop - start))
    utf32[0::4] = _BYTES * len(blocks)
    utf32[1::4] = b"".join(_BYTES[block & 0xFF : (block & 0xFF) + 1] * 256 for block in blocks)
    utf32[2::4] = b"".join(_BYTES[block >> 8 : (block >> 8) + 1] * 256 for block in blocks)
    return utf32.decode("utf-32-le", "surrogatepass")


@cache
def _folded_away_in_bmp() -> array[int]:
    """Marks, private-use, unassigned and surrogate code points of the BMP (about 6 ms)."""
    categories = map(unicodedata.category, _code_points(0, 0x10000))
    return array("I", compress(range(0x10000), map(_FOLDED_AWAY.__contains__, categories)))


@cache
def _needs_folding() -> re.Pattern[str]:
    """A character only the slow path folds right; built on first use (about 10 ms).

    One class, no alternative: with "|(?![0-9])\\d" for foreign digits the search tried each
    position in turn, five times slower than the class's scan (28 MB/s of Spanish, 146
    without: measured). The BMP's characters are listed: a class of them compiles to one
    bitmap lookup each. Past the BMP, a class of the marks' 124 ranges made the search six
    times slower, so the planes take the slow path whole (CJK extensions too: they are rare,
    and planes 2 and 3 hold unassigned code points), but for the emoji and symbols of plane 1
    (U+1F000 on): common in chat, and of them only the unassigned ones need folding. The
    lookbehind lists the others; it runs only where the class matched. Characters NFKC
    changes need no listing: the text is not NFKC then.
    """
    bmp = _code_points(0, 0x10000)
    folded = set(_folded_away_in_bmp())
    folded.update(match.start() for match in _DIGIT.finditer(bmp, 0x80))
    unchanged = [
        code
        for code, char in enumerate(_code_points(_EMOJI, 0x20000), _EMOJI)
        if unicodedata.category(char) not in _FOLDED_AWAY and not char.isdecimal()
    ]
    return re.compile(
        f"[{_INVISIBLE}{_char_class(sorted(folded))}{_ASTRAL}](?<![{_char_class(unchanged)}])"
    )


class _Folding(NamedTuple):
    """What :func:`fold` needs, built on first use (about 20 ms)."""

    same_length: str  # indexed by code point: what a character folding to one becomes
    has_same_length: re.Pattern[str]  # a character past Latin-1 folding to another single one
    other: re.Pattern[str]  # one folding to none, several or (in Latin-1) one, to split at
    other_or_digit: re.Pattern[str]  # the same or a digit of another script


@cache
def _folding() -> _Folding:
    """Exact in the BMP; past it, every character is split at (``_ASTRAL``).

    Latin-1 characters folding to one (the no-break space, "ª", "²") are split at, not
    translated: they are sparse in the texts that hold them, mostly Latin-1, where a
    translation costs 13 ms per MB and a split next to nothing. The table reaches to the end
    of plane 1 (512 KB), where emoji are: a character past it costs the translation an
    exception (about 40 ns).

    Only the characters that may change are visited in Python, found by C-speed maps over the
    BMP: visiting each of its 65,000 took 36 ms.
    """
    bmp = _code_points(0, 0x10000)
    normalized = bytes(map(partial(unicodedata.is_normalized, "NFKC"), bmp))
    may_change = {match.start() for match in re.finditer(b"\x00", normalized)}
    may_change.update(match.start() for match in _DIGIT.finditer(bmp, 0x80))
    others = {code for code in _folded_away_in_bmp() if code >= 0x80}
    others.update(match.start() for match in _DROPPED.finditer(bmp))
    changed: list[int] = []  # ascending
    into: list[str] = []  # what each of them becomes
    for code in sorted(may_change - others):
        char = chr(code)
        if (folded := _fold_one(char)) == char:
            continue
        if len(folded) == 1 and code > 0xFF:
            changed.append(code)
            into.append(folded)
        else:
            others.add(code)
    # The table: each code point, but for the characters changed, cut in around them.
    table = _code_points(0, _TRANSLATED)
    starts = [0, *(code + 1 for code in changed)]
    kept = map(table.__getitem__, map(slice, starts, [*changed, _TRANSLATED]))
    digits = [code for code in changed if chr(code).isdecimal()]
    return _Folding(
        "".join(chain.from_iterable(zip_longest(kept, into, fillvalue=""))),
        re.compile(f"[{_char_class(changed)}]"),
        re.compile(f"([{_char_class(sorted(others))}{_ASTRAL}])"),
        re.compile(f"([{_char_class(sorted(others.union(digits)))}{_ASTRAL}])"),
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


def _fold_one(char: str) -> str:
    if unicodedata.category(char) in _FOLDED_AWAY or _DROPPED.match(char):
        return ""
    if char.isdecimal():
        return str(unicodedata.decimal(char))
    # A mark NFKC leaves folds to nothing too (U+00B4 is " " + U+0301).
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
    pieces[1::2] = folded = list(map(_fold_char, pieces[1::2]))
    if all(map((1).__eq__, map(len, folded))):
        # Each folded to one character (a CJK ideograph past the BMP kept, a no-break space):
        # no position moved, and findings need no mapping (3.5 µs each).
        return "".join(pieces), None
    return "".join(pieces), FoldMap(pieces, len(text))


def original_span(origin: FoldMap, start: int, end: int) -> tuple[int, int]:
    """The span of the original text that folded ``[start, end)`` came from (``end > start``).

    It reaches up to the next character kept, so that what was folded away right after the
    span goes with it: "José" typed decomposed is redacted with its accent (U+0301) too.
    Two spans may share an original character that folded to several ("℅" is "c/o").
    """
    return origin[start], max(origin[end - 1] + 1, origin[end])
