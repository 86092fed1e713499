"""Identifiers: ULIDs for records, and the rule for human names of models and routes."""

from __future__ import annotations

import re

from ulid import ULID

__all__ = ["NAME_PATTERN", "is_valid_name", "new_id"]

NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
_NAME_RE = re.compile(NAME_PATTERN)


def new_id() -> str:
    """A new ULID as a 26-character string: unique and sortable by creation time."""
    return str(ULID())


def is_valid_name(name: str) -> bool:
    return bool(_NAME_RE.fullmatch(name))
