"""A drift report over many stored count rows sums them exactly, per version and reference."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from sklearn.datasets import load_iris
from sqlalchemy import insert

from mlgate.ids import new_id
from mlgate.monitoring import service as monitoring
from mlgate.monitoring.drift import compare
from mlgate.monitoring.models import DriftCount
from mlgate.monitoring.schemas import DriftFeatureProfile, DriftReferenceCreate
from mlgate.registry import service as registry
from mlgate.runtime import Runtime
from tests.integration import world

IRIS = load_iris().data
SINCE = datetime(2026, 3, 1, tzinfo=UTC)
UNTIL = SINCE + timedelta(days=1)
ROWS = 12_000  # per target: more than one partition of the report's streaming read
UPSTREAM = {"upstream": {"url": "http://127.0.0.1:9/"}}  # never called: counts are written here


def referenced(runtime: Runtime, model: str, columns: list[str], rows: list[list[object]]) -> str:
    """Register and deploy ``model`` with a drift reference of ``rows``; returns its id."""
    world.served_model(runtime, model, b"served elsewhere", framework="http", schema=None)
    with runtime.db.unit_of_work() as session:
        monitoring.set_reference(
            session,
            model_name=model,
            version=1,
            reference_in=DriftReferenceCreate(columns=columns, rows=rows),
            actor=world.REQUESTER,
        )
        version_id = registry.get_version_row(session, model_name=model, version=1).id
        return monitoring.references_by_version(session, [version_id])[version_id][0]


def stored_counts(
    runtime: Runtime,
    rng: np.random.Generator,
    *,
    route: str,
    model: str,
    version: int,
    reference_id: str,
    widths: list[int],
    rows: int = ROWS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Write ``rows`` count rows (flushes), a quarter of them outside ``[SINCE, UNTIL)``.

    Returns what falls in the window, summed here from the generated values: requests,
    unreadable requests and every feature's bins end to end.
    """
    seconds = rng.integers(-6 * 3600, 30 * 3600, size=rows)
    seconds[:2] = [0, 24 * 3600]  # exactly since (counted) and exactly until (not counted)
    at = [SINCE + timedelta(seconds=int(s)) for s in seconds]
    requests = rng.integers(1, 1000, size=rows)
    unreadable = rng.integers(0, 5, size=rows)
    bins = rng.integers(0, 10_000, size=(rows, sum(widths)))
    bins[0, 0] = 3_000_000_000  # beyond 32 bits
    splits = np.cumsum(widths)[:-1]
    stored = [
        {
            "id": new_id(),
            "at": at[i],
            "route": route,
            "model": model,
            "version": version,
            "reference_id": reference_id,
            "requests": int(requests[i]),
            "unreadable": int(unreadable[i]),
            "counts": [part.tolist() for part in np.split(bins[i], splits)],
        }
        for i in range(rows)
    ]
    with runtime.db.unit_of_work() as session:
        session.execute(insert(DriftCount), stored)
    inside = np.array([SINCE <= t < UNTIL for t in at])
    return requests[inside].sum(), unreadable[inside].sum(), bins[inside].sum(axis=0)


def test_report_over_many_rows_equals_their_independent_sums(runtime: Runtime) -> None:
    iris_id = referenced(runtime, "iris", ["a", "b", "c", "d"], IRIS.tolist())
    colours = [["red"]] * 60 + [["blue"]] * 30 + [[None]] * 10
    colours_id = referenced(runtime, "colours", ["colour"], colours)
    world.create_route(runtime, name="iris", model="iris", primary={"model": "iris", **UPSTREAM})
    with runtime.db.unit_of_work() as session:
        profiles = {
            "iris": monitoring.get_reference(session, model_name="iris", version=1).features,
            "colours": monitoring.get_reference(session, model_name="colours", version=1).features,
        }
    widths = {model: [len(f.reference) for f in profile] for model, profile in profiles.items()}
    rng = np.random.default_rng(20260301)
    expected = {
        ("colours", 1): stored_counts(
            runtime, rng, route="iris", model="colours", version=1,
            reference_id=colours_id, widths=widths["colours"],
        ),
        ("iris", 1): stored_counts(
            runtime, rng, route="iris", model="iris", version=1,
            reference_id=iris_id, widths=widths["iris"],
        ),
        ("iris", 2): stored_counts(  # counted against a reference since replaced
            runtime, rng, route="iris", model="iris", version=2,
            reference_id=new_id(), widths=widths["iris"],
        ),
    }  # fmt: skip
    stored_counts(  # another route's rows: never in this route's report
        runtime, rng, route="other", model="iris", version=1,
        reference_id=iris_id, widths=widths["iris"],
    )  # fmt: skip

    with runtime.db.unit_of_work() as session:
        report = monitoring.build_drift_report(session, route="iris", since=SINCE, until=UNTIL)

    assert [(t.model, t.version) for t in report.targets] == list(expected)
    for target in report.targets:
        requests, unreadable, bins = expected[(target.model, target.version)]
        assert (target.requests, target.unreadable) == (requests, unreadable)
        if target.version == 2:
            assert target.status == "no_reference"
            continue
        profile: list[DriftFeatureProfile] = profiles[target.model]
        counts = np.split(bins, np.cumsum(widths[target.model])[:-1])
        assert target.features == [
            compare(p, c.tolist(), threshold=monitoring.DEFAULT_THRESHOLD)
            for p, c in zip(profile, counts, strict=True)
        ]
        assert target.rows == max(int(c.sum()) for c in counts)
