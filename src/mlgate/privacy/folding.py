"""Folding of Unicode disguises before detection, with a map back to the original positions.

Recognizers see ASCII-shaped PII: an e-mail address with a full-width "@" (U+FF20), or a card
number in full-width or Arabic-Indic digits, would slip past them, and a zero-width space inside
an e-mail address would leave its first part unredacted. So would a combining mark: "jóhn"
typed decomposed (NFD: "o", then U+0301) holds a character that is neither letter nor digit,
which splits the word for the recognizers' patterns. :func:`fold` removes invisible format
characters (zero-width spaces and joiners, soft hyphens, bidi controls, BOM, tag characters),
code points that are no character (lone surrogates, private-use ones and unassigned ones but
among symbols and emoji: only "hn@example.com" of "jo\\ue000hn@example.com" was found) and
combining marks (categories Mn and Me: accents typed apart, the keycap U+20E3), applies NFKC
to each character (full-width forms, no-break spaces, the small "@" U+FE6B) and turns every
decimal digit into its ASCII one. The detector runs on the folded text and maps each finding
back, so what gets redacted is the original span, disguise included.

What must stay true: text that needs no folding (all ASCII, or already NFKC without format
characters, combining marks, code points that are no character, foreign digits, or characters of
plane 1 below its emoji, which is nearly all text: CJK ideographs past the BMP and emoji
included) costs one or two C-speed checks. Text that does (Hindi, Thai or vowelled Arabic hold a
mark every few characters) is folded in C: characters folding to one character each (full-width
forms) are translated in one pass, which moves no position, and the text is split at the others
(marks, invisible characters, "½"; foreign digits too in text already NFKC), which alone are
visited in Python. Visiting every character took 110 ms per MB of Hindi, more than the detection
after it (60 ms); splitting takes 41 ms (measured). The map back holds a piece per character
split at, and no more: one per character that changed held 86 MiB while 1 MiB of full-width card
numbers was scanned.
"""

from __future__ import annotations

import re
import unicodedata
from array import array
from bisect import bisect_right
from collections.abc import Iterable
from functools import cache, lru_cache, partial
from itertools import accumulate, chain, compress, filterfalse, repeat, zip_longest
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
# unassigned ones (Cn, in the Unicode version of this Python) but those of
# ``_VISIBLE_UNASSIGNED``, and lone surrogates (Cs: a JSON string may hold "\ud800", half of
# a UTF-16 pair).
#
# The trade-off: what is folded away glues its neighbours. "212-555-0199\ue0001234" is read
# as one longer number, no phone, and "john@example.com\ue000Phone" as an address ending in
# "comPhone", redacted with the word. Private use is folded away all the same: an icon font's
# glyph between two numbers is rarer than one put inside an address to split it.
_FOLDED_AWAY = _MARKS | {"Co", "Cs"}
# Unassigned code points in the blocks that keep gaining symbols and emoji: currency signs
# (U+20A0-U+20CF), letterlike symbols to the miscellaneous symbols and arrows (U+2100-U+2BFF:
# arrows, technical symbols, control pictures), the symbols for legacy computing's supplement
# (U+1CC00-U+1CEBF), and emoji and symbols from U+1F000 to the end of plane 1. There they are
# characters of a later Unicode than this Python's (Python 3.11 has Unicode 14, where the emoji
# U+1FA77 and U+1FAE8 are unassigned), seen as a glyph or a box; folded away, they glued their
# neighbours ("4111111111111111\U0001fa7712/26" was one number too long to be a card). Kept, they
# are visible characters as every emoji is. Elsewhere (between the letters of a script, as in
# "jo\u0378hn@…") an unassigned code point is folded away.
_VISIBLE_UNASSIGNED = (
    (0x20A0, 0x20CF), (0x2100, 0x2BFF), (0x1CC00, 0x1CEBF), (0x1F000, 0x1FFFF),
)  # fmt: skip
# Each of their code points: looked up for every unassigned one folded (a flood of them is
# folded one by one), where trying the ranges in turn tripled the time.
_VISIBLE = frozenset(chain.from_iterable(range(low, high + 1) for low, high in _VISIBLE_UNASSIGNED))
_EMOJI = 0x1F000  # from here to the end of plane 1: emoji and symbols
_PAST_CJK = 0x40000  # from here: tags, variation selectors, private use and unassigned
_ASTRAL = "\U00010000-\U0010ffff"
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


def _folds_away(char: str) -> bool:
    category = unicodedata.category(char)
    if category == "Cn":
        return ord(char) not in _VISIBLE
    return category in _FOLDED_AWAY


@cache
def _folded_away_in_bmp() -> array[int]:
    """Marks, private-use, unassigned and surrogate code points of the BMP (about 6 ms)."""
    categories = map(unicodedata.category, _code_points(0, 0x10000))
    codes = compress(range(0x10000), map(_FOLDED_AWAY.union({"Cn"}).__contains__, categories))
    visible = {
        code for code in _VISIBLE if code < 0x10000 and unicodedata.category(chr(code)) == "Cn"
    }
    return array("I", filterfalse(visible.__contains__, codes))


