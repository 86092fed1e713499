"""The deployment gate: aliases (staging, production, ...) point only at approved versions.

Every move appends to the alias history and writes one audit entry (who, when, from, to), so
"who put v7 in production?" has an answer. Rollback treats the history as a stack: it returns
to the version the alias held before the current one was installed, and a version the alias was
rolled back from is off the stack, so two rollbacks after v1 -> v2 -> v3 land on v1, never on v3
again. Versions no longer approved are skipped. A protected alias moves only for an admin.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from mlgate.approvals import outbox
from mlgate.approvals.models import AliasHistory, ModelAlias
from mlgate.approvals.schemas import AliasHistoryRead, AliasRead
from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.clock import utcnow
from mlgate.errors import Conflict, Forbidden, Invalid, NotFound
from mlgate.ids import NAME_RULE, is_valid_name, new_id
from mlgate.registry import service as registry
from mlgate.registry.models import Model, ModelVersion

__all__ = [
    "alias_history",
    "get_alias",
    "list_aliases",
    "move_alias",
    "resolve_alias",
    "rollback",
    "set_protection",
]

APPROVED = "approved"


def _check_alias(alias: str) -> None:
    if not is_valid_name(alias):
        raise Invalid.field("alias", f"{alias[:80]!r} is not an alias; {NAME_RULE}")


def _model(session: Session, name: str) -> Model:
    registry.get_model(session, name=name)  # NotFound with the usual hint
    model = session.scalars(select(Model).where(Model.name == name)).one()
    return model


def _number(session: Session, version_id: str | None) -> int | None:
    if version_id is None:
        return None
    row = session.get(ModelVersion, version_id)
    return row.version if row else None


def _read(session: Session, model: Model, row: ModelAlias) -> AliasRead:
    return AliasRead(
        model=model.name,
        alias=row.alias,
        version=_number(session, row.version_id),
        protected=row.protected,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def _alias_row(session: Session, model: Model, alias: str) -> ModelAlias | None:
    return session.scalars(
        select(ModelAlias).where(ModelAlias.model_id == model.id, ModelAlias.alias == alias)
    ).one_or_none()


def _require_approved(model: Model, version: ModelVersion) -> None:
    """409 unless approved, with the next step that works for the version's status."""
    if version.status == APPROVED:
        return
    ref = f"{model.name}@{version.version}"
    if version.status == "rejected":
        # A version is reviewed once: after a rejection only a new version can be reviewed.
        hint = (
            f"A rejected version cannot be reviewed again: register a new version with "
            f"`mlgate versions register FILE --model {model.name}` and request its review "
            f"with `mlgate review request {model.name}@N`"
        )
    elif version.status == "in_review":
        hint = f"Its review is not finished; see `mlgate review show {ref}`"
    else:
        hint = f"Request a review with `mlgate review request {ref}`"
    raise Conflict(
        f"{ref} is {version.status}, not approved; only approved versions can be deployed. {hint}"
    )


def _check_protection(row: ModelAlias | None, actor: Principal, model: Model) -> None:
    if row is not None and row.protected and not actor.is_admin:
        raise Forbidden(
            f"alias '{row.alias}' of '{model.name}' is protected; only an admin may move it"
        )


def _move(
    session: Session,
    **kwargs: Any,
) -> AliasRead:
    """Move an alias; a concurrent move of the same alias loses with a 409."""
    try:
        return _move_unguarded(session, **kwargs)
    except (StaleDataError, IntegrityError) as error:
        raise Conflict(
            f"alias '{kwargs['alias']}' of '{kwargs['model'].name}' was moved concurrently; "
            "check it and retry"
        ) from error


def _move_unguarded(
    session: Session,
    *,
    model: Model,
    alias: str,
    target: ModelVersion,
    actor: Principal,
    action: str,
    comment: str,
    now: datetime,
) -> AliasRead:
    row = _alias_row(session, model, alias)
    _check_protection(row, actor, model)
    _require_approved(model, target)
    previous = row.version_id if row else None
    if previous == target.id:
        raise Conflict(f"alias '{alias}' of '{model.name}' already points at v{target.version}")
    if row is None:
        row = ModelAlias(
            id=new_id(),
            model_id=model.id,
            alias=alias,
            version_id=target.id,
            protected=False,
            updated_at=now,
            updated_by=actor.name,
        )
        session.add(row)
    else:
        row.version_id, row.updated_at, row.updated_by = target.id, now, actor.name
    last = session.scalar(
        select(func.max(AliasHistory.seq)).where(
            AliasHistory.model_id == model.id, AliasHistory.alias == alias
        )
    )
    session.add(
        AliasHistory(
            id=new_id(),
            model_id=model.id,
            alias=alias,
            seq=(last or 0) + 1,
            from_version_id=previous,
            to_version_id=target.id,
            action=action,
            actor=actor.name,
            comment=comment,
            at=now,
        )
    )
    session.flush()
    change = {
        "model": model.name,
        "alias": alias,
        "from_version": _number(session, previous),
        "to_version": target.version,
        "comment": comment,
    }
    audit.record(
        session,
        actor=actor,
        action=f"alias.{action}",
        object_type="model_alias",
        object_id=f"{model.name}:{alias}",
        change=change,
        now=now,
    )
    outbox.emit(
        session,
        event_type=f"alias.{action}",
        subject=f"{model.name}:{alias}",
        payload={"actor": actor.name, **change},
        now=now,
    )
    return _read(session, model, row)


