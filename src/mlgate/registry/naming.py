"""The rules for artifact names: relative paths that cannot escape a directory, and that read
as what they are: no hidden characters, no stand-ins for a separator or a plain letter (the
compatibility forms that read as the characters NFKC folds them to), and no word whose letters
pass for those of another script or for ASCII letters."""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any

from mlgate.errors import Invalid
from mlgate.registry.lookalikes import LATIN_LOOK_ALIKES, SEPARATOR_LOOK_ALIKES

__all__ = [
    "check_artifact_name",
    "check_new_artifact_name",
    "described_hidden",
    "hidden_character",
    "latin_look_alike",
    "misleading_character",
    "mixed_scripts",
]

MAX_NAME = 255
MAX_SEGMENT_BYTES = 255  # NAME_MAX of common file systems: scanning stages artifacts as files
# Control, format (bidi overrides, zero-width), line/paragraph separators, surrogates, private
# use (each font draws its own glyph there), and code points this Python's Unicode data does not
# assign: it cannot say how they fold or what they are (but see _newer).
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
# VARIATION SELECTOR-15 and -16 pick the text or the emoji drawing of the emoji just before
# them ("\u2764\ufe0f", a red heart): seen there, and allowed there only. Anywhere else they
# show nothing ("model1\ufe0f.onnx" reads as "model1.onnx"). Emoji are symbols (So) but for
# these few; ASCII digits, '#' and '*' take VS16 only in keycaps, which names do without.
_PRESENTATION_SELECTORS = frozenset("\ufe0e\ufe0f")
_EMOJI_NOT_SYMBOLS = frozenset("\u2194\u25fb\u25fc\u25fd\u25fe\u2934\u2935\u3030\u303d")
# Code points Unicode keeps for pictographs to come (emoji-data.txt gives the unassigned ones of
# these blocks Extended_Pictographic): an emoji newer than this Python (U+1FA77 PINK HEART in
# Unicode 15) is one, and can pass for no letter.
_PICTOGRAPHS = ((0x1F000, 0x1FAFF), (0x1FC00, 0x1FFFD))
# Scripts a newer character may be of and still be judged: a letter of Kannada (U+0CF3, Unicode
# 15) is judged with its word as any Kannada letter is. Not Common or Inherited (symbols,
# punctuation, format characters, styled letters such as the outlined Latin letters of Unicode
# 16), nor Latin (a new Latin letter may pass for an ASCII one): this server cannot tell what
# they look like, so they are refused until its Unicode data knows them.
_UNJUDGED_SCRIPTS = frozenset({"Zzzz", "Zyyy", "Zinh", "Latn"})
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
# Separators a name may only write as themselves: '.' between a name and its type, '/' between
# directories, '\\' (refused anyway), and spaces. A character that folds to one of them under
# NFKC (ONE DOT LEADER, FULLWIDTH SOLIDUS, NO-BREAK SPACE) makes "model.onnx" of a name whose
# type is not .onnx; so does a symbol drawn like one (SEPARATOR_LOOK_ALIKES), which does not
# fold.
# Fullwidth CJK punctuation that folds to other characters (parentheses, colon, comma) and the
# ideographic full stop, which folds to none, are written in CJK names and stay allowed.
_SEPARATORS = {
    ".": "write '.' or leave it out",
    "/": "write '/' between directories or leave it out",
    "\\": "write '/' between directories or leave it out",
}
# Mathematical Alphanumeric Symbols: bold, italic, sans-serif... forms of Latin and Greek letters
# and digits, for formulas; in a name "𝗆odel" reads as "model" and is not it.
_MATH_ALPHANUMERICS = range(0x1D400, 0x1D800)
# Compatibility characters (those NFKC folds to others) are judged by the kind of form their
# decomposition names. Refused, as another character drawn differently that reads as it:
# - <font> (SCRIPT SMALL E, the mathematical bold and sans-serif letters and digits), <wide>
#   letters and digits ("resnet" and FULLWIDTH DIGIT FIVE and ZERO pass for "resnet50"),
#   <small> and <noBreak> forms of punctuation, <vertical> forms (drawn for vertical text:
#   VERTICAL COLON shows as two dots side by side), and the positional Arabic presentation
#   forms, drawn as the letters they fold to;
# - <narrow> forms but halfwidth katakana (halfwidth Hangul, punctuation and symbols);
# - <compat> letters and numbers, which read as the letters and digits they fold to: SMALL
#   ROMAN NUMERAL ONE THOUSAND in "model", the ligatures fi and ij ("\ufb01le.bin" reads as
#   "file.bin"), the Latin digraph dz, PARENTHESIZED DIGIT ONE;
# - <compat> symbols drawn as one letter (KANGXI RADICAL TREE is the ideograph 木) or made of
#   ASCII punctuation, digits or a space ('\u203c' is "!!", '\u2474' is "(1)", '\u00b4' is a
#   space and an accent).
# Allowed, as symbols people type that read as what they are and pass for nothing else:
# <super> and <sub> forms ("r²", "1ª", "™"), <circle>, <fraction> ('½'), <square> ('㎏'),
# <wide> punctuation and symbols (CJK input methods type them; '.', '/' and '\\' aside, see
# _SEPARATORS), halfwidth katakana (legacy systems write them, and they fold to katakana, not
# Latin), RIAL SIGN, and <compat> symbols such as NUMERO SIGN, DEGREE CELSIUS and RUPEE SIGN.
# Allowed letters of everyday words that their scripts' keyboards type, folding into letters
# of the same script: Thai SARA AM (น้ำ), Lao AM, HO NO and HO MO (ໜ້າ), Armenian ECH YIWN
# (և, "and"), the Korean compatibility jamo (ㅋㅋ; they fold to conjoining jamo), and MICRO
# SIGN, which keyboards type for Greek mu (see _ANY_SCRIPT_LETTERS).
_COMPATIBLE_LETTERS = frozenset("\u0e33\u0eb3\u0edc\u0edd\u0587\N{MICRO SIGN}")
_COMPATIBILITY_JAMO = range(0x3131, 0x318F)
_TYPED_FORMS = frozenset({"<super>", "<sub>", "<circle>", "<fraction>", "<square>"})
_HALFWIDTH_KATAKANA = range(0xFF66, 0xFFA0)


