"""Routes in the control plane: create, change and delete them; only approved versions fit.

Every target a route names must resolve to an approved version when the route is written
(409 otherwise); the route table compiler checks again, because approval can be withdrawn.
"""

from __future__ import annotations

from datetime import datetime
from operator import itemgetter
from typing import Any, NamedTuple

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mlgate.approvals import deployments
from mlgate.audit import service as audit
from mlgate.audit.models import AuditEntry
from mlgate.auth.schemas import Principal, Scope
from mlgate.clock import utcnow
from mlgate.errors import Conflict, Forbidden, Invalid, NotFound, field_errors
from mlgate.gateway.models import Route
from mlgate.gateway.schemas import (
    STORED,
    Canary,
    RouteBody,
    RouteCreate,
    RouteRead,
    RouteUpdate,
    TargetSpec,
    public_url,
)
from mlgate.ids import new_id
from mlgate.privacy.payload import JsonPath
from mlgate.registry import service as registry
from mlgate.registry.models import Model, ModelVersion

__all__ = [
    "create_route",
    "delete_route",
    "get_all",
    "get_route",
    "get_servable",
    "past_canaries",
    "resolve_target",
    "update_route",
]


def resolve_target(session: Session, target: TargetSpec) -> ModelVersion:
    """The approved version a target names, or Conflict saying why it cannot be served."""
    if target.version is None:
        try:
            number = deployments.resolve_alias(session, model_name=target.model, alias=target.alias)
        except NotFound as error:
            # The detail already says how to deploy the alias.
            raise Conflict(f"{target.describe()} cannot be served: {error.detail}") from error
    else:
        number = target.version
    version = registry.get_version_row(session, model_name=target.model, version=number)
    if version.status != "approved":
        raise Conflict(
            f"{target.model}@{number} is not approved (status '{version.status}'); only approved "
            f"versions can be served. Request a review with `mlgate review request "
            f"{target.model}@{number}`"
        )
    return version


def _targets(model: str, body: RouteBody) -> list[TargetSpec]:
    targets = [body.primary or TargetSpec(model=model), *body.fallbacks]
    if body.canary is not None:
        targets.append(body.canary.target)
    return targets


def _check_targets(session: Session, model: str, body: RouteBody) -> None:
    if body.subject_path is not None:
        try:
            JsonPath(body.subject_path)
        except Invalid as error:
            raise Invalid.field("subject_path", error.detail) from error
    for target in _targets(model, body):
        version = resolve_target(session, target)
        if body.require_signature:  # as the table compiles it: refused now, not at every call
            from mlgate.scanning.service import signed_manifest

            if signed_manifest(session, version_id=version.id) is None:
                raise Conflict(
                    f"{target.describe()}: {target.model}@{version.version} is not signed and"
                    f" the route requires a signature; sign it with `mlgate sign"
                    f" {target.model}@{version.version} --key KEY`"
                )


def _secret_uses(model: str, body: RouteBody) -> set[tuple[str, str]]:
    return {
        (t.upstream.secret, t.upstream.url)
        for t in _targets(model, body)
        if t.upstream is not None and t.upstream.secret is not None
    }


def _check_secret_uses(
    actor: Principal, model: str, body: RouteBody, before: RouteBody | None = None
) -> None:
    """Sending a stored secret to a URL it was not sent to before needs ``privacy:admin``.

    The gateway sends a target's secret to its upstream as a bearer token, so whoever sets
    the pair (secret, URL) decides where the secret goes: with ``routes:write`` alone, a key
    could otherwise point a route at its own server and read any secret it may not see.
    """
    added = _secret_uses(model, body) - (_secret_uses(model, before) if before else set())
    if added and not actor.has(Scope.PRIVACY_ADMIN):
        secret, url = sorted(added)[0]
        raise Forbidden(
            f"sending secret '{secret}' to {public_url(url)} needs a key with scope "
            f"'{Scope.PRIVACY_ADMIN}', which owns the secrets; routes:write may keep a "
            "secret where it already goes, or drop it"
        )


def _read(row: Route, model_name: str) -> RouteRead:
    fields = {
        "name": row.name,
        "model": model_name,
        "created_at": row.created_at,
        "created_by": row.created_by,
        "updated_at": row.updated_at,
        **row.spec,
    }
    return RouteRead.model_validate(fields, context=STORED)


def _row(session: Session, name: str) -> tuple[Route, str]:
    found = session.execute(
        select(Route, Model.name).join(Model, Model.id == Route.model_id).where(Route.name == name)
    ).one_or_none()
    if found is None:
        raise NotFound(f"route '{name}' does not exist; list routes with `mlgate routes list`")
    return found[0], found[1]


