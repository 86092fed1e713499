"""The rules for artifact names: relative paths that cannot escape a directory, and that read
as what they are: no hidden characters, and no look-alike letters of another script."""

from __future__ import annotations

import functools
import unicodedata
from typing import Any

from mlgate.errors import Invalid

__all__ = ["check_artifact_name", "check_new_artifact_name", "hidden_character", "mixed_scripts"]

MAX_NAME = 255
MAX_SEGMENT_BYTES = 255  # NAME_MAX of common file systems: scanning stages artifacts as files
# Control, format (bidi overrides, zero-width), line/paragraph separators, surrogates, private use
_HIDDEN = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co"}
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


def hidden_character(text: str) -> str | None:
    """The first character of ``text`` that is invisible or reorders what is shown, if any."""
    return next((char for char in text if unicodedata.category(char) in _HIDDEN), None)


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


def _described(char: str) -> str:
    script = _ucd().script_name(_ucd().script(char))
    return f"{script}, U+{ord(char):04X} {unicodedata.name(char, 'unnamed')}"


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
    """``check_artifact_name``, and a name a reviewer reads as it is stored: no invisible or
    reordering characters, and composed (NFC) so two names never look alike. Applied when a
    version is registered; names stored before these rules still resolve."""
    check_artifact_name(name, field=field)
    hidden = hidden_character(name)
    if hidden is not None:
        raise Invalid.field(
            field,
            f"artifact name {name!r} contains the invisible or reordering character"
            f" U+{ord(hidden):04X}; rename the file",
        )
    if unicodedata.normalize("NFC", name) != name:
        raise Invalid.field(
            field, f"artifact name {name!r} is not in Unicode NFC form; send it composed (NFC)"
        )
    # Each part between dots is judged alone, as browsers judge each label of a domain name:
    # a Russian name with the usual ".onnx" passes; "model.onnx" with a Cyrillic "e" does not.
    for label in (label for segment in name.split("/") for label in segment.split(".")):
        mixed = mixed_scripts(label)
        if mixed is not None:
            one, other = (f"{c!r} ({_described(c)})" for c in mixed)
            raise Invalid.field(
                field,
                f"artifact name {name!r} mixes scripts in {label!r}: {one} beside {other};"
                " a letter of one script can pass for another's, so write each part of the"
                " name in one script",
            )
    return name
