"""Drift reports from stored counts: over the flush rows the gateways wrote, and over the same
rows once the control plane's hourly roll-up has summed them, on SQLite and on PostgreSQL.

Route ``churn`` serves two versions of model ``churn`` (each with a reference of 10 numeric
features, 10 bins), and a gateway flushes a row per version every 10 s (the default
MLGATE_DRIFT_FLUSH_SECONDS): N rows span N / 2 x 10 s (200,000 rows: 11.6 days). Each row holds
the counts of 500 requests of one row, binned with the gateway's own ``Binner.count_all``
(a pool of 64 such flushes per version, drawn at random), and is stored through the
``DriftCount`` model as the collector stores it, 10,000 rows per transaction.

The baseline is the report over those raw rows; mlgate's figure is the same report after
``drift_rollup_job`` (the job the server runs every 10 minutes) has rolled up every hour but
the last one to two. The report is the service call the API's ``GET /api/v1/routes/{name}/drift``
makes, in a unit of work as its request gets, over the whole span; both reports must be equal.
On PostgreSQL the rolled-up report is timed once more after VACUUM ANALYZE (``_vacuumed``).

Run through bench/drift.py:

    .venv/bin/python bench/drift.py --stored-rows [N]      # N: 200,000 when left out
"""

from __future__ import annotations

import io
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import SecretStr
from sqlalchemy import func, insert, select, text

from common import scratch_postgres, timed
from mlgate.approvals import deployments, policy
from mlgate.approvals import service as approvals
from mlgate.approvals.schemas import PolicyDocument, StagePolicy
from mlgate.auth.schemas import Principal
from mlgate.config import Settings
from mlgate.gateway import service as routes
from mlgate.gateway.schemas import RouteCreate
from mlgate.ids import new_id
from mlgate.monitoring import service as monitoring
from mlgate.monitoring.drift import Binner
from mlgate.monitoring.jobs import drift_rollup_job
from mlgate.monitoring.models import DriftCount
from mlgate.monitoring.schemas import DriftReferenceCreate, DriftReport
from mlgate.registry import service as registry
from mlgate.registry.schemas import ModelCreate, VersionCreate
from mlgate.runtime import Runtime
from mlgate.store.migrate import upgrade

ADMIN = Principal(name="bench", scopes=frozenset({"admin"}))
REVIEWER = Principal(name="reviewer", scopes=frozenset({"approvals:review"}))
ROUTE = MODEL = "churn"
FEATURES = [f"f{i}" for i in range(10)]
VERSIONS = (1, 2)
FLUSH = timedelta(seconds=10)
REQUESTS_PER_FLUSH = 500
POOL = 64  # distinct flushes per version
BATCH = 10_000  # rows per transaction
START = datetime(2026, 1, 5, tzinfo=UTC)


def watched_route(runtime: Runtime, rng: np.random.Generator) -> dict[int, tuple[str, Binner]]:
    """Route ROUTE to MODEL@1, with versions 1 and 2 profiled; version -> (reference id, binner)."""
    with runtime.db.unit_of_work() as session:
        registry.create_model(session, model_in=ModelCreate(name=MODEL), actor=ADMIN)
        review = PolicyDocument(stages=[StagePolicy(name="review")])
        policy.set_policy(session, subject=MODEL, actor=ADMIN, document=review)
        for version in VERSIONS:
            registry.register_version(
                session,
                blobs=runtime.blobs,
                model_name=MODEL,
                version_in=VersionCreate(framework="http"),
                uploads=[registry.ArtifactUpload(name="m", stream=io.BytesIO(b"served elsewhere"))],
                max_bytes=1 << 20,
                actor=ADMIN,
            )
            rows = rng.normal(size=(10_000, len(FEATURES))).tolist()
            monitoring.set_reference(
                session,
                model_name=MODEL,
                version=version,
                reference_in=DriftReferenceCreate(columns=FEATURES, rows=rows),
                actor=ADMIN,
            )
        request = approvals.request_review(session, model_name=MODEL, version=1, requester=ADMIN)
        approvals.approve(session, request_id=request.id, reviewer=REVIEWER, comment="bench")
        deployments.move_alias(
            session, model_name=MODEL, alias="production", version=1, actor=ADMIN
        )
        upstream = {"model": MODEL, "upstream": {"url": "http://127.0.0.1:9/"}}  # never called
        spec = RouteCreate(name=ROUTE, model=MODEL, primary=upstream)  # type: ignore[arg-type]
        routes.create_route(session, route_in=spec, actor=ADMIN)
        ids = [registry.get_version_row(session, model_name=MODEL, version=v).id for v in VERSIONS]
        found = monitoring.references_by_version(session, ids)
    return {
        version: (found[id_][0], Binner(found[id_][1]))
        for version, id_ in zip(VERSIONS, ids, strict=True)
    }


def flushes(binner: Binner, rng: np.random.Generator, shift: float) -> list[list[list[int]]]:
    """POOL flushes' counts: REQUESTS_PER_FLUSH requests of one row each, binned as the
    gateway bins them; ``shift`` moves the first three features (a version that drifts)."""
    pool = []
    for _ in range(POOL):
        served = rng.normal(size=(REQUESTS_PER_FLUSH, len(FEATURES)))
        served[:, :3] += shift
        counts = binner.empty()
        binner.count_all(counts, [[row] for row in served.tolist()])
        pool.append(counts)
    return pool


