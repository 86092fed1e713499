"""The rules for artifact names: relative paths that cannot escape a directory, and that read
as what they are."""

from __future__ import annotations

import unicodedata

from mlgate.errors import Invalid

__all__ = ["check_artifact_name", "check_new_artifact_name", "hidden_character"]

MAX_NAME = 255
MAX_SEGMENT_BYTES = 255  # NAME_MAX of common file systems: scanning stages artifacts as files
# Control, format (bidi overrides, zero-width), line/paragraph separators, surrogates, private use
_HIDDEN = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co"}


def hidden_character(text: str) -> str | None:
    """The first character of ``text`` that is invisible or reorders what is shown, if any."""
    return next((char for char in text if unicodedata.category(char) in _HIDDEN), None)


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
    return name
