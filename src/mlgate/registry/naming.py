"""The rules for artifact names: relative paths that cannot escape a directory, and that read
as what they are: no hidden characters, no stand-ins for a separator or a plain letter (NFKC
form), and no word whose letters pass for those of another script."""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any

from mlgate.errors import Invalid

__all__ = [
    "check_artifact_name",
    "check_new_artifact_name",
    "hidden_character",
    "latin_look_alike",
    "misleading_character",
    "mixed_scripts",
]

MAX_NAME = 255
MAX_SEGMENT_BYTES = 255  # NAME_MAX of common file systems: scanning stages artifacts as files
# Control, format (bidi overrides, zero-width), line/paragraph separators, surrogates, private
# use (each font draws its own glyph there), and code points this Python's Unicode data does not
# assign: it cannot say how they fold or what they are.
_HIDDEN = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}
# Default_Ignorable_Code_Point (DerivedCoreProperties.txt; a test checks this list against the
# regex package's copy of Unicode's data): drawn as nothing. Most are Cf or unassigned, which
# _HIDDEN has; the rest are letters and marks that renderers hide: the Hangul fillers (U+3164
# between "model" and ".onnx" shows as a gap or not at all), the grapheme joiner, the Khmer
# inherent vowels, variation selectors.
_DEFAULT_IGNORABLE = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)
# A name is judged word by word: "vocab_ελληνικά" and "tokenizer_ru_русский" are two scripts,
# each in a word of its own, as people name files; a look-alike hides inside one word.
_WORD_BREAK = re.compile(r"[_\-. ]")
# Unicode TS #39 §5 ("Highly Restrictive"). Common (digits, punctuation) and Inherited (most
# combining marks) go with any script. Han is written within Japanese, Korean and Bopomofo text,
# so its script sets are augmented (§5.1) and 重みモデル (Han, Katakana, Hiragana) is one script;
# Latin may also join exactly one of those three East Asian sets (模型v2: Han and Latin).
_ANY_SCRIPT = frozenset({"Zyyy", "Zinh"})
_AUGMENTED = {
    "Hani": ("Hanb", "Jpan", "Kore"),
    "Hira": ("Jpan",),
    "Kana": ("Jpan",),
    "Hang": ("Kore",),
    "Bopo": ("Hanb",),
}
_WITH_LATIN = tuple(frozenset({"Latn", east}) for east in ("Jpan", "Hanb", "Kore"))
# Greek mu is the micro sign's letter: MICRO SIGN (Common, so with any script) folds to it under
# NFKC and looks the same, and people type either in "latency_μs". It passes for no Latin letter.
_ANY_SCRIPT_LETTERS = frozenset({"\N{GREEK SMALL LETTER MU}"})
# Cyrillic and Greek letters drawn as the Latin letter beside them is (Unicode's confusables.txt
# maps each to it; each checked by eye). A word of only these reads as a Latin word it is not:
# Cyrillic ER and U read as "py", IE HA IE as "exe". Left out: Greek small chi and kappa (chi
# reaches below the line and kappa stops at x's height; confusables.txt maps them to Latin chi
# and kra, not to x and k) and letters only roughly alike (Cyrillic small GHE, capital U and
# SOFT SIGN; Greek small gamma and sigma), which many Russian and Greek words are made of.
_LATIN_LOOK_ALIKES: dict[str, str] = {
    unicodedata.lookup(letter): latin
    for letter, latin in (
        ("CYRILLIC SMALL LETTER A", "a"),
        ("CYRILLIC SMALL LETTER IE", "e"),
        ("CYRILLIC SMALL LETTER O", "o"),
        ("CYRILLIC SMALL LETTER ER", "p"),
        ("CYRILLIC SMALL LETTER ES", "c"),
        ("CYRILLIC SMALL LETTER U", "y"),
        ("CYRILLIC SMALL LETTER HA", "x"),
        ("CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I", "i"),
        ("CYRILLIC SMALL LETTER JE", "j"),
        ("CYRILLIC SMALL LETTER DZE", "s"),
        ("CYRILLIC SMALL LETTER SHHA", "h"),
        ("CYRILLIC SMALL LETTER KOMI DE", "d"),
        ("CYRILLIC SMALL LETTER QA", "q"),
        ("CYRILLIC SMALL LETTER WE", "w"),
        ("CYRILLIC SMALL LETTER STRAIGHT U", "y"),
        ("CYRILLIC SMALL LETTER PALOCHKA", "l"),
        ("CYRILLIC SMALL LETTER IZHITSA", "v"),
        ("CYRILLIC CAPITAL LETTER A", "A"),
        ("CYRILLIC CAPITAL LETTER VE", "B"),
        ("CYRILLIC CAPITAL LETTER IE", "E"),
        ("CYRILLIC CAPITAL LETTER KA", "K"),
        ("CYRILLIC CAPITAL LETTER EM", "M"),
        ("CYRILLIC CAPITAL LETTER EN", "H"),
        ("CYRILLIC CAPITAL LETTER O", "O"),
        ("CYRILLIC CAPITAL LETTER ER", "P"),
        ("CYRILLIC CAPITAL LETTER ES", "C"),
        ("CYRILLIC CAPITAL LETTER TE", "T"),
        ("CYRILLIC CAPITAL LETTER HA", "X"),
        ("CYRILLIC CAPITAL LETTER BYELORUSSIAN-UKRAINIAN I", "I"),
        ("CYRILLIC CAPITAL LETTER JE", "J"),
        ("CYRILLIC CAPITAL LETTER DZE", "S"),
        ("CYRILLIC CAPITAL LETTER STRAIGHT U", "Y"),
        ("CYRILLIC LETTER PALOCHKA", "I"),
        ("CYRILLIC CAPITAL LETTER QA", "Q"),
        ("CYRILLIC CAPITAL LETTER WE", "W"),
        ("CYRILLIC CAPITAL LETTER IZHITSA", "V"),
        ("GREEK SMALL LETTER OMICRON", "o"),
        ("GREEK SMALL LETTER IOTA", "i"),
        ("GREEK SMALL LETTER NU", "v"),
        ("GREEK SMALL LETTER RHO", "p"),
        ("GREEK SMALL LETTER UPSILON", "u"),
        ("GREEK SMALL LETTER ALPHA", "a"),
        ("GREEK LUNATE SIGMA SYMBOL", "c"),
        ("GREEK LETTER YOT", "j"),
        ("GREEK CAPITAL LETTER ALPHA", "A"),
        ("GREEK CAPITAL LETTER BETA", "B"),
        ("GREEK CAPITAL LETTER EPSILON", "E"),
        ("GREEK CAPITAL LETTER ZETA", "Z"),
        ("GREEK CAPITAL LETTER ETA", "H"),
        ("GREEK CAPITAL LETTER IOTA", "I"),
        ("GREEK CAPITAL LETTER KAPPA", "K"),
        ("GREEK CAPITAL LETTER MU", "M"),
        ("GREEK CAPITAL LETTER NU", "N"),
        ("GREEK CAPITAL LETTER OMICRON", "O"),
        ("GREEK CAPITAL LETTER RHO", "P"),
        ("GREEK CAPITAL LETTER TAU", "T"),
        ("GREEK CAPITAL LETTER UPSILON", "Y"),
        ("GREEK CAPITAL LETTER CHI", "X"),
        ("GREEK CAPITAL LUNATE SIGMA SYMBOL", "C"),
        ("GREEK CAPITAL LETTER YOT", "J"),
    )
}
# Separators a name may only write as themselves: '.' between a name and its type, '/' between
# directories, '\\' (refused anyway), and spaces. A character that folds to one of them under
# NFKC (ONE DOT LEADER, FULLWIDTH SOLIDUS, NO-BREAK SPACE) makes "model.onnx" of a name whose
# type is not .onnx; so does a symbol drawn like one (confusables.txt), which does not fold.
# Fullwidth CJK punctuation that folds to other characters (parentheses, colon, comma) and the
# ideographic full stop, which folds to none, are written in CJK names and stay allowed.
_SEPARATORS = {
    ".": "write '.' or leave it out",
    "/": "write '/' between directories or leave it out",
    "\\": "write '/' between directories or leave it out",
}
_SEPARATOR_LOOK_ALIKES: dict[str, str] = {
    **dict.fromkeys("\u1735\u2041\u2044\u2215\u2571\u27cb\u29f8\U0001d23a", "/"),
    **dict.fromkeys("\u2216\u27cd\u29f5\u29f9\U0001d20f\U0001d23b", "\\"),
    **dict.fromkeys("\u0701\u0702\ua60e\U00010a50\U0001d16d", "."),
}
# Mathematical Alphanumeric Symbols: bold, italic, sans-serif... forms of Latin and Greek letters
# and digits, for formulas; in a name "𝗆odel" reads as "model" and is not it.
_MATH_ALPHANUMERICS = range(0x1D400, 0x1D800)
# A name is in NFKC form (UTS #39 restricts what is not): a compatibility character is another
# one drawn differently: SMALL ROMAN NUMERAL ONE THOUSAND or FULLWIDTH LATIN SMALL LETTER M in
# "model", SCRIPT SMALL E, KANGXI RADICAL TREE (drawn as the ideograph 木). Allowed all the same:
# - letters of everyday words that their scripts' keyboards type and that fold into letters of
#   the same script, so they pass for nothing else: Thai SARA AM (น้ำ), Lao AM, HO NO and
#   HO MO (ໜ້າ), Armenian ECH YIWN (և, "and");
# - MICRO SIGN, which keyboards type for Greek mu (see _ANY_SCRIPT_LETTERS);
# - fullwidth forms of ASCII punctuation and symbols (parentheses, colon, comma), which CJK
#   input methods type. Fullwidth letters and digits are refused: "resnet" and FULLWIDTH
#   DIGIT FIVE and ZERO pass for "resnet50". Fullwidth '.', '/' and '\\' are refused as
#   separators that are not ones (_SEPARATORS).
_COMPATIBLE_LETTERS = frozenset("\u0e33\u0eb3\u0edc\u0edd\u0587\N{MICRO SIGN}")
_FULLWIDTH_ASCII = range(0xFF01, 0xFF5F)


