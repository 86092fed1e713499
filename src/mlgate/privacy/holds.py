"""Legal holds: a subject or a route whose records must not be purged or erased for now."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.clock import utcnow
from mlgate.errors import Conflict, Invalid, NotFound
from mlgate.ids import NAME_RULE, is_valid_name, new_id
from mlgate.privacy.models import LegalHold
from mlgate.privacy.schemas import HoldCreate, HoldRead
from mlgate.privacy.subjects import subject_pseudonym

__all__ = ["add_hold", "held_routes", "held_subjects", "list_holds", "remove_hold"]


def _target(secret: bytes, hold_in: HoldCreate) -> str:
    if hold_in.kind == "route":
        if not is_valid_name(hold_in.target):
            raise Invalid.field("target", f"not a route name; {NAME_RULE}")
        return hold_in.target
    pseudonym = subject_pseudonym(secret, hold_in.target)
    assert pseudonym is not None
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