def create_route(
    session: Session, *, route_in: RouteCreate, actor: Principal, now: datetime | None = None
) -> RouteRead:
    now = now or utcnow()
    model = session.scalars(select(Model).where(Model.name == route_in.model)).one_or_none()
    if model is None:
        raise NotFound(f"model '{route_in.model}' does not exist")
    if session.scalar(select(Route.id).where(Route.name == route_in.name)) is not None:
        raise Conflict(f"route '{route_in.name}' already exists")
    _check_targets(session, route_in.model, route_in)
    spec = RouteBody.model_validate(route_in.model_dump(exclude={"name", "model"}))
    _check_secret_uses(actor, route_in.model, spec)
    row = Route(
        id=new_id(),
        name=route_in.name,
        model_id=model.id,
        spec=spec.model_dump(mode="json"),
        created_at=now,
        created_by=actor.name,
        updated_at=now,
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError as error:
        raise Conflict(f"route '{route_in.name}' already exists") from error
    audit.record(
        session,
        actor=actor,
        action="route.created",
        object_type="route",
        object_id=row.name,
        change={"model": route_in.model, **row.spec},
        now=now,
    )
    return _read(row, route_in.model)


def update_route(
    session: Session, *, name: str, route_in: RouteUpdate, actor: Principal
) -> RouteRead:
    row, model_name = _row(session, name)
    spec = RouteBody.model_validate(row.spec, context=STORED)
    changes = route_in.model_dump(exclude_unset=True, exclude={"clear_canary"})
    if route_in.clear_canary:
        changes["canary"] = None
    merged_spec = spec.model_dump()
    for field, value in changes.items():
        if value is None:  # an explicit null puts the field back to its default
            merged_spec.pop(field, None)
        else:
            merged_spec[field] = value
    try:
        merged = RouteBody.model_validate(merged_spec)
    except ValidationError as error:
        raise Invalid("the route would not be valid", errors=field_errors(error)) from None
    _check_targets(session, model_name, merged)
    _check_secret_uses(actor, model_name, merged, before=spec)
    row.spec = merged.model_dump(mode="json")
    row.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="route.updated",
        object_type="route",
        object_id=name,
        change=RouteUpdate.model_validate(changes).model_dump(mode="json", exclude_unset=True)
        | ({"canary": None} if route_in.clear_canary else {}),
    )
    return _read(row, model_name)


def delete_route(session: Session, *, name: str, actor: Principal) -> RouteRead:
    row, model_name = _row(session, name)
    read = _read(row, model_name)
    session.delete(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="route.deleted",
        object_type="route",
        object_id=name,
        change={"model": model_name},
    )
    return read


def get_route(session: Session, *, name: str) -> RouteRead:
    row, model_name = _row(session, name)
    return _read(row, model_name)


def get_all(session: Session) -> list[RouteRead]:
    rows = session.execute(
        select(Route, Model.name).join(Model, Model.id == Route.model_id).order_by(Route.name)
    ).all()
    return [_read(route, model_name) for route, model_name in rows]


def get_servable(session: Session) -> tuple[list[RouteRead], dict[str, str]]:
    """Every route the gateway can serve, and why each other stored route cannot.

    A route stored before a rule was tightened (say, one rate per limit) no longer reads as a
    route: the route table leaves it out and says so, rather than failing for every route.
    """
    routes: list[RouteRead] = []
    unreadable: dict[str, str] = {}
    rows = session.execute(
        select(Route, Model.name).join(Model, Model.id == Route.model_id).order_by(Route.name)
    ).all()
    for route, model_name in rows:
        try:
            routes.append(_read(route, model_name))
        except ValidationError as error:
            problems = "; ".join(f"{e.field}: {e.message}" for e in field_errors(error, root=""))
            unreadable[route.name] = f"stored spec no longer valid ({problems}); update the route"
    return routes, unreadable


class _AliasMove(NamedTuple):
    model: str
    alias: str
    version: int


def past_canaries(session: Session, *, name: str) -> set[tuple[str, int]]:
    """Every ``(model, version)`` route ``name`` has sent canary traffic to since its creation.

    The audit log holds every spec the route was created or changed with, so a canary that was
    promoted (production moved to it, the canary then cleared) still counts. Entries from
    before the route's latest ``route.created`` were about an earlier route of that name. A
    canary by alias counts each version the alias pointed at while it was the route's canary:
    the alias's moves are audited too, in one order with the route's changes (``seq``).
    """
    of_route = (AuditEntry.object_type == "route", AuditEntry.object_id == name)
    created = session.scalar(
        select(func.max(AuditEntry.seq)).where(*of_route, AuditEntry.action == "route.created")
    )
    if created is None:
        return set()
    events: list[tuple[int, Canary | _AliasMove | None]] = []  # None: the canary was cleared
    for seq, change in session.execute(
        select(AuditEntry.seq, AuditEntry.change).where(
            *of_route,
            AuditEntry.action.in_(("route.created", "route.updated")),
            AuditEntry.seq >= created,
        )
    ):
        if "canary" in change:  # else unchanged
            events.append((seq, _stored_canary(change["canary"])))
    by_alias = {
        (item.target.model, item.target.alias)
        for _, item in events
        if isinstance(item, Canary) and item.target.version is None
    }
    events.extend(_alias_moves(session, by_alias))
    pinned: set[tuple[str, int]] = set()
    points: dict[tuple[str, str], int] = {}  # where each alias pointed, as of the entry read
    canary: Canary | None = None
    for _, item in sorted(events, key=itemgetter(0)):
        if isinstance(item, _AliasMove):
            points[(item.model, item.alias)] = item.version
        else:
            canary = item
        if canary is not None:
            target = canary.target
            version = target.version or points.get((target.model, target.alias))
            if version is not None:
                pinned.add((target.model, version))
    return pinned


def _stored_canary(stored: Any) -> Canary | None:
    if stored is None:  # cleared
        return None
    try:  # both actions record the canary as its schema dumps it; read it back the same way
        return Canary.model_validate(stored, context=STORED)
    except ValidationError:  # no canary as this mlgate knows one: it sends traffic nowhere
        return None


def _alias_moves(session: Session, aliases: set[tuple[str, str]]) -> list[tuple[int, _AliasMove]]:
    """Every audited move of ``aliases`` (an alias's value when the canary was set may come
    from a move before the route existed)."""
    if not aliases:
        return []
    rows = session.execute(
        select(AuditEntry.seq, AuditEntry.change).where(
            AuditEntry.object_type == "model_alias",
            AuditEntry.object_id.in_([f"{model}:{alias}" for model, alias in aliases]),
        )
    )
    return [
        (seq, _AliasMove(change["model"], change["alias"], change["to_version"]))
        for seq, change in rows
        if isinstance(change.get("to_version"), int)
    ]