def hidden_character(text: str) -> str | None:
    """The first character of ``text`` that is invisible, reorders what is shown, or is no
    assigned character (private use, a surrogate, unassigned), if any."""
    return next((char for char in text if _hidden(char)), None)


@functools.lru_cache(maxsize=4096)
def _hidden(char: str) -> bool:
    if unicodedata.category(char) in _HIDDEN:
        return True
    point = ord(char)
    return any(low <= point <= high for low, high in _DEFAULT_IGNORABLE)


def _described_hidden(char: str) -> str:
    code = f"U+{ord(char):04X}"
    category = unicodedata.category(char)
    if category == "Co":
        return f"the private-use character {code}, which each font draws as it likes"
    if category == "Cs":
        return f"{code}, a lone surrogate (bytes that were not UTF-8)"
    if category == "Cn":
        return f"{code}, which this server's Unicode {unicodedata.unidata_version} does not assign"
    return f"the invisible or reordering character {code} {unicodedata.name(char, '')}".rstrip()


def misleading_character(text: str) -> tuple[str, str] | None:
    """The first character of ``text`` that stands in for another a reader would see there (a
    separator, a space, a plain letter or digit), and why; ASCII never does."""
    for char in text:
        if not char.isascii() and (why := _stands_in(char)) is not None:
            return char, why
    return None


