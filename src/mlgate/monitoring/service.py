"""Drift monitoring: reference profiles per version, the gateway's counts, and drift reports."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.clock import ensure_utc, utcnow
from mlgate.errors import Invalid, NotFound
from mlgate.gateway import service as routes
from mlgate.ids import new_id
from mlgate.incidents import service as incidents
from mlgate.incidents.schemas import IncidentRead, Severity
from mlgate.monitoring.drift import build_profile, check_columns, compare
from mlgate.monitoring.models import DriftCount, DriftReference
from mlgate.monitoring.schemas import (
    DriftFeatureProfile,
    DriftReferenceCreate,
    DriftReferenceRead,
    DriftReport,
    TargetDrift,
)
from mlgate.registry import service as registry
from mlgate.registry.models import Model, ModelVersion

__all__ = [
    "DEFAULT_DRIFT_SHARE",
    "DEFAULT_MIN_ROWS",
    "DEFAULT_THRESHOLD",
    "build_drift_report",
    "get_reference",
    "open_drift_incidents",
    "reference_sizes",
    "references_by_version",
    "set_reference",
]

DEFAULT_THRESHOLD = 0.2
DEFAULT_DRIFT_SHARE = 0.5
DEFAULT_MIN_ROWS = 100
_PARTITION_ROWS = 10_000  # drift-count rows summed at a time: bounds a report's memory


def _read(model: str, version: int, row: DriftReference) -> DriftReferenceRead:
    return DriftReferenceRead(
        model=model,
        version=version,
        rows=row.rows,
        features=[DriftFeatureProfile.model_validate(f) for f in row.features],
        created_at=ensure_utc(row.created_at),
        created_by=row.created_by,
    )


def set_reference(
    session: Session,
    *,
    model_name: str,
    version: int,
    reference_in: DriftReferenceCreate,
    actor: Principal,
) -> DriftReferenceRead:
    """Profile ``reference_in``'s rows and make it the version's reference (replacing any)."""
    row = registry.get_version_row(session, model_name=model_name, version=version)
    check_columns(reference_in.columns, row.input_schema)
    features = build_profile(reference_in.columns, reference_in.rows, bins=reference_in.bins)
    existing = session.scalars(
        select(DriftReference).where(DriftReference.version_id == row.id)
    ).one_or_none()
    if existing is not None:
        session.delete(existing)
        session.flush()
    reference = DriftReference(
        id=new_id(),
        version_id=row.id,
        rows=len(reference_in.rows),
        features=[f.model_dump(mode="json") for f in features],
        created_at=utcnow(),
        created_by=actor.name,
    )
    session.add(reference)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="drift.reference_set",
        object_type="model_version",
        object_id=f"{model_name}@{version}",
        change={
            "rows": reference.rows,
            "features": [f.name for f in features],
            "bins": reference_in.bins,
            "replaced": existing is not None,
        },
    )
    return _read(model_name, version, reference)


def get_reference(session: Session, *, model_name: str, version: int) -> DriftReferenceRead:
    row = registry.get_version_row(session, model_name=model_name, version=version)
    reference = session.scalars(
        select(DriftReference).where(DriftReference.version_id == row.id)
    ).one_or_none()
    if reference is None:
        raise NotFound(
            f"{model_name}@{version} has no drift reference; set one with "
            f"`mlgate drift reference {model_name}@{version} reference.csv`"
        )
    return _read(model_name, version, reference)


def references_by_version(
    session: Session, version_ids: Sequence[str]
) -> dict[str, tuple[str, list[DriftFeatureProfile]]]:
    """version id -> (reference id, profile), for the versions that have one."""
    if not version_ids:
        return {}
    found = session.scalars(
        select(DriftReference).where(DriftReference.version_id.in_(set(version_ids)))
    )
    return {
        r.version_id: (r.id, [DriftFeatureProfile.model_validate(f) for f in r.features])
        for r in found
    }


def reference_sizes(session: Session, *, model_name: str) -> dict[int, int]:
    """Version number -> rows of its drift reference, for the model's versions that have one."""
    found = session.execute(
        select(ModelVersion.version, DriftReference.rows)
        .join(DriftReference, DriftReference.version_id == ModelVersion.id)
        .join(Model, Model.id == ModelVersion.model_id)
        .where(Model.name == model_name)
    )
    return {version: rows for version, rows in found}


def build_drift_report(
    session: Session,
    *,
    route: str,
    since: datetime,
    until: datetime,
    threshold: float = DEFAULT_THRESHOLD,
    drift_share: float = DEFAULT_DRIFT_SHARE,
    min_rows: int = DEFAULT_MIN_ROWS,
) -> DriftReport:
    """Compare what ``route`` served in ``[since, until)`` with each version's reference."""
    if until <= since:
        raise Invalid.field("since", "must be before until")
    if not 0 < threshold < math.inf:
        raise Invalid.field("threshold", "must be a number above 0")
    if not 0 < drift_share <= 1:
        raise Invalid.field("drift_share", "must be above 0 and at most 1")
    if min_rows < 1:
        raise Invalid.field("min_rows", "must be at least 1")
    routes.get_route(session, name=route)  # 404 for an unknown route
    tallies = _sum_counts(session, route=route, since=since, until=until)
    targets = [
        _target_drift(session, key, tally, threshold, drift_share, min_rows)
        for key, tally in tallies.items()
    ]
    return DriftReport(
        route=route,
        since=since,
        until=until,
        threshold=threshold,
        drift_share=drift_share,
        min_rows=min_rows,
        drifted=any(t.status == "drift" for t in targets),
        targets=targets,
    )


