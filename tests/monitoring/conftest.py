"""Request-log rows written straight into the store, and the CLI fixture of tests/cli."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert

from mlgate.gateway.models import RequestLog
from mlgate.ids import new_id
from mlgate.runtime import Runtime
from tests.cli.conftest import cli

__all__ = ["Logged", "cli", "insert_logs"]


@dataclass(frozen=True)
class Logged:
    """One request-log row; the defaults are a plain successful request on route ``churn``."""

    at: datetime
    latency_ms: float
    outcome: str = "ok"
    target: str | None = "churn@1"
    status: int = 200
    route: str = "churn"


def insert_logs(runtime: Runtime, logs: Iterable[Logged]) -> None:
    rows = [
        {
            "id": new_id(),
            "at": log.at,
            "route": log.route,
            "model": "churn",
            "version": 1,
            "target": log.target,
            "status": log.status,
            "outcome": log.outcome,
            "latency_ms": log.latency_ms,
            "attempts": 1,
            "key_id": None,
            "subject": None,
            "request_id": "r",
        }
        for log in logs
    ]
    if rows:
        with runtime.db.unit_of_work() as session:
            session.execute(insert(RequestLog), rows)
