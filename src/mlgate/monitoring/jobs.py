"""The control plane's drift jobs: the check (drift becomes incidents on its own) and the
roll-up of old counts into hours (reports over long windows read few rows)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from mlgate.auth.schemas import Principal
from mlgate.clock import utcnow
from mlgate.errors import Conflict
from mlgate.gateway import service as routes
from mlgate.incidents.schemas import IncidentRead
from mlgate.monitoring.collector import KEEP_FOR
from mlgate.monitoring.counts import ROLL_UP_ROWS, forget_folded, roll_up
from mlgate.monitoring.service import build_drift_report, open_drift_incidents
from mlgate.runtime import Runtime

__all__ = [
    "CHECK_WINDOW",
    "FOLDED_KEPT",
    "ROLL_UP_AFTER",
    "ROLL_UP_SECONDS",
    "drift_check_job",
    "drift_rollup_job",
]

logger = logging.getLogger(__name__)
CHECK_WINDOW = timedelta(hours=24)
ROLL_UP_SECONDS = 600.0
# An hour is rolled up once another has ended since it did: the flush rows of the last one to
# two hours stay apart, and a late one (a gateway keeps its rows while the store is down)
# joins its hour at the next run.
ROLL_UP_AFTER = timedelta(hours=1)
# The ids of rolled-up flush rows are kept this long past their rows' time: a gateway retries
# a row for ``KEEP_FOR`` by its own clock, and the hour more covers a clock that lags ours.
FOLDED_KEPT = KEEP_FOR + timedelta(hours=1)
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


def drift_rollup_job(runtime: Runtime, *, now: datetime | None = None) -> int:
    """Sum every route's finished hours of drift counts into a row per target and hour.

    One transaction per ``ROLL_UP_ROWS`` flush rows (about 0.2 s on SQLite, 0.4 s on
    PostgreSQL, keeping their ids included), so other writers never wait long on it; returns
    the flush rows rolled up. A run that meets another stops (logged): what is left waits for
    the next. Then the ids of rolled-up rows from more than ``FOLDED_KEPT`` ago are forgotten,
    as many per transaction.
    """
    now = now or utcnow()
    before = now.replace(minute=0, second=0, microsecond=0) - ROLL_UP_AFTER
    rolled = 0
    while True:
        try:
            with runtime.db.unit_of_work() as session:
                taken = roll_up(session, before=before)
        except Conflict:
            logger.warning("drift roll-up stopped: another run took the same counts")
            break
        rolled += taken
        if taken < ROLL_UP_ROWS:
            break
    while True:
        with runtime.db.unit_of_work() as session:
            if forget_folded(session, before=now - FOLDED_KEPT) < ROLL_UP_ROWS:
                return rolled
