"""Append to and verify the hash-chained audit log.

entry.hash = sha256 of an unambiguous encoding of (prev_hash, seq, at, actor, action,
object_type, object_id, digest), digest = sha256(canonical JSON of the change); the format is
the entry's ``hash_version`` (mlgate.audit.hashes: new entries are version 2, entries written
before it version 1). ``verify`` recomputes both for every entry in seq order, each with its
own version, and checks seq is contiguous and the head row matches the last entry, so an
altered, deleted, inserted or reordered row is named by the first seq where the chain breaks.
A version this mlgate does not know is such a break too, never an exception.

The version is a column like any other, so someone who can write to the store can change it,
and that gains them nothing. A version-2 entry's stored hash is a version-2 hash: set its
version to 1 (to use version 1's ambiguous ``|`` joins, say) and the version-1 hash of its
fields does not match the stored one, so that entry breaks; store the version-1 hash too and
the next entry's ``prev_hash`` no longer links, so that one breaks. Entries written before
version 2 keep version 1's weakness: text moved across a ``|`` between neighbouring fields
still verifies there.

What must stay true: the chain and its head row live in one database, so someone who can write
to it can cut entries off the end and rewind the head row, and the chain still holds. Only a
head recorded outside the database (an earlier verify, an export, a backup manifest) shows
that: ``verify(known_head=(seq, hash))`` fails unless that entry is still in the chain.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Row, func, inspect, literal, select
from sqlalchemy.exc import NoSuchTableError
from sqlalchemy.orm import Session

from mlgate.audit.hashes import (
    HASH_VERSION,
    HASH_VERSIONS,
    UNVERSIONED,
    canonical_json,
    change_digest,
    entry_hash,
    hash_of,
)
from mlgate.audit.models import AuditEntry, AuditHead
from mlgate.audit.schemas import AuditEntryRead, AuditVerification
from mlgate.auth.schemas import Principal
from mlgate.clock import utcnow
from mlgate.ids import new_id

__all__ = [
    "GENESIS_HASH",
    "count",
    "get_all",
    "head",
    "iter_entries",
    "latest",
    "record",
    "verify",
]

GENESIS_HASH = "0" * 64
HEAD_ROW_ID = 1


def _json_number(text: str) -> float | int:
    number = float(text)
    return int(number) if number.is_integer() else number


def _locked_head(session: Session) -> AuditHead:
    head_row = session.scalars(
        select(AuditHead).where(AuditHead.id == HEAD_ROW_ID).with_for_update()
    ).one_or_none()
    if head_row is None:
        head_row = AuditHead(id=HEAD_ROW_ID, seq=0, hash=GENESIS_HASH)
        session.add(head_row)
    return head_row


def record(
    session: Session,
    *,
    actor: Principal,
    action: str,
    object_type: str,
    object_id: str,
    change: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction. ``change`` must hold no secrets."""
    head_row = _locked_head(session)
    at = now or utcnow()
    # Integral floats are stored as integers: PostgreSQL's jsonb gives 1e16 back as
    # 10000000000000000 and -0.0 as 0, and the digest must match the body as stored.
    body = json.loads(canonical_json(change or {}), parse_float=_json_number)
    digest = change_digest(body)
    seq = head_row.seq + 1
    hashed = entry_hash(
        version=HASH_VERSION,
        prev_hash=head_row.hash,
        seq=seq,
        at=at,
        actor=actor.name,
        action=action,
        object_type=object_type,
        object_id=object_id,
        digest=digest,
    )
    entry = AuditEntry(
        seq=seq,
        id=new_id(),
        at=at,
        actor=actor.name,
        action=action,
        object_type=object_type,
        object_id=object_id,
        change=body,
        digest=digest,
        prev_hash=head_row.hash,
        hash=hashed,
        hash_version=HASH_VERSION,
    )
    session.add(entry)
    head_row.seq = seq
    head_row.hash = hashed
    session.flush()
    return entry


def head(session: Session) -> tuple[int, str]:
    row = session.get(AuditHead, HEAD_ROW_ID)
    return (row.seq, row.hash) if row else (0, GENESIS_HASH)


def get_all(
    session: Session,
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    actor: str | None = None,
    limit: int = 100,
    after_seq: int = 0,
) -> list[AuditEntryRead]:
    query = select(AuditEntry).where(AuditEntry.seq > after_seq).order_by(AuditEntry.seq)
    if object_type:
        query = query.where(AuditEntry.object_type == object_type)
    if object_id:
        query = query.where(AuditEntry.object_id == object_id)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    rows = session.scalars(query.limit(limit))
    return [AuditEntryRead.model_validate(row) for row in rows]


def latest(session: Session, *, action: str) -> AuditEntryRead | None:
    """The newest entry with ``action`` (e.g. the last ``backup.created``), if any."""
    row = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.action == action)
        .order_by(AuditEntry.seq.desc())
        .limit(1)
    ).one_or_none()
    return AuditEntryRead.model_validate(row) if row else None


