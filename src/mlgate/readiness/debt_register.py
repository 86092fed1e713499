"""The technical-debt register in the store: add, list prioritised, close, open from gaps.

Ordering and the overdue flag come from the library (``prioritise``), computed against ``now``
on every read, so nothing needs a job to become overdue.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.clock import utcnow
from mlgate.errors import Conflict, Invalid, NotFound
from mlgate.ids import new_id
from mlgate.readiness.debt import (
    TRACKING,
    DebtCategory,
    DebtItem,
    DebtLevel,
    DebtStatus,
    debt_from_assessments,
    prioritise,
    quadrant_of,
)
from mlgate.readiness.models import DebtRecord
from mlgate.readiness.rubric import Rubric
from mlgate.readiness.schemas import DebtClose, DebtCreate, DebtRead
from mlgate.readiness.scoring import ChecklistResult
from mlgate.registry import service as registry
from mlgate.registry.models import Model, ModelVersion

__all__ = [
    "close_debt",
    "create_debt",
    "get_debt",
    "list_debt",
    "open_from_checklist",
    "registered_items",
]

_CLOSING = (DebtStatus.RESOLVED, DebtStatus.ACCEPTED)


def _item(row: DebtRecord, *, key_as_id: bool = False) -> DebtItem:
    return DebtItem(
        id=(row.source_key or row.id) if key_as_id else row.id,
        title=row.title,
        category=DebtCategory(row.category),
        impact=DebtLevel(row.impact),
        effort=DebtLevel(row.effort),
        owner=row.owner,
        due=row.due,
        status=DebtStatus(row.status),
        description=row.description,
        source_item=row.source_item,
    )


def _model_names(session: Session, rows: list[DebtRecord]) -> dict[str, str]:
    ids = {row.model_id for row in rows if row.model_id}
    if not ids:
        return {}
    found = session.execute(select(Model.id, Model.name).where(Model.id.in_(ids))).all()
    return {model_id: name for model_id, name in found}


def _read(
    row: DebtRecord, model: str | None, *, now: datetime, rank: int | None = None
) -> DebtRead:
    item = _item(row)
    return DebtRead(
        id=row.id,
        model=model,
        version=row.version,
        title=row.title,
        description=row.description,
        category=item.category,
        impact=item.impact,
        effort=item.effort,
        owner=row.owner,
        due=row.due,
        status=item.status,
        source_item=row.source_item,
        created_at=row.created_at,
        created_by=row.created_by,
        closed_at=row.closed_at,
        quadrant=quadrant_of(item.impact, item.effort),
        overdue=item.overdue_at(now),
        rank=rank,
    )


def create_debt(
    session: Session, *, debt_in: DebtCreate, actor: Principal, now: datetime | None = None
) -> DebtRead:
    now = now or utcnow()
    model_id: str | None = None
    if debt_in.model is not None:
        if debt_in.version is not None:
            model_id = registry.get_version_row(
                session, model_name=debt_in.model, version=debt_in.version
            ).model_id
        else:
            model_id = session.scalar(select(Model.id).where(Model.name == debt_in.model))
            if model_id is None:
                registry.get_model(session, name=debt_in.model)  # raises NotFound
    elif debt_in.version is not None:
        raise Invalid.field("version", "a version needs its model")
    row = DebtRecord(
        id=new_id(),
        model_id=model_id,
        version=debt_in.version,
        title=debt_in.title,
        description=debt_in.description,
        category=debt_in.category.value,
        impact=debt_in.impact.value,
        effort=debt_in.effort.value,
        owner=debt_in.owner,
        due=debt_in.due,
        status=DebtStatus.OPEN.value,
        created_at=now,
        created_by=actor.name,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="debt.created",
        object_type="debt",
        object_id=row.id,
        change=debt_in.model_dump(mode="json"),
        now=now,
    )
    return _read(row, debt_in.model, now=now)


def list_debt(
    session: Session,
    *,
    model: str | None = None,
    include_closed: bool = False,
    now: datetime | None = None,
) -> list[DebtRead]:
    """Debt in the order to work on it: quick wins first; overdue items are flagged."""
    now = now or utcnow()
    statement = select(DebtRecord)
    if model is not None:
        model_id = session.scalar(select(Model.id).where(Model.name == model))
        if model_id is None:
            registry.get_model(session, name=model)
        statement = statement.where(DebtRecord.model_id == model_id)
    rows = {row.id: row for row in session.scalars(statement)}
    names = _model_names(session, list(rows.values()))
    ranked = prioritise(
        (_item(row) for row in rows.values()), now=now, include_closed=include_closed
    )
    return [
        _read(rows[p.item.id], names.get(rows[p.item.id].model_id or ""), now=now, rank=p.rank)
        for p in ranked
    ]


def _row(session: Session, debt_id: str) -> DebtRecord:
    row = session.get(DebtRecord, debt_id)
    if row is None:
        raise NotFound(f"no debt item '{debt_id}'; `mlgate debt list` shows their ids")
    return row


def get_debt(session: Session, *, debt_id: str, now: datetime | None = None) -> DebtRead:
    row = _row(session, debt_id)
    return _read(row, _model_names(session, [row]).get(row.model_id or ""), now=now or utcnow())


def close_debt(
    session: Session,
    *,
    debt_id: str,
    close_in: DebtClose,
    actor: Principal,
    now: datetime | None = None,
) -> DebtRead:
    """Mark an item resolved (fixed) or accepted (the team lives with it)."""
    now = now or utcnow()
    row = _row(session, debt_id)
    if DebtStatus(row.status) in _CLOSING:
        raise Conflict(f"debt item '{debt_id}' is already {row.status}")
    row.status = close_in.status.value
    row.closed_at = now
    row.updated_at = now
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="debt.closed",
        object_type="debt",
        object_id=row.id,
        change={"status": row.status, "comment": close_in.comment},
        now=now,
    )
    return get_debt(session, debt_id=debt_id, now=now)


def registered_items(session: Session, *, model_id: str) -> list[DebtItem]:
    """The model's and the workspace's debt, ids as report keys so gaps are not listed twice."""
    rows = session.scalars(
        select(DebtRecord).where(
            or_(DebtRecord.model_id == model_id, DebtRecord.model_id.is_(None))
        )
    )
    return [_item(row, key_as_id=True) for row in rows]


def open_from_checklist(
    session: Session,
    *,
    checklist: Rubric,
    result: ChecklistResult,
    version: ModelVersion,
    model_name: str,
    owner: str | None,
    actor: Principal,
    now: datetime,
) -> list[DebtRead]:
    """One open item per unmet checklist item that no open or accepted item tracks yet."""
    derived = debt_from_assessments(checklist, result.items, now=now, owner=owner)
    tracked = set(
        session.scalars(
            select(DebtRecord.source_key).where(
                DebtRecord.model_id == version.model_id,
                DebtRecord.status.in_(sorted(status.value for status in TRACKING)),
                DebtRecord.source_key.is_not(None),
            )
        )
    )
    created: list[DebtRecord] = []
    for debt in derived:
        if debt.id in tracked:
            continue
        row = DebtRecord(
            id=new_id(),
            model_id=version.model_id,
            version=version.version,
            title=debt.title,
            description=debt.description,
            category=debt.category.value,
            impact=debt.impact.value,
            effort=debt.effort.value,
            owner=debt.owner,
            due=debt.due,
            status=DebtStatus.OPEN.value,
            source_key=debt.id,
            source_item=debt.source_item,
            created_at=now,
            created_by=actor.name,
            updated_at=now,
        )
        session.add(row)
        created.append(row)
    if not created:
        return []
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="debt.opened_from_assessment",
        object_type="model_version",
        object_id=f"{model_name}@{version.version}",
        change={"items": {row.id: row.source_item for row in created}},
        now=now,
    )
    ranked = prioritise((_item(row) for row in created), now=now)
    by_id = {row.id: row for row in created}
    return [_read(by_id[p.item.id], model_name, now=now, rank=p.rank) for p in ranked]
