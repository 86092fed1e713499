"""Attestations in the store: who said a rubric item is done, for what, and until when.

Rows are never updated: a newer attestation supersedes an older one by being valid longer, and
expiry is computed against ``now`` when evidence is read, so stale evidence stops counting
without a job. An attestation is about one version, one gateway route (it then counts for the
versions the route serves) or, with neither, the whole workspace.

A route attestation is about the route that carried the name when it was given (its id, not
just its name): changing that route keeps it, but a route deleted and recreated under the same
name, for another model or version, is another route and does not inherit it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.clock import utcnow
from mlgate.errors import Invalid
from mlgate.ids import NAME_RULE, is_valid_name, new_id
from mlgate.readiness.evidence import Attestation, EvidenceLevel
from mlgate.readiness.models import AttestationRecord
from mlgate.readiness.rubric import (
    Rubric,
    load_maturity_model,
    load_ml_test_score,
    load_production_checklist,
)
from mlgate.readiness.schemas import AttestationCreate, AttestationRead, SubjectKind
from mlgate.registry import service as registry
from mlgate.registry.models import Model, ModelVersion

__all__ = [
    "DEFAULT_VALIDITY",
    "attest",
    "evidence",
    "list_attestations",
    "resolve_version",
    "rubrics",
]

DEFAULT_VALIDITY = timedelta(days=180)


@cache
def rubrics() -> tuple[Rubric, Rubric, Rubric]:
    """The shipped ML Test Score, production checklist and maturity model, parsed once."""
    return load_ml_test_score(), load_production_checklist(), load_maturity_model()


def _known_items() -> set[str]:
    return {item.id for rubric in rubrics() for item in rubric.items}


def resolve_version(session: Session, *, model: str, version: int | None) -> ModelVersion:
    """``model@version``, or the model's latest version when ``version`` is None."""
    if version is None:
        version = registry.get_model(session, name=model).latest_version
        if version == 0:
            raise Invalid.field(
                "model", f"model '{model}' has no versions yet; register one to assess it"
            )
    return registry.get_version_row(session, model_name=model, version=version)


def _live_route_ids(session: Session, names: Iterable[str]) -> dict[str, str]:
    """The id of the route that carries each name now; names of no route are left out."""
    wanted = set(names)
    if not wanted:
        return {}
    try:
        from mlgate.gateway.models import Route
    except ModuleNotFoundError:  # no gateway installed: no route exists
        return {}
    rows = session.execute(select(Route.name, Route.id).where(Route.name.in_(wanted))).all()
    return {name: route_id for name, route_id in rows}


def _route_id(session: Session, route: str) -> str | None:
    """The id of the route named ``route`` (NotFound if none); None without a gateway."""
    if not is_valid_name(route):
        raise Invalid.field("route", f"'{route[:80]}' is not a route name; {NAME_RULE}")
    try:
        from mlgate.gateway import service as gateway
    except ModuleNotFoundError:  # no gateway: no route serves a version; it counts for nothing
        return None
    gateway.get_route(session, name=route)  # NotFound with the usual hint
    return _live_route_ids(session, [route])[route]


def _version_names(session: Session, version_ids: Iterable[str]) -> dict[str, tuple[str, int]]:
    ids = set(version_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(ModelVersion.id, Model.name, ModelVersion.version)
        .join(Model, Model.id == ModelVersion.model_id)
        .where(ModelVersion.id.in_(ids))
    ).all()
    return {vid: (name, number) for vid, name, number in rows}


def _read(
    row: AttestationRecord,
    names: dict[str, tuple[str, int]],
    now: datetime,
    live_routes: Mapping[str, str],
) -> AttestationRead:
    """``live_routes``: name -> id of the routes that exist now, for route attestations."""
    model, version = names.get(row.version_id or "", (None, None))
    # An unbound route attestation (no route id: its route was gone when ids came) is about
    # no route that exists, even when no route carries its name now (None == None).
    about_live_route = row.route is None or (
        row.route_id is not None and live_routes.get(row.route) == row.route_id
    )
    subject = (
        SubjectKind.VERSION
        if row.version_id
        else SubjectKind.ROUTE
        if row.route
        else SubjectKind.WORKSPACE
    )
    return AttestationRead(
        id=row.id,
        subject=subject,
        model=model,
        version=version,
        route=row.route,
        item_id=row.item_id,
        level=EvidenceLevel(row.level),
        note=row.note,
        attested_by=row.attested_by,
        attested_at=row.attested_at,
        expires_at=row.expires_at,
        valid=about_live_route and row.attested_at <= now < row.expires_at,
    )