def hidden_character(text: str) -> str | None:
    """The first character of ``text`` that is invisible, reorders what is shown, or is no
    character this server can judge (private use, a surrogate, unassigned), if any. VS15 and
    VS16 right after an emoji are not: they pick how it is drawn."""
    before = ""
    for char in text:
        if _hidden(char) and not (char in _PRESENTATION_SELECTORS and _emoji(before)):
            return char
        before = char
    return None


@functools.lru_cache(maxsize=4096)
def _hidden(char: str) -> bool:
    if _ignorable(char):
        return True
    category = unicodedata.category(char)
    if category == "Cn":
        return not _newer(char)
    return category in _HIDDEN


def _newer(char: str) -> bool:
    """Whether ``char``, which this Python's Unicode data does not assign, is a character of
    a newer Unicode that can be judged all the same (see _PICTOGRAPHS, _UNJUDGED_SCRIPTS)."""
    point = ord(char)
    if any(low <= point <= high for low, high in _PICTOGRAPHS):
        return True
    return _ucd().script(char) not in _UNJUDGED_SCRIPTS


def _emoji(char: str) -> bool:
    if not char or char.isascii():
        return False
    if char in _EMOJI_NOT_SYMBOLS or unicodedata.category(char) == "So":
        return True
    return any(low <= ord(char) <= high for low, high in _PICTOGRAPHS)


def described_hidden(char: str) -> str:
    """What ``char``, which ``hidden_character`` found, is, for a message that says why."""
    code = f"U+{ord(char):04X}"
    category = unicodedata.category(char)
    if char in _PRESENTATION_SELECTORS:
        name = unicodedata.name(char)
        return f"{code} {name}, which shows nothing unless it follows an emoji"
    if category == "Co":
        return f"the private-use character {code}, which each font draws as it likes"
    if category == "Cs":
        return f"{code}, a lone surrogate (bytes that were not UTF-8)"
    if category == "Cn" and not _ignorable(char):
        return f"{code}, which this server's Unicode {unicodedata.unidata_version} does not assign"
    return f"the invisible or reordering character {code} {unicodedata.name(char, '')}".rstrip()


