"""The rule for artifact names: relative paths that cannot escape a directory."""

from __future__ import annotations

from mlgate.errors import Invalid

__all__ = ["check_artifact_name"]

MAX_NAME = 255


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
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise refuse("must not contain '.', '..' or empty path segments")
    return name
