"""Legal holds: a subject or a route whose records must not be purged or erased for now.

A purge or an erasure reads the holds first and deletes afterwards. On PostgreSQL (READ
COMMITTED) a hold added in between was confirmed while the records were still there, and the
purge deleted them anyway. So holds are ordered with the work that reads them: a purge or an
erasure takes a shared transaction-level advisory lock before it reads holds, adding a hold an
exclusive one. A hold confirmed is then one every later purge sees, and a purge already
running finishes before the hold is confirmed. On SQLite ``BEGIN IMMEDIATE`` orders them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.clock import utcnow
from mlgate.errors import Conflict, Invalid, NotFound
from mlgate.ids import NAME_RULE, is_valid_name, new_id
from mlgate.privacy.models import LegalHold
from mlgate.privacy.schemas import HoldCreate, HoldRead
from mlgate.privacy.subjects import subject_pseudonym

__all__ = [
    "add_hold",
    "held_routes",
    "held_subjects",
    "list_holds",
    "lock_holds_for_reading",
    "remove_hold",
]

# The advisory lock's key: any fixed bigint no other lock uses (erasures.py, monitoring/counts.py).
_HOLDS_LOCK = 0x6D6C_6761_7465_484C  # "mlgateHL"


def lock_holds_for_reading(session: Session) -> None:
    """Keep holds from being added until this transaction ends (PostgreSQL; see above)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock_shared(_HOLDS_LOCK)))


def _lock_holds_for_change(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_HOLDS_LOCK)))


def _target(secret: bytes, hold_in: HoldCreate) -> str:
    if hold_in.kind == "route":
        if not is_valid_name(hold_in.target):
            raise Invalid.field("target", f"not a route name; {NAME_RULE}")
        return hold_in.target
    pseudonym = subject_pseudonym(secret, hold_in.target)
    if pseudonym is None:
        raise Invalid.field("target", "give the subject's id; it is blank")
    return pseudonym


def add_hold(
    session: Session,
    *,
    secret: bytes,
    hold_in: HoldCreate,
    actor: Principal,
    now: datetime | None = None,
) -> HoldRead:
    """Hold a route (by name) or a subject (stored as its pseudonym, never in clear)."""
    now = now or utcnow()
    target = _target(secret, hold_in)
    _lock_holds_for_change(session)
    taken = session.scalar(
        select(LegalHold.id).where(LegalHold.kind == hold_in.kind, LegalHold.target == target)
    )
    if taken is not None:
        raise Conflict(f"that {hold_in.kind} is already on hold ({taken})")
    row = LegalHold(
        id=new_id(),
        kind=hold_in.kind,
        target=target,
        reason=hold_in.reason,
        created_at=now,
        created_by=actor.name,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="privacy.hold_added",
        object_type="legal_hold",
        object_id=row.id,
        change={"kind": row.kind, "target": row.target, "reason": row.reason},
        now=now,
    )
    return HoldRead.model_validate(row)


def remove_hold(session: Session, *, hold_id: str, actor: Principal) -> HoldRead:
    row = session.get(LegalHold, hold_id)
    if row is None:
        raise NotFound(f"legal hold '{hold_id}' does not exist; see `mlgate privacy hold list`")
    read = HoldRead.model_validate(row)
    session.delete(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="privacy.hold_removed",
        object_type="legal_hold",
        object_id=row.id,
        change={"kind": row.kind, "target": row.target},
    )
    return read


def list_holds(session: Session) -> list[HoldRead]:
    rows = session.scalars(select(LegalHold).order_by(LegalHold.created_at, LegalHold.id))
    return [HoldRead.model_validate(row) for row in rows]


def held_routes(session: Session) -> set[str]:
    return set(session.scalars(select(LegalHold.target).where(LegalHold.kind == "route")))


def held_subjects(session: Session) -> set[str]:
    return set(session.scalars(select(LegalHold.target).where(LegalHold.kind == "subject")))
