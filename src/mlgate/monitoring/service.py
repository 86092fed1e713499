"""Drift monitoring: reference profiles per version, the gateway's counts, and drift reports."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.clock import ensure_utc, utcnow
from mlgate.errors import Invalid, NotFound
from mlgate.gateway import service as routes
from mlgate.ids import new_id
from mlgate.incidents import service as incidents
from mlgate.incidents.schemas import IncidentRead, Severity
from mlgate.monitoring.counts import Tally, sum_counts
from mlgate.monitoring.drift import build_profile, check_columns, compare
from mlgate.monitoring.models import DriftReference
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
    """Compare what ``route`` served in ``[since, until)`` with each version's reference.

    Over hours rolled up (``counts.roll_up``) the window counts the hours that start in it.
    """
    if until <= since:
        raise Invalid.field("since", "must be before until")
    if not 0 < threshold < math.inf:
        raise Invalid.field("threshold", "must be a number above 0")
    if not 0 < drift_share <= 1:
        raise Invalid.field("drift_share", "must be above 0 and at most 1")
    if min_rows < 1:
        raise Invalid.field("min_rows", "must be at least 1")
    routes.get_route(session, name=route)  # 404 for an unknown route
    tallies = sum_counts(session, route=route, since=since, until=until)
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


def _target_drift(
    session: Session,
    key: tuple[str, int, str],
    tally: Tally,
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