def attest(
    session: Session,
    *,
    attestation_in: AttestationCreate,
    actor: Principal,
    model: str | None = None,
    version: int | None = None,
    route: str | None = None,
    now: datetime | None = None,
) -> AttestationRead:
    """Record that ``item_id`` is done for ``model@version``, a ``route`` or (neither) all."""
    now = now or utcnow()
    if attestation_in.item_id not in _known_items():
        raise Invalid.field(
            "item_id",
            f"no rubric has an item '{attestation_in.item_id}'; the report "
            "(`mlgate assess --model M --format md`) lists every item id",
        )
    expires_at = attestation_in.expires_at or now + DEFAULT_VALIDITY
    if expires_at <= now:
        raise Invalid.field("expires_at", "must be in the future")
    version_row: ModelVersion | None = None
    route_id: str | None = None
    if model is not None:
        if version is None:
            raise Invalid.field("version", "attest a model's item on one version: MODEL@N")
        version_row = registry.get_version_row(session, model_name=model, version=version)
        route = None
    elif route is not None:
        route_id = _route_id(session, route)
    row = AttestationRecord(
        id=new_id(),
        version_id=version_row.id if version_row else None,
        route=route,
        route_id=route_id,
        item_id=attestation_in.item_id,
        level=attestation_in.level.value,
        note=attestation_in.note,
        attested_by=actor.name,
        attested_at=now,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    names = {version_row.id: (model or "", version_row.version)} if version_row else {}
    read = _read(row, names, now, {route: route_id} if route and route_id else {})
    target = f"{model}@{version}" if version_row else f"route:{route}" if route else "workspace"
    audit.record(
        session,
        actor=actor,
        action="readiness.attested",
        object_type="readiness_attestation",
        object_id=f"{target}:{read.item_id}",
        change={
            "id": row.id,
            "item_id": read.item_id,
            "level": read.level.value,
            "note": read.note,
            "expires_at": read.expires_at.isoformat(),
        }
        | ({"route_id": route_id} if route_id else {}),
        now=now,
    )
    return read


def list_attestations(
    session: Session,
    *,
    model: str | None = None,
    version: int | None = None,
    route: str | None = None,
    include_expired: bool = True,
    now: datetime | None = None,
) -> list[AttestationRead]:
    """Attestations of one version, one route, or (no filter) every one; newest first."""
    now = now or utcnow()
    statement = select(AttestationRecord)
    if model is not None:
        row = resolve_version(session, model=model, version=version)
        statement = statement.where(AttestationRecord.version_id == row.id)
    elif route is not None:
        statement = statement.where(AttestationRecord.route == route)
    if not include_expired:
        statement = statement.where(AttestationRecord.expires_at > now)
    rows = list(session.scalars(statement.order_by(AttestationRecord.attested_at.desc())))
    names = _version_names(session, (r.version_id for r in rows if r.version_id))
    live = _live_route_ids(session, (r.route for r in rows if r.route))
    return [_read(r, names, now, live) for r in rows]


def evidence(
    session: Session, *, version_ids: Iterable[str], routes: Iterable[str]
) -> list[Attestation]:
    """Attestations that apply: the versions', their routes' and the workspace's.

    ``routes`` are names; only attestations given to the route that carries the name now count.
    """
    conditions = [
        AttestationRecord.version_id.in_(set(version_ids)),
        AttestationRecord.route_id.in_(set(_live_route_ids(session, routes).values())),
        (AttestationRecord.version_id.is_(None) & AttestationRecord.route.is_(None)),
    ]
    rows = session.scalars(select(AttestationRecord).where(or_(*conditions)))
    return [
        Attestation(
            item_id=row.item_id,
            by=row.attested_by,
            at=row.attested_at,
            expires_at=row.expires_at,
            level=EvidenceLevel(row.level),
            note=row.note,
        )
        for row in rows
    ]
