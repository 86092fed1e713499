"""Append to and verify the hash-chained audit log.

entry.hash = sha256(prev_hash | seq | at | actor | action | object_type | object_id | digest),
digest = sha256(canonical JSON of the change). ``verify`` recomputes both for every entry in
seq order and checks seq is contiguous and the head row matches the last entry, so an altered,
deleted, inserted or reordered row is named by the first seq where the chain breaks.

What must stay true: the chain and its head row live in one database, so someone who can write
to it can cut entries off the end and rewind the head row, and the chain still holds. Only a
head recorded outside the database (an earlier verify, an export, a backup manifest) shows
that: ``verify(known_head=(seq, hash))`` fails unless that entry is still in the chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

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


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _json_number(text: str) -> float | int:
    number = float(text)
    return int(number) if number.is_integer() else number


def _digest(change: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(change).encode()).hexdigest()


def _entry_hash(
    *,
    prev_hash: str,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    digest: str,
) -> str:
    material = "|".join(
        [prev_hash, str(seq), at.isoformat(), actor, action, object_type, object_id, digest]
    )
    return hashlib.sha256(material.encode()).hexdigest()


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
    digest = _digest(body)
    seq = head_row.seq + 1
    entry_hash = _entry_hash(
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
        hash=entry_hash,
    )
    session.add(entry)
    head_row.seq = seq
    head_row.hash = entry_hash
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
    """Every entry in seq order: plain rows, no ORM objects, in batches (verify reads all)."""
    columns = AuditEntry.__table__.columns
    last = 0
    while True:
        rows = session.execute(
            select(*columns).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


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
        if _digest(entry.change) != entry.digest:
            return _broken(count, entry.seq, prev_hash, "change does not match its digest")
        recomputed = _entry_hash(
            prev_hash=prev_hash,
            seq=entry.seq,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            object_type=entry.object_type,
            object_id=entry.object_id,
            digest=entry.digest,
        )
        if recomputed != entry.hash:
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
