"""Retention: delete request logs (metadata and payloads) older than their route keeps them.

A record is expired when ``at <= now - retention_days`` of its route (routes that no longer
exist keep the default, 30 days). Legal holds win: nothing of a held route, and no record of
a held subject, is purged, and a hold cannot be added while a purge runs (``holds``). The
clock is an argument, so tests decide what "now" is.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select
from sqlalchemy.orm import Session

from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.gateway import service as routes
from mlgate.gateway.models import RequestLog
from mlgate.gateway.schemas import RouteBody
from mlgate.monitoring.counts import lock_drift_counts
from mlgate.monitoring.models import DriftCount
from mlgate.privacy.holds import held_routes, held_subjects, lock_holds_for_reading
from mlgate.privacy.models import RequestPayload
from mlgate.privacy.schemas import PurgeResult, PurgeRoute

__all__ = ["DEFAULT_RETENTION_DAYS", "purge_expired"]

DEFAULT_RETENTION_DAYS: int = RouteBody.model_fields["retention_days"].default
_BULK = {"synchronize_session": False}


def _expired(table: Any, route: str, cutoff: datetime, spared: set[str]) -> ColumnElement[bool]:
    clause = and_(table.route == route, table.at <= cutoff)
    if spared:
        clause = and_(clause, or_(table.subject.is_(None), table.subject.not_in(spared)))
    return clause


def _count(session: Session, table: Any, clause: ColumnElement[bool]) -> int:
    return int(session.scalar(select(func.count()).select_from(table).where(clause)) or 0)


def purge_expired(
    session: Session, *, now: datetime, actor: Principal, dry_run: bool = False
) -> PurgeResult:
    """Delete exactly the expired, unheld records (or only count them with ``dry_run``)."""
    lock_holds_for_reading(session)  # before the holds are read: see holds.py
    lock_drift_counts(session)  # a roll-up's new hourly rows are seen (or wait): see counts.py
    retention = {route.name: route.retention_days for route in routes.get_all(session)}
    names = set(session.scalars(select(RequestLog.route).distinct())) | set(
        session.scalars(select(RequestPayload.route).distinct())
    )
    names |= set(session.scalars(select(DriftCount.route).distinct()))
    on_hold, subjects = held_routes(session), held_subjects(session)
    results: list[PurgeRoute] = []
    spared_total = 0
    for name in sorted(names):
        days = retention.get(name, DEFAULT_RETENTION_DAYS)
        cutoff = now - timedelta(days=days)
        held = name in on_hold
        log_clause = _expired(RequestLog, name, cutoff, subjects)
        payload_clause = _expired(RequestPayload, name, cutoff, subjects)
        logs = 0 if held else _count(session, RequestLog, log_clause)
        payloads = 0 if held else _count(session, RequestPayload, payload_clause)
        drift_clause = and_(DriftCount.route == name, DriftCount.at <= cutoff)
        drift = 0 if held else _count(session, DriftCount, drift_clause)
        if not held and subjects:
            spared_total += _count(session, RequestLog, _expired(RequestLog, name, cutoff, set()))
            spared_total -= logs
        if not dry_run and (logs or payloads or drift):
            session.execute(delete(RequestLog).where(log_clause), execution_options=_BULK)
            session.execute(delete(RequestPayload).where(payload_clause), execution_options=_BULK)
            session.execute(delete(DriftCount).where(drift_clause), execution_options=_BULK)
        results.append(
            PurgeRoute(
                route=name,
                retention_days=days,
                cutoff=cutoff,
                logs=logs,
                payloads=payloads,
                drift_counts=drift,
                held=held,
            )
        )
    result = PurgeResult(
        dry_run=dry_run,
        now=now,
        routes=results,
        logs=sum(r.logs for r in results),
        payloads=sum(r.payloads for r in results),
        drift_counts=sum(r.drift_counts for r in results),
        spared_by_subject_holds=spared_total,
    )
    if not dry_run and (result.logs or result.payloads or result.drift_counts):
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="privacy.purged",
            object_type="request_logs",
            object_id=now.isoformat(),
            change={
                "logs": result.logs,
                "payloads": result.payloads,
                "drift_counts": result.drift_counts,
                "routes": {
                    r.route: r.logs for r in results if r.logs or r.payloads or r.drift_counts
                },
            },
        )
    return result