@cache
def _past_the_bmp() -> str:
    """A lookbehind that lets through, of the characters past the BMP, only those the slow
    path must take, and every one of the BMP (built in about 15 ms).

    The slow path's classes take every code point past the BMP (``_ASTRAL``, one range), then
    this refines them. It runs only where a class matched, and a character of the BMP passes
    its first range: listed in the class itself, each range cost a comparison for every
    character of the text not in the BMP's bitmap (Chinese in the BMP searched at 74 MB/s, 461
    with one range; Hindi, a mark every few characters, was split at 54 MB/s, 88 so, 77 with a
    negative lookbehind of the characters kept; measured). Taken: plane 1 below its emoji,
    whole (historic scripts, mathematical letters and digits, marks in 124 ranges); of its
    emoji and symbols, the few that fold (enclosed alphanumerics, segmented digits); of
    planes 2 and 3, the unassigned code points and the compatibility ideographs, so that CJK
    ideographs stay on the fast path (random CJK Extension B folded at 3.4 MB/s when each of
    them was visited); planes 4 to 16 whole (tags, variation selectors, private use,
    unassigned).
    """
    taken = [[0x0000, 0xFFFF], [0x10000, _EMOJI - 1]]
    position = _EMOJI
    for first, last in _kept(_EMOJI, _PAST_CJK):
        if first > position:
            _add(taken, position, first - 1)
        position = last + 1
    _add(taken, position, 0x10FFFF)
    return f"(?<=[{_class(taken)}])"


def _kept(start: int, stop: int) -> list[list[int]]:
    """The ranges of code points from ``start`` to ``stop`` (multiples of 256) that folding
    leaves as they are, found block by block: a block of letters and digits, NFKC, without a
    decimal digit (a CJK block) is kept whole, and one all unassigned (most of plane 3) is
    not; only the others are visited in Python."""
    ranges: list[list[int]] = []
    text = _code_points(start, stop)
    for offset in range(0, stop - start, 256):
        block = text[offset : offset + 256]
        low = start + offset
        if block.isalnum() and _DIGIT.search(block) is None and _normalized(block):
            _add(ranges, low, low + 255)
        elif set(map(unicodedata.category, block)) != {"Cn"} or not _VISIBLE.isdisjoint(
            range(low, low + 256)
        ):
            for code, char in enumerate(block, low):
                if not _may_change(char):
                    _add(ranges, code, code)
    return ranges


@cache
def _needs_folding() -> re.Pattern[str]:
    """A character only the slow path folds right; built on first use (about 10 ms).

    One class, no alternative: with "|(?![0-9])\\d" for foreign digits the search tried each
    position in turn, five times slower than the class's scan (28 MB/s of Spanish, 146
    without: measured). The BMP's characters are listed: a class of them compiles to one
    bitmap lookup each; past the BMP, see :func:`_past_the_bmp`.
    """
    bmp = _code_points(0, 0x10000)
    folded = set(_folded_away_in_bmp())
    folded.update(match.start() for match in _DIGIT.finditer(bmp, 0x80))
    return re.compile(f"[{_INVISIBLE}{_char_class(sorted(folded))}{_ASTRAL}]{_past_the_bmp()}")


class _Folding(NamedTuple):
    """What :func:`fold` needs, built on first use (about 20 ms)."""

    same_length: str  # indexed by code point: what a character folding to one becomes
    has_same_length: re.Pattern[str]  # a character past Latin-1 folding to another single one
    other: re.Pattern[str]  # one folding to none, several or (in Latin-1) one, to split at
    other_or_digit: re.Pattern[str]  # the same or a digit of another script


@cache
def _folding() -> _Folding:
    """Exact in the BMP; past it, the characters :func:`_past_the_bmp` lets through are
    split at.

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
    past_the_bmp = _past_the_bmp()
    return _Folding(
        "".join(chain.from_iterable(zip_longest(kept, into, fillvalue=""))),
        re.compile(f"[{_char_class(changed)}]"),
        re.compile(f"([{_char_class(sorted(others))}{_ASTRAL}]{past_the_bmp})"),
        re.compile(f"([{_char_class(sorted(others.union(digits)))}{_ASTRAL}]{past_the_bmp})"),
    )


def _add(ranges: list[list[int]], first: int, last: int) -> None:
    """Add ``first`` to ``last`` to ``ranges``, past all of them, joining the last if they touch."""
    if ranges and ranges[-1][1] == first - 1:
        ranges[-1][1] = last
    else:
        ranges.append([first, last])


def _class(ranges: Iterable[list[int]]) -> str:
    """The inside of a character class matching ``ranges`` (``[first, last]`` each)."""
    return "".join(
        re.escape(chr(low)) if low == high else f"{re.escape(chr(low))}-{re.escape(chr(high))}"
        for low, high in ranges
    )


def _char_class(codes: Iterable[int]) -> str:
    """The inside of a character class matching ``codes`` (ascending), as ranges."""
    ranges: list[list[int]] = []
    for code in codes:
        _add(ranges, code, code)
    return _class(ranges)


def _normalized(text: str) -> bool:
    return unicodedata.is_normalized("NFKC", text)


def _may_change(char: str) -> bool:
    """Cheap checks that every character :func:`_fold_one` changes passes."""
    return (
        _folds_away(char)
        or char.isdecimal()
        or not _normalized(char)
        or _DROPPED.match(char) is not None
    )


def _fold_one(char: str) -> str:
    # _folds_away() inline: a text of private-use or unassigned code points calls this for
    # each, and the call cost 40 % more.
    category = unicodedata.category(char)
    if (
        category in _FOLDED_AWAY
        or (category == "Cn" and ord(char) not in _VISIBLE)
        or _DROPPED.match(char)
    ):
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
