"""What readiness reads from monitoring: whether drift is watched and metrics are exported.

Importing this module registers the ``monitoring`` fact provider (readiness/providers.py
imports it). ``drift_monitor`` holds once the version has a drift reference: every gateway
serving it then counts its inputs against it. ``metrics_exported`` holds once a route serves
the version: the gateway exports every route's metrics on ``/metrics``.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from mlgate.monitoring.models import DriftReference
from mlgate.readiness.facts import Facts
from mlgate.readiness.providers import register_fact_provider
from mlgate.registry.models import Model, ModelVersion

__all__ = ["monitoring_facts"]


def monitoring_facts(session: Session, model: Model, version: ModelVersion, facts: Facts) -> Facts:
    reference = session.scalar(
        select(DriftReference.id).where(DriftReference.version_id == version.id)
    )
    update: dict[str, bool] = {"drift_monitor": reference is not None}
    if facts.routes:
        update["metrics_exported"] = True
    return facts.model_copy(update={"monitoring": facts.monitoring.model_copy(update=update)})


register_fact_provider(monitoring_facts, name="monitoring")