@functools.lru_cache(maxsize=4096)
def _stands_in(char: str) -> str | None:
    folded = unicodedata.normalize("NFKC", char)
    if ord(char) in _MATH_ALPHANUMERICS:
        return f"is a styled mathematical form of {folded!r}; write {folded!r}"
    if folded.isspace():
        return "is a space other than ' ' (U+0020); write ' ', '_' or '-'"
    separator = next((c for c in folded if c in _SEPARATORS), None)
    if separator is not None:
        why = f"reads as {folded!r} (its NFKC form), a {separator!r} that is not one"
        return f"{why}; {_SEPARATORS[separator]}"
    separator = _SEPARATOR_LOOK_ALIKES.get(char)
    if separator is not None:
        return f"looks like {separator!r} and is not one; {_SEPARATORS[separator]}"
    if folded != char and not _compatible(char):
        write = "leave it out" if any(c.isspace() for c in folded) else f"write {folded!r}"
        return f"is a compatibility form of {folded!r} (its NFKC form) and can pass for it; {write}"
    return None


def _compatible(char: str) -> bool:
    """Whether ``char``, which NFKC folds to another, is one a name may hold all the same."""
    if char in _COMPATIBLE_LETTERS:
        return True
    return ord(char) in _FULLWIDTH_ASCII and not char.isalnum()


def _ucd() -> Any:
    # The script data comes from fontTools, which keeps it current with Unicode; imported on
    # first use, not when the CLI starts. The PyPI library for this very check
    # (confusable-homoglyphs) does not apply TS #39's augmented sets and counts combining marks
    # as a script: it refused 权重.onnx, モデル重み.bin and n + U+0308.
    from fontTools import unicodedata  # type: ignore[import-untyped]

    return unicodedata


@functools.lru_cache(maxsize=4096)  # a 125-character name: 203 -> 31 us
def _scripts(char: str) -> frozenset[str] | None:
    """The scripts ``char`` is written in (its Script_Extensions, augmented); None for any."""
    if char in _ANY_SCRIPT_LETTERS:
        return None
    found: set[str] = set(_ucd().script_extension(char))
    if found & _ANY_SCRIPT:
        return None
    for script in tuple(found):
        found.update(_AUGMENTED.get(script, ()))
    return frozenset(found)


