"""How an audit entry's hash and its change digest are computed, one format per hash version.

Every entry records the version its hash was computed with, and is checked with that version.

- Version 1 (entries written before revision 0011): sha256 of ``prev_hash|seq|at|actor|action|
  object_type|object_id|digest``. The fields are free text, so one holding ``|`` lets text move
  to its neighbour without changing the hash (actor "a|b" with action "c" hashes as actor "a"
  with action "b|c"). It is kept only so that those old entries verify exactly as before.
- Version 2 (every new entry): sha256 of the canonical JSON array ``[2, prev_hash, seq, at,
  actor, action, object_type, object_id, digest]``. Each string is quoted and escaped, so the
  array decodes into its fields one way only, and the version itself is hashed.

What must stay true: a format, once entries were written with it, never changes; a new
encoding is a new version number.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

__all__ = [
    "HASH_VERSION",
    "HASH_VERSIONS",
    "UNVERSIONED",
    "canonical_json",
    "change_digest",
    "entry_hash",
    "hash_of",
]

HASH_VERSION = 2
"""The version new entries are hashed with."""

UNVERSIONED = 1
"""The version of an entry stored or exported before entries recorded theirs."""

HASH_VERSIONS = frozenset({1, 2})
"""Every version this mlgate can check; any other is a verification failure."""


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def change_digest(change: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(change).encode()).hexdigest()


def entry_hash(
    *,
    version: int,
    prev_hash: str,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    digest: str,
) -> str:
    """The entry's hash in ``version``'s format; ValueError for a version not in HASH_VERSIONS
    (callers that read versions from the store check them first)."""
    if version == 1:
        material = "|".join(
            [prev_hash, str(seq), at.isoformat(), actor, action, object_type, object_id, digest]
        )
    elif version == 2:
        material = json.dumps(
            [2, prev_hash, seq, at.isoformat(), actor, action, object_type, object_id, digest],
            ensure_ascii=True,
            separators=(",", ":"),
        )
    else:
        raise ValueError(f"unknown audit hash version {version}")
    return hashlib.sha256(material.encode()).hexdigest()


def hash_of(entry: Any, *, prev_hash: str) -> str:
    """The hash ``entry`` (a row or an ``AuditEntryRead``: anything with an entry's fields)
    should have after ``prev_hash``, in the entry's own version."""
    return entry_hash(
        version=entry.hash_version,
        prev_hash=prev_hash,
        seq=entry.seq,
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        object_type=entry.object_type,
        object_id=entry.object_id,
        digest=entry.digest,
    )