def _ignorable(char: str) -> bool:
    return any(low <= ord(char) <= high for low, high in _DEFAULT_IGNORABLE)


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
    if ord(char) in _MATH_ALPHANUMERICS and folded != char:  # not the unassigned holes
        return f"is a styled mathematical form of {folded!r}; write {folded!r}"
    if folded.isspace():
        return "is a space other than ' ' (U+0020); write ' ', '_' or '-'"
    separator = next((c for c in folded if c in _SEPARATORS), None)
    if separator is not None:
        why = f"reads as {folded!r} (its NFKC form), a {separator!r} that is not one"
        return f"{why}; {_SEPARATORS[separator]}"
    separator = SEPARATOR_LOOK_ALIKES.get(char)
    if separator is not None:
        return f"looks like {separator!r} and is not one; {_SEPARATORS[separator]}"
    if folded != char and not _compatible(char):
        replacement = _replacement(char)
        write = "leave it out" if replacement is None else f"write {replacement!r}"
        return f"is a compatibility form of {folded!r} (its NFKC form) and can pass for it; {write}"
    return None


def _compatible(char: str) -> bool:
    """Whether ``char``, which NFKC folds to another, is one a name may hold all the same."""
    if char in _COMPATIBLE_LETTERS or ord(char) in _COMPATIBILITY_JAMO:
        return True
    form = _compatibility_form(char)
    if form in _TYPED_FORMS:
        return True
    if form == "<wide>":
        return not char.isalnum()
    if form == "<narrow>":
        return ord(char) in _HALFWIDTH_KATAKANA
    category = unicodedata.category(char)
    if form == "<isolated>":
        return category.startswith("S")  # RIAL SIGN; the letters are presentation forms
    if form != "<compat>" or category[0] not in "SP":
        return False
    folded = unicodedata.normalize("NFKC", char)
    if len(folded) == 1 and folded.isalnum():
        return False
    return not any(c.isascii() and not c.isalpha() for c in folded)


def _compatibility_form(char: str) -> str | None:
    """The tag of the compatibility decomposition in ``char``'s ("<font>", "<compat>"...),
    looked for through its canonical decomposition too (LONG S WITH DOT ABOVE holds LONG S)."""
    decomposition = unicodedata.decomposition(char)
    if decomposition.startswith("<"):
        return decomposition.split(" ", 1)[0]
    codes = decomposition.split()
    return next(filter(None, (_compatibility_form(chr(int(code, 16))) for code in codes)), None)


def _replacement(char: str) -> str | None:
    """What to write for ``char``, a compatibility character refused: what it decomposes to
    (the Korean letter a halfwidth one stands for, not NFKC's conjoining jamo), else its NFKC
    form, if that passes every check itself; None when neither does (leave it out)."""
    decomposition = unicodedata.decomposition(char)
    candidates = [unicodedata.normalize("NFKC", char)]
    if decomposition.startswith("<"):
        own = "".join(chr(int(code, 16)) for code in decomposition.split()[1:])
        candidates.insert(0, unicodedata.normalize("NFC", own))
    return next((c for c in candidates if _writable(c)), None)


def _writable(text: str) -> bool:
    return (
        not any(c.isspace() or c in _SEPARATORS for c in text)
        and not unicodedata.category(text[0]).startswith("M")
        and unicodedata.normalize("NFC", text) == text
        and hidden_character(text) is None
        and misleading_character(text) is None
    )


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
    """What ``word`` reads as when each letter of it is an ASCII letter or a look-alike of one,
    and one at least is a look-alike (Cyrillic ER and U: "py"; "adm" LATIN SMALL LETTER IOTA
    "n": "admin"), else None. Digits and marks go with any word."""
    letters = [char for char in word if _scripts(char) is not None]
    if not any(char in LATIN_LOOK_ALIKES for char in letters):
        return None
    if any(not char.isascii() and char not in LATIN_LOOK_ALIKES for char in letters):
        return None
    return "".join(LATIN_LOOK_ALIKES.get(char, char) for char in word)


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
    stand-in for a separator and no compatibility form that reads as another character (see
    ``_compatible``), and each word (between '/', '.', '_', '-' and spaces) in one script and
    not made of look-alikes of ASCII letters. Applied when a version is registered; names
    stored before these rules still resolve."""
    check_artifact_name(name, field=field)

    def refuse(why: str) -> Invalid:
        return Invalid.field(field, f"artifact name {name!r} {why}")

    hidden = hidden_character(name)
    if hidden is not None:
        raise refuse(f"contains {described_hidden(hidden)}; rename the file")
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
            first = next(char for char in word if char in LATIN_LOOK_ALIKES)
            raise refuse(
                f"has the word {word!r}, which reads as the Latin {reads_as!r} but is written"
                f" with letters that only look like its letters, {_described(first)} first;"
                " write it in plain Latin letters (ASCII)"
            )
    return name