def populate(runtime: Runtime, rows: int, rng: np.random.Generator) -> datetime:
    """Store ``rows`` flush rows from START on, alternating versions; returns the last one's
    time."""
    targets = watched_route(runtime, rng)
    pools = {v: flushes(binner, rng, shift=0.5 * (v - 1)) for v, (_, binner) in targets.items()}
    at = START
    for first in range(0, rows, BATCH):
        batch = []
        for index in range(first, min(first + BATCH, rows)):
            version = VERSIONS[index % len(VERSIONS)]
            at = START + FLUSH * (index // len(VERSIONS))
            batch.append(
                {
                    "id": new_id(),
                    "at": at,
                    "route": ROUTE,
                    "model": MODEL,
                    "version": version,
                    "reference_id": targets[version][0],
                    "requests": REQUESTS_PER_FLUSH,
                    "unreadable": 0,
                    "counts": pools[version][int(rng.integers(POOL))],
                }
            )
        with runtime.db.unit_of_work() as session:
            session.execute(insert(DriftCount), batch)
    return at


def stored_rows(runtime: Runtime) -> dict[str, int]:
    with runtime.db.read_only() as session:
        found = session.execute(
            select(DriftCount.hourly, func.count()).group_by(DriftCount.hourly)
        ).all()
    return {"hourly" if hourly else "flush": count for hourly, count in found}


def measure(url: str, data_dir: Path, rows: int, repeat: int) -> dict[str, Any]:
    settings = Settings(
        database_url=url, data_dir=data_dir, secret_key=SecretStr("bench-secret-" + "x" * 40)
    )
    runtime = Runtime.from_settings(settings)
    try:
        upgrade(runtime.db.engine)
        started = time.perf_counter()
        last = populate(runtime, rows, np.random.default_rng(20260105))
        populated = time.perf_counter() - started
        until = last + FLUSH

        def report() -> DriftReport:
            with runtime.db.unit_of_work() as session:  # as the API's request gets one
                return monitoring.build_drift_report(session, route=ROUTE, since=START, until=until)

        raw = report()  # and warms the caches, as for the rolled-up rows below
        raw_samples = timed(report, repeat)
        started = time.perf_counter()
        rolled = drift_rollup_job(runtime, now=until)
        rollup_s = time.perf_counter() - started
        after = stored_rows(runtime)
        rolled_up = report()
        rolled_samples = timed(report, repeat)
        vacuumed = _vacuumed(runtime, report, repeat)
    finally:
        runtime.close()
    raw_median, rolled_median = statistics.median(raw_samples), statistics.median(rolled_samples)
    return {
        "rows": rows,
        "span_days": round((until - START) / timedelta(days=1), 1),
        "populate_s": round(populated, 1),
        "report_raw_rows": {"median_s": round(raw_median, 4), "samples_s": _rounded(raw_samples)},
        "rollup_job": {
            "seconds": round(rollup_s, 2),
            "flush_rows_rolled": rolled,
            "rows_after": sum(after.values()),
            **{f"{kind}_rows_after": count for kind, count in sorted(after.items())},
        },
        "report_rolled_up": {
            "median_s": round(rolled_median, 4),
            "samples_s": _rounded(rolled_samples),
        },
        "ratio_raw_vs_rolled_up": round(raw_median / rolled_median, 1),
        **vacuumed,
        "same_report": raw.targets == rolled_up.targets,
        "statuses": [f"{t.model}@{t.version}: {t.status}" for t in raw.targets],
    }


def _vacuumed(runtime: Runtime, report: Callable[[], object], repeat: int) -> dict[str, Any]:
    """PostgreSQL: the rolled-up report again once VACUUM has cleared the deleted rows.

    Right after a roll-up of many rows their dead versions are still in the table and its
    indexes, and the report's scan steps over them until autovacuum has run; the server's job
    rolls up an hour's rows at a time, so that is a catch-up's cost, not the steady state's.
    """
    if runtime.db.dialect != "postgresql":
        return {}
    with runtime.db.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(
            text("VACUUM ANALYZE drift_counts")
        )
    report()
    samples = timed(report, repeat)
    return {
        "report_rolled_up_after_vacuum": {
            "median_s": round(statistics.median(samples), 4),
            "samples_s": _rounded(samples),
        }
    }


def _rounded(samples: list[float]) -> list[float]:
    return [round(s, 4) for s in samples]


def run(rows: int, repeat: int) -> dict[str, Any]:
    """The section's results on SQLite and PostgreSQL (a scratch database, dropped after)."""
    results: dict[str, Any] = {
        "stored_rows": rows,
        "versions": len(VERSIONS),
        "features": len(FEATURES),
        "flush_seconds": FLUSH.total_seconds(),
        "repeat": repeat,
    }
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = measure(f"sqlite:///{tmp}/bench.db", Path(tmp) / "s", rows, repeat)
        print("sqlite", results["sqlite"])
        with scratch_postgres() as url:
            results["postgresql"] = measure(url, Path(tmp) / "p", rows, repeat)
        print("postgresql", results["postgresql"])
    return results
