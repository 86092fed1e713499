"""Records of processing per route (GDPR art. 30 style), rendered as HTML and Markdown.

For each route: what it is for and on which basis (declared with ``mlgate privacy purpose``),
the data categories the PII detector has seen in its logged payloads, its log mode, retention,
how payloads are protected, and who receives the requests (its backends).
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.clock import utcnow
from mlgate.gateway import service as routes
from mlgate.gateway.schemas import RouteRead, TargetSpec, public_url
from mlgate.privacy.holds import held_routes
from mlgate.privacy.models import ProcessingPurpose, RequestPayload
from mlgate.privacy.schemas import ProcessingRecord, PurposeSet

__all__ = ["PrivacyReport", "build_report", "set_purposes"]

_PROTECTION = {
    "off": "nothing is logged",
    "metadata": "no payloads stored (metadata only, subject pseudonymised)",
    "redacted": "payloads stored with PII redacted; not encrypted",
    "full": "payloads encrypted at rest, AES-256-GCM with a per-subject key (key store)",
}


class PrivacyReport(BaseModel):
    generated_at: datetime
    master_key: str
    records: list[ProcessingRecord]

    def to_markdown(self) -> str:
        return _environment().get_template("report.md.j2").render(report=self)

    def to_html(self) -> str:
        return _environment().get_template("report.html.j2").render(report=self)


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("mlgate.privacy", "templates"),
        autoescape=select_autoescape(
            enabled_extensions=("html.j2",), disabled_extensions=("md.j2",), default=True
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cell"] = lambda value: str(value).replace("|", "\\|").replace("\n", " ")
    return env


def set_purposes(
    session: Session, *, route: str, purposes_in: PurposeSet, actor: Principal
) -> PurposeSet:
    """Declare what ``route`` processes data for; replaces the previous declaration."""
    routes.get_route(session, name=route)  # NotFound for an unknown route
    row = session.get(ProcessingPurpose, route)
    if row is None:
        row = ProcessingPurpose(route=route)
        session.add(row)
    row.purposes = list(purposes_in.purposes)
    row.legal_basis = purposes_in.legal_basis
    row.updated_at = utcnow()
    row.updated_by = actor.name
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="privacy.purposes_set",
        object_type="route",
        object_id=route,
        change=purposes_in.model_dump(),
    )
    return purposes_in


def _recipients(route: RouteRead) -> list[str]:
    specs: list[TargetSpec] = [route.primary or TargetSpec(model=route.model), *route.fallbacks]
    if route.canary is not None:
        specs.append(route.canary.target)
    seen: list[str] = []
    for spec in specs:
        where = public_url(spec.upstream.url) if spec.upstream else "in-process (mlgate gateway)"
        label = f"{where} [{spec.model}@{spec.version or spec.alias}]"
        if label not in seen:
            seen.append(label)
    return seen


def _categories(session: Session) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    rows = session.execute(select(RequestPayload.route, RequestPayload.categories).distinct()).all()
    for route, categories in rows:
        found.setdefault(route, set()).update(categories or [])
    return found


def build_report(
    session: Session, *, master_key: str, now: datetime | None = None
) -> PrivacyReport:
    """The records of processing of every route; ``master_key`` names the wrapping key."""
    purposes = {row.route: row for row in session.scalars(select(ProcessingPurpose))}
    categories = _categories(session)
    on_hold = held_routes(session)
    records = []
    for route in routes.get_all(session):
        declared = purposes.get(route.name)
        records.append(
            ProcessingRecord(
                route=route.name,
                model=route.model,
                purposes=declared.purposes if declared else [],
                legal_basis=declared.legal_basis if declared else "",
                categories=sorted(categories.get(route.name, set())),
                log_mode=route.log_mode,
                retention_days=route.retention_days,
                encryption=_PROTECTION[route.log_mode],
                recipients=_recipients(route),
                subject_header=route.subject_header,
                held=route.name in on_hold,
            )
        )
    return PrivacyReport(generated_at=now or utcnow(), master_key=master_key, records=records)