def iter_entries(session: Session, *, batch: int = 1000) -> Iterator[AuditEntryRead]:
    """Every entry in seq order, fetched in batches so memory stays flat."""
    for row in _chain(session, batch=batch):
        yield AuditEntryRead.model_validate(row)


def _chain(session: Session, *, batch: int = 1000) -> Iterator[Row[Any]]:
    """Every entry in seq order: plain rows, no ORM objects, in batches (verify reads all).

    A store from before hash versions (an old backup being checked or restored) has no
    ``hash_version`` column: all its entries are version 1.
    """
    table = AuditEntry.__table__
    columns: list[Any] = [c for c in table.columns if c.name != "hash_version"]
    if _has_hash_versions(session):
        columns.append(table.c.hash_version)
    else:
        columns.append(literal(UNVERSIONED, Integer).label("hash_version"))
    last = 0
    while True:
        rows = session.execute(
            select(*columns).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def _has_hash_versions(session: Session) -> bool:
    try:
        found = inspect(session.connection()).get_columns(AuditEntry.__tablename__)
    except NoSuchTableError:
        return True  # the query that follows names what is missing
    return any(column["name"] == "hash_version" for column in found)


def verify(
    session: Session,
    *,
    expected_head: str | None = None,
    known_head: tuple[int, str] | None = None,
) -> AuditVerification:
    """Walk the chain from genesis; report the first entry whose link or content is broken.

    ``expected_head``: the chain must end at this hash (a restored backup). ``known_head``: a
    ``(seq, hash)`` recorded earlier outside the store; that entry must still be in the chain,
    which is what shows entries cut off the end (see the module's docstring).
    """
    prev_hash = GENESIS_HASH
    expected_seq = 1
    count = 0
    for entry in _chain(session):
        count += 1
        if entry.seq != expected_seq:
            return _broken(count, expected_seq, prev_hash, f"entry {expected_seq} is missing")
        if entry.prev_hash != prev_hash:
            return _broken(count, entry.seq, prev_hash, "link to the previous entry is broken")
        if change_digest(entry.change) != entry.digest:
            return _broken(count, entry.seq, prev_hash, "change does not match its digest")
        if entry.hash_version not in HASH_VERSIONS:
            reason = (
                f"hash version {entry.hash_version} is unknown to this mlgate (it knows "
                f"{', '.join(map(str, sorted(HASH_VERSIONS)))}): the entry was altered, or "
                "written by a newer mlgate"
            )
            return _broken(count, entry.seq, prev_hash, reason)
        if hash_of(entry, prev_hash=prev_hash) != entry.hash:
            return _broken(count, entry.seq, prev_hash, "entry content does not match its hash")
        if known_head is not None and entry.seq == known_head[0] and entry.hash != known_head[1]:
            reason = (
                f"entry {entry.seq} is not the one recorded earlier: the chain up to it was "
                "rewritten"
            )
            return _broken(count, entry.seq, prev_hash, reason)
        prev_hash = entry.hash
        expected_seq += 1
        if expected_head is not None and entry.hash == expected_head:
            return AuditVerification(
                ok=True, entries=count, head_seq=entry.seq, head_hash=prev_hash
            )
    last_seq = expected_seq - 1
    if expected_head is not None and expected_head != prev_hash:
        return _broken(count, last_seq, prev_hash, "the expected head entry is not in the chain")
    if known_head is not None and known_head[0] > last_seq:
        reason = (
            f"the chain ends at entry {last_seq}, but entry {known_head[0]} was recorded "
            "earlier: entries were cut off its end"
        )
        return _broken(count, last_seq + 1, prev_hash, reason)
    head_row = session.get(AuditHead, HEAD_ROW_ID)
    if head_row is None:
        return _broken(count, last_seq + 1, prev_hash, "the chain's head row is missing")
    if head_row.seq > last_seq:
        reason = f"entries {last_seq + 1} to {head_row.seq} are missing from the end"
        return _broken(count, last_seq + 1, prev_hash, reason)
    if head_row.seq < last_seq:
        reason = f"the head row names entry {head_row.seq}, but entries after it exist"
        return _broken(count, head_row.seq + 1, prev_hash, reason)
    if head_row.hash != prev_hash:
        return _broken(count, last_seq, prev_hash, "the head row does not match the last entry")
    return AuditVerification(ok=True, entries=count, head_seq=last_seq, head_hash=prev_hash)


def _broken(count: int, seq: int, prev_hash: str, reason: str) -> AuditVerification:
    return AuditVerification(
        ok=False,
        entries=count,
        head_seq=seq - 1,
        head_hash=prev_hash,
        first_broken_seq=seq,
        reason=reason,
    )


def count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)
