"""Data subjects: the HMAC pseudonym that stands for a subject in every stored record.

The raw subject (a customer id, an e-mail) is never stored. Records carry
HMAC-SHA256(server secret, "subject:" + subject); an export or erasure request recomputes it.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from mlgate.privacy.payload import JsonPath

__all__ = ["subject_at", "subject_pseudonym"]


def subject_pseudonym(secret: bytes, subject: str | None) -> str | None:
    """The stored stand-in for ``subject`` (64 hex digits), or None without a subject.

    A blank subject (an empty header) names nobody: as one subject, it would make every such
    caller one person, whose records nobody could export or erase (a blank one is refused).
    """
    if subject is None or not subject.strip():
        return None
    return hmac.new(secret, b"subject:" + subject.encode(), hashlib.sha256).hexdigest()


def subject_at(payload: Any, path: str) -> str | None:
    """The subject a request body names at ``path`` (e.g. ``$.customer.id``), if any.

    Only a string or an integer is a subject; a missing path, an object, a list or a blank
    string is not. Wildcards are refused: one request has one subject.
    """
    steps = JsonPath(path).steps
    value = payload
    for step in steps:
        if isinstance(step, str) and isinstance(value, dict):
            value = value.get(step)
        elif isinstance(step, int) and isinstance(value, list) and step < len(value):
            value = value[step]
        else:
            return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value) if str(value).strip() else None