@dataclass(slots=True)
class _Tally:
    """One target's drift counts summed over a report's window."""

    requests: int
    unreadable: int
    widths: list[int]  # bins per feature, as the first row counted them
    bins: np.ndarray  # every feature's bins end to end (int64)

    def counts(self) -> list[list[int]]:
        """Bins per feature, as the rows store them."""
        parts = np.split(self.bins, np.cumsum(self.widths)[:-1])
        return [part.tolist() for part in parts]


def _sum_counts(
    session: Session, *, route: str, since: datetime, until: datetime
) -> dict[tuple[str, int, str], _Tally]:
    """``route``'s drift counts in ``[since, until)`` summed per model, version and reference.

    Every gateway replica writes a row per target and flush (a day of 10 replicas: 86,400
    rows), so they are streamed in partitions as plain (Core) rows and their counts read as
    the stored JSON text, which numpy parses in one call per partition: loading ORM objects,
    decoding each row's JSON and adding bin by bin took 3 to 5 s per route for those rows
    (``tests/monitoring/test_drift_sums.py`` pins that the sums stay exact). Rows of one
    reference have its bins, so they all have its width.
    """
    query = (
        select(
            DriftCount.model,
            DriftCount.version,
            DriftCount.reference_id,
            DriftCount.requests,
            DriftCount.unreadable,
            cast(DriftCount.counts, Text),
        )
        .where(DriftCount.route == route, DriftCount.at >= since, DriftCount.at < until)
        .order_by(DriftCount.model, DriftCount.version)
        .execution_options(yield_per=_PARTITION_ROWS)
    )
    tallies: dict[tuple[str, int, str], _Tally] = {}
    for partition in session.connection().execute(query).partitions():
        texts: dict[tuple[str, int, str], list[str]] = {}
        for model, version, reference_id, requests, unreadable, counts in partition:
            key = (model, version, reference_id)
            tally = tallies.get(key)
            if tally is None:
                widths = [len(feature) for feature in json.loads(counts)]
                bins = np.zeros(sum(widths), dtype=np.int64)
                tally = tallies[key] = _Tally(0, 0, widths, bins)
            tally.requests += requests
            tally.unreadable += unreadable
            texts.setdefault(key, []).append(counts)
        for key, rows in texts.items():
            tally = tallies[key]
            numbers = ",".join(rows).replace("[", "").replace("]", "")
            parsed = np.fromstring(numbers, dtype=np.int64, sep=",")
            tally.bins += parsed.reshape(len(rows), tally.bins.size).sum(axis=0)
    return tallies


def _target_drift(
    session: Session,
    key: tuple[str, int, str],
    tally: _Tally,
    threshold: float,
    drift_share: float,
    min_rows: int,
) -> TargetDrift:
    model, version, reference_id = key
    reference = session.get(DriftReference, reference_id)
    requests, unreadable = tally.requests, tally.unreadable
    if reference is None:  # replaced or its version deleted: its bins mean nothing now
        return TargetDrift(
            model=model,
            version=version,
            rows=0,
            requests=requests,
            unreadable=unreadable,
            status="no_reference",
            drifted_features=0,
            drift_share=0.0,
            features=[],
            reference=[],
        )
    profile = [DriftFeatureProfile.model_validate(f) for f in reference.features]
    counts = tally.counts()
    features = [compare(p, c, threshold=threshold) for p, c in zip(profile, counts, strict=True)]
    rows = max((f.rows for f in features), default=0)
    drifted = sum(f.drifted for f in features)
    share = drifted / len(features) if features else 0.0
    if rows < min_rows:
        status = "not_enough_data"
    else:
        status = "drift" if share >= drift_share else "no_drift"
    return TargetDrift(
        model=model,
        version=version,
        rows=rows,
        requests=requests,
        unreadable=unreadable,
        status=status,
        drifted_features=drifted,
        drift_share=round(share, 4),
        features=features,
        reference=profile,
    )


def open_drift_incidents(
    session: Session, *, report: DriftReport, actor: Principal, threshold_minutes: int
) -> list[IncidentRead]:
    """An incident per drifting version of the report (one per cause: repeats join it).

    ``threshold_minutes`` is the setting that decides when an incident needs a postmortem.
    """
    opened = []
    for target in report.targets:
        if target.status != "drift":
            continue
        names = ", ".join(f.name for f in target.features if f.drifted)
        opened.append(
            incidents.open_automatic(
                session,
                cause_key=f"drift:{report.route}:{target.model}@{target.version}",
                title=f"Data drift on route {report.route} ({target.model}@{target.version})",
                severity=Severity.SEV3,
                detail=(
                    f"{target.drifted_features} of {len(target.features)} features drifted "
                    f"(PSI >= {report.threshold}) between {report.since.isoformat()} and "
                    f"{report.until.isoformat()}: {names}"
                ),
                affected_routes=[report.route],
                affected_models=[target.model],
                actor=actor,
                threshold_minutes=threshold_minutes,
            )
        )
    return opened