def mixed_scripts(text: str) -> tuple[str, str] | None:
    """Two characters of ``text`` whose scripts do not go together (the first letter, and one
    that shares no script with those before it), or None when ``text`` stays within one script
    (or Latin with Chinese, Japanese or Korean) as UTS #39's "Highly Restrictive" level asks.
    A Cyrillic "e" (U+0435) among Latin letters is the look-alike this refuses."""
    written = [(char, scripts) for char in text if (scripts := _scripts(char)) is not None]
    if not written:
        return None
    shared = frozenset.intersection(*(scripts for _, scripts in written))
    if shared or any(all(s & allowed for _, s in written) for allowed in _WITH_LATIN):
        return None
    so_far = written[0][1]
    for char, scripts in written[1:]:
        if not so_far & scripts:
            return written[0][0], char
        so_far &= scripts
    return None  # unreachable: an empty intersection is met on the way


def latin_look_alike(word: str) -> str | None:
    """What ``word`` reads as when every letter of it is a Cyrillic or Greek look-alike of a
    Latin letter (Cyrillic ER and U: "py"), else None. Digits and marks go with any word."""
    letters = [char for char in word if _scripts(char) is not None]
    if not letters or any(char not in _LATIN_LOOK_ALIKES for char in letters):
        return None
    return "".join(_LATIN_LOOK_ALIKES.get(char, char) for char in word)


def _described(char: str) -> str:
    script = _ucd().script_name(_ucd().script(char))
    return f"{char!r} ({script}, U+{ord(char):04X} {unicodedata.name(char, 'unnamed')})"


def check_artifact_name(name: str, *, field: str = "artifact") -> str:
    """Return ``name`` if it is a safe relative path, else raise Invalid naming the field."""

    def refuse(why: str) -> Invalid:
        return Invalid.field(field, f"artifact name {name!r} {why}")

    if not name or len(name) > MAX_NAME:
        raise refuse(f"must be 1-{MAX_NAME} characters")
    if "\x00" in name or any(ord(char) < 32 for char in name):
        raise refuse("contains a control character")
    if "\\" in name:
        raise refuse("contains a backslash; use '/' between directories")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise refuse("is absolute; use a path relative to the version")
    segments = name.split("/")
    if any(part in ("", ".", "..") for part in segments):
        raise refuse("must not contain '.', '..' or empty path segments")
    if any(len(part.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES for part in segments):
        raise refuse(f"has a path segment longer than {MAX_SEGMENT_BYTES} bytes (UTF-8)")
    return name


def check_new_artifact_name(name: str, *, field: str = "artifact") -> str:
    """``check_artifact_name``, and a name a reviewer reads as it is stored: no invisible,
    reordering or unassigned characters, composed (NFC) so two names never look alike, no
    stand-in for a separator and no compatibility form of another character (NFKC, but for
    the few ``_compatible`` ones), and each word (between '/', '.', '_', '-' and spaces) in
    one script and not made of look-alikes of Latin letters. Applied when a version is
    registered; names stored before these rules still resolve."""
    check_artifact_name(name, field=field)

    def refuse(why: str) -> Invalid:
        return Invalid.field(field, f"artifact name {name!r} {why}")

    hidden = hidden_character(name)
    if hidden is not None:
        raise refuse(f"contains {_described_hidden(hidden)}; rename the file")
    if unicodedata.normalize("NFC", name) != name:
        raise refuse("is not in Unicode NFC form; send it composed (NFC)")
    misleading = misleading_character(name)
    if misleading is not None:
        char, why = misleading
        described = f"U+{ord(char):04X} {unicodedata.name(char, 'unnamed')}"
        raise refuse(f"contains {char!r} ({described}), which {why}")
    for word in (w for segment in name.split("/") for w in _WORD_BREAK.split(segment)):
        if word.isascii():  # Latin letters, digits and punctuation: one script, no look-alike
            continue
        mixed = mixed_scripts(word)
        if mixed is not None:
            one, other = (_described(c) for c in mixed)
            raise refuse(
                f"mixes scripts in the word {word!r}: {one} beside {other}; a letter of one"
                " script can pass for another's, so write each word of the name in one script"
            )
        reads_as = latin_look_alike(word)
        if reads_as is not None:
            first = next(char for char in word if char in _LATIN_LOOK_ALIKES)
            raise refuse(
                f"has the word {word!r}, which reads as the Latin {reads_as!r} but is written"
                f" in letters that only look Latin, {_described(first)} first; write it in"
                " Latin letters"
            )
    return name
