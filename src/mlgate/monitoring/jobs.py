"""The control plane's scheduled drift check: drift alerts become incidents on their own."""

from __future__ import annotations

from datetime import datetime, timedelta

from mlgate.auth.schemas import Principal
from mlgate.clock import utcnow
from mlgate.gateway import service as routes
from mlgate.incidents.schemas import IncidentRead
from mlgate.monitoring.service import build_drift_report, open_drift_incidents
from mlgate.runtime import Runtime

__all__ = ["CHECK_WINDOW", "drift_check_job"]

CHECK_WINDOW = timedelta(hours=24)
SYSTEM = Principal.system("drift")


def drift_check_job(runtime: Runtime, *, now: datetime | None = None) -> list[IncidentRead]:
    """Every route's last 24 hours with the default rules; an incident per drifting version.

    An incident already open for the same route and version gets this check as a repeat
    event instead of a second incident.
    """
    now = now or utcnow()
    opened: list[IncidentRead] = []
    with runtime.db.unit_of_work() as session:
        for route in routes.get_all(session):
            report = build_drift_report(
                session, route=route.name, since=now - CHECK_WINDOW, until=now
            )
            opened += open_drift_incidents(
                session,
                report=report,
                actor=SYSTEM,
                threshold_minutes=runtime.settings.incident_postmortem_minutes,
            )
    return opened