def move_alias(
    session: Session,
    *,
    model_name: str,
    alias: str,
    version: int,
    actor: Principal,
    comment: str = "",
    now: datetime | None = None,
) -> AliasRead:
    """Point ``alias`` at ``model_name@version``; 409 unless that version is approved."""
    _check_alias(alias)
    model = _model(session, model_name)
    target = registry.get_version_row(session, model_name=model_name, version=version)
    return _move(
        session,
        model=model,
        alias=alias,
        target=target,
        actor=actor,
        action="deployed",
        comment=comment,
        now=now or utcnow(),
    )


def _rollback_stack(session: Session, model: Model, alias: str) -> list[str]:
    """The versions rollback may return to, the next one last, replayed from the history.

    A move pushes the version it replaced; a rollback pops down to the version it returned to,
    dropping the one it left and any it skipped. An entry that does not fit (history written
    before rollback was a stack) counts as a move, so no earlier version is lost.
    """
    history = session.scalars(
        select(AliasHistory)
        .where(AliasHistory.model_id == model.id, AliasHistory.alias == alias)
        .order_by(AliasHistory.seq)
    )
    stack: list[str] = []
    for entry in history:
        if entry.action == "rolled_back" and entry.to_version_id in stack:
            while stack.pop() != entry.to_version_id:
                pass
        elif entry.from_version_id is not None:
            stack.append(entry.from_version_id)
    return stack


def rollback(
    session: Session,
    *,
    model_name: str,
    alias: str = "production",
    actor: Principal,
    comment: str = "",
    now: datetime | None = None,
) -> AliasRead:
    """Move ``alias`` back to the approved version it held before the current one."""
    _check_alias(alias)
    model = _model(session, model_name)
    row = _alias_row(session, model, alias)
    if row is None or row.version_id is None:
        raise Conflict(f"'{model_name}' has no '{alias}' alias to roll back")
    stack = _rollback_stack(session, model, alias)
    while stack:
        candidate_id = stack.pop()
        if candidate_id == row.version_id:
            continue
        candidate = session.get(ModelVersion, candidate_id)
        if candidate is not None and candidate.status == APPROVED:
            return _move(
                session,
                model=model,
                alias=alias,
                target=candidate,
                actor=actor,
                action="rolled_back",
                comment=comment,
                now=now or utcnow(),
            )
    raise Conflict(
        f"alias '{alias}' of '{model_name}' has no earlier approved version to roll back to"
    )


def set_protection(
    session: Session,
    *,
    model_name: str,
    alias: str,
    protected: bool,
    actor: Principal,
    now: datetime | None = None,
) -> AliasRead:
    """Protect (or unprotect) an alias; only admins may do either."""
    now = now or utcnow()
    _check_alias(alias)
    if not actor.is_admin:
        raise Forbidden("only an admin may change an alias's protection")
    model = _model(session, model_name)
    row = _alias_row(session, model, alias)
    if row is None and not protected:
        raise NotFound(f"model '{model_name}' has no alias '{alias}'; nothing to unprotect")
    if row is None:
        # Protecting an alias before its first deploy is allowed: production is guarded from
        # the start. The answer's version (None) tells a misspelt alias from a real one.
        row = ModelAlias(
            id=new_id(),
            model_id=model.id,
            alias=alias,
            version_id=None,
            protected=protected,
            updated_at=now,
            updated_by=actor.name,
        )
        session.add(row)
    elif row.protected == protected:
        state = "protected" if protected else "not protected"
        raise Conflict(f"alias '{alias}' of '{model_name}' is already {state}")
    else:
        row.protected, row.updated_at, row.updated_by = protected, now, actor.name
    try:
        session.flush()
    except (StaleDataError, IntegrityError) as error:
        raise Conflict(f"alias '{alias}' of '{model_name}' changed concurrently") from error
    audit.record(
        session,
        actor=actor,
        action="alias.protected" if protected else "alias.unprotected",
        object_type="model_alias",
        object_id=f"{model_name}:{alias}",
        change={"model": model_name, "alias": alias, "protected": protected},
        now=now,
    )
    return _read(session, model, row)


def list_aliases(session: Session, *, model_name: str) -> list[AliasRead]:
    model = _model(session, model_name)
    rows = session.scalars(
        select(ModelAlias).where(ModelAlias.model_id == model.id).order_by(ModelAlias.alias)
    )
    return [_read(session, model, row) for row in rows]


def get_alias(session: Session, *, model_name: str, alias: str) -> AliasRead:
    model = _model(session, model_name)
    row = _alias_row(session, model, alias)
    if row is None:
        raise NotFound(
            f"'{model_name}' has no alias '{alias}'; deploy one with "
            f"`mlgate deploy {model_name}@N --alias {alias}`"
        )
    return _read(session, model, row)


def resolve_alias(session: Session, *, model_name: str, alias: str) -> int:
    """The version number ``alias`` points at; it is approved by construction."""
    read = get_alias(session, model_name=model_name, alias=alias)
    if read.version is None:
        raise NotFound(
            f"alias '{alias}' of '{model_name}' points at no version yet; deploy one with "
            f"`mlgate deploy {model_name}@N --alias {alias}`"
        )
    return read.version


def alias_history(
    session: Session, *, model_name: str, alias: str | None = None, limit: int = 100
) -> list[AliasHistoryRead]:
    model = _model(session, model_name)
    query = (
        select(AliasHistory)
        .where(AliasHistory.model_id == model.id)
        .order_by(AliasHistory.at.desc(), AliasHistory.seq.desc())
        .limit(max(1, limit))
    )
    if alias:
        query = query.where(AliasHistory.alias == alias)
    return [
        AliasHistoryRead(
            model=model.name,
            alias=entry.alias,
            from_version=_number(session, entry.from_version_id),
            to_version=_number(session, entry.to_version_id),
            action=entry.action,
            actor=entry.actor,
            comment=entry.comment,
            at=entry.at,
        )
        for entry in session.scalars(query)
    ]
