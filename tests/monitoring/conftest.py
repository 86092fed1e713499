"""Request-log rows and drift counts written straight into the store, and the CLI fixture."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import orjson
from sqlalchemy import insert

from mlgate.gateway.models import RequestLog
from mlgate.ids import new_id
from mlgate.monitoring.collector import DriftCollector
from mlgate.monitoring.drift import Binner, DriftWatch
from mlgate.monitoring.service import references_by_version
from mlgate.registry import service as registry
from mlgate.runtime import Runtime
from tests.cli.conftest import cli

__all__ = ["Logged", "cli", "count_served", "insert_logs"]


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


def count_served(
    runtime: Runtime, rows: np.ndarray, *, route: str = "iris", model: str = "iris"
) -> None:
    """What a gateway serving ``route`` with ``model``@1, ten rows a request, counts and writes."""
    with runtime.db.unit_of_work() as session:
        version_id = registry.get_version_row(session, model_name=model, version=1).id
        reference_id, profile = references_by_version(session, [version_id])[version_id]
    watch = DriftWatch(reference_id, Binner(profile))
    collector = DriftCollector(runtime.db)
    for start in range(0, len(rows), 10):
        inputs = rows[start : start + 10].tolist()
        body = orjson.dumps({"inputs": inputs})
        collector.observe(route, model, 1, watch, inputs, body_bytes=len(body))
    asyncio.run(collector.flush())
