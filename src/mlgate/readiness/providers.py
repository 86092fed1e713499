"""Gather the Facts of one model version: the registry's, then each domain's fact provider.

A provider is ``(session, model, version, facts) -> facts`` and registers with
``register_fact_provider``. What must stay true:
- a provider imports its domain lazily, so readiness works while a domain is not installed;
- a provider that raises leaves the facts as they were (unknown, never "yes"), and runs in a
  savepoint so a failed query cannot poison the caller's transaction (PostgreSQL aborts it);
- what nobody can tell stays ``None``; checks report it as unknown, never as "no".
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from types import ModuleType
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mlgate.audit import service as audit
from mlgate.readiness.facts import CardFacts, Facts, RouteFacts
from mlgate.registry import service as registry
from mlgate.registry.models import Model, ModelVersion

__all__ = [
    "DEFAULT_WORKSPACE",
    "FactProvider",
    "fact_providers",
    "gather_facts",
    "register_fact_provider",
    "unregister_fact_provider",
]

logger = logging.getLogger(__name__)

DEFAULT_WORKSPACE = "default"
FactProvider = Callable[[Session, Model, ModelVersion, Facts], Facts]
_PROVIDERS: dict[str, FactProvider] = {}


def register_fact_provider(provider: FactProvider, *, name: str | None = None) -> FactProvider:
    """Add (or, under the same name, replace) a provider; usable as a decorator."""
    _PROVIDERS[name or f"{provider.__module__}.{provider.__qualname__}"] = provider
    return provider


def unregister_fact_provider(name: str) -> None:
    """Remove a provider by the name it was registered under (no error if absent)."""
    _PROVIDERS.pop(name, None)


def fact_providers() -> list[str]:
    return list(_PROVIDERS)


def gather_facts(
    session: Session, *, model: str, version: int, workspace: str = DEFAULT_WORKSPACE
) -> Facts:
    """What mlgate knows about ``model@version`` now; recomputed on every assessment."""
    row = registry.get_version_row(session, model_name=model, version=version)
    model_row = session.scalars(select(Model).where(Model.id == row.model_id)).one()
    facts = Facts(
        workspace=workspace,
        model=model,
        version=version,
        registered=True,
        version_approved=row.status == "approved",
        provenance_recorded=bool(row.git_commit and row.training_data_version and row.artifacts),
        card=CardFacts(input_schema_declared=bool(row.input_schema)),
    )
    for name, provider in _PROVIDERS.items():
        try:
            with session.begin_nested():
                facts = provider(session, model_row, row, facts)
        except Exception as error:  # a broken provider leaves its facts unknown
            logger.warning("fact provider %s failed: %s", name, type(error).__name__)
    return facts


def _optional(module: str) -> ModuleType | None:
    """The module, or None when that domain is not installed (other import errors propagate)."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name is not None and module.startswith(error.name):
            return None
        raise


def _approvals(session: Session, model: Model, version: ModelVersion, facts: Facts) -> Facts:
    policy = _optional("mlgate.approvals.policy")
    if policy is None:
        return facts
    effective = policy.effective_policy(session, model_name=model.name)
    return facts.model_copy(update={"approvals_required": bool(effective.document.stages)})


def _cards(session: Session, model: Model, version: ModelVersion, facts: Facts) -> Facts:
    service = _optional("mlgate.cards.service")
    if service is None or not hasattr(service, "current_card"):
        return facts
    from mlgate.cards import is_placeholder, lint

    card: Any = service.current_card(session, version_id=version.id)
    if card is None:
        known = CardFacts(
            completeness=0.0,
            fairness_metrics_present=False,
            sensitive_data=None,
            input_schema_declared=facts.card.input_schema_declared,
            evaluation_metrics_present=False,
            training_data_documented=False,
        )
        return facts.model_copy(update={"card": known})
    training = card.training_data
    described = bool(training.description and not is_placeholder(training.description))
    card_facts = CardFacts(
        completeness=lint(card).completeness,
        fairness_metrics_present=bool(card.quantitative_analyses.fairness_metrics),
        sensitive_data=card.ethical_considerations.sensitive_data.declared,
        input_schema_declared=facts.card.input_schema_declared,
        evaluation_metrics_present=bool(card.metrics.performance_metrics),
        training_data_documented=described or bool(training.datasets),
    )
    return facts.model_copy(update={"card": card_facts})


def _serves(session: Session, target: Any, model: Model, version: ModelVersion) -> bool:
    if target.model != model.name:
        return False
    if target.version is not None:
        return bool(target.version == version.version)
    deployments = _optional("mlgate.approvals.deployments")
    if deployments is None:
        return False
    from mlgate.errors import NotFound

    try:
        number = deployments.resolve_alias(session, model_name=model.name, alias=target.alias)
    except NotFound:
        return False
    return bool(number == version.version)


def _gateway(session: Session, model: Model, version: ModelVersion, facts: Facts) -> Facts:
    """Routes whose primary, canary or fallback target is this version, and their safeguards."""
    gateway = _optional("mlgate.gateway.service")
    if gateway is None:
        return facts
    from mlgate.gateway.schemas import TargetSpec

    routes: list[RouteFacts] = []
    retention: list[int] = []
    redacted: list[bool] = []
    for route in gateway.get_all(session):
        primary = route.primary or TargetSpec(model=route.model)
        canary = route.canary.target if route.canary is not None else None
        serving = _serves(session, primary, model, version)
        canaried = canary is not None and _serves(session, canary, model, version)
        backup = any(_serves(session, t, model, version) for t in route.fallbacks)
        if not (serving or canaried or backup):
            continue
        canary_used = canaried or (model.name, version.version) in gateway.past_canaries(
            session, name=route.name
        )
        routes.append(
            RouteFacts(
                name=route.name,
                serving_traffic=serving or canaried,
                fallback=bool(route.fallbacks) or route.degradation.mode != "none",
                deadline_ms=route.resilience.deadline_ms,
                retries=route.resilience.max_attempts - 1,
                breaker=True,  # every route's calls go through a breaker (resilience/)
                rate_limit=bool(route.limits.route_rate or route.limits.key_rate),
                input_validation=bool(version.input_schema),
                canary_used=canary_used,
            )
        )
        retention.append(route.retention_days)
        redacted.append(route.log_mode != "full" or route.redact_inputs)
    if not routes:
        return facts
    privacy = facts.privacy.model_copy(
        update={"retention_days": max(retention), "pii_redaction": all(redacted)}
    )
    return facts.model_copy(update={"routes": tuple(routes), "privacy": privacy})


def _privacy(session: Session, model: Model, version: ModelVersion, facts: Facts) -> Facts:
    """Records of processing and payload protection of the routes that serve the version."""
    service = _optional("mlgate.privacy.service")
    if service is None or not facts.routes:
        return facts
    mine = {route.name for route in facts.routes}
    records = [
        record
        for record in service.build_report(session, master_key="readiness").records
        if record.route in mine
    ]
    privacy = facts.privacy.model_copy(
        update={
            "processing_record": all(record.purposes for record in records),
            # "full" seals payloads (AES-GCM); "redacted" stores them redacted but in the clear.
            "log_encryption": all(record.log_mode != "redacted" for record in records),
            "erasure_supported": hasattr(service, "erase_subject"),
        }
    )
    return facts.model_copy(update={"privacy": privacy})


def _backups(session: Session, model: Model, version: ModelVersion, facts: Facts) -> Facts:
    """The last backup (from its audit entry) and the last successful restore drill."""
    update: dict[str, object] = {}
    created = audit.latest(session, action="backup.created")
    if created is not None:
        update["last_backup_at"] = created.at
    drills = _optional("mlgate.backup.drills")
    if drills is not None:
        passed = [drill.at for drill in drills.list_drills(session, limit=50) if drill.ok]
        if passed:
            update["last_drill_at"] = max(passed)
    if not update:
        return facts
    return facts.model_copy(update={"backups": facts.backups.model_copy(update=update)})


def _runbooks(session: Session, model: Model, version: ModelVersion, facts: Facts) -> Facts:
    """Whether an incident runbook names the model or one of the version's routes."""
    runbooks = _optional("mlgate.incidents.runbooks")
    if runbooks is None:
        return facts
    found = runbooks.matching(
        session, routes=[route.name for route in facts.routes], models=[model.name]
    )
    backups = facts.backups.model_copy(update={"runbook_present": bool(found)})
    return facts.model_copy(update={"backups": backups})


# Order matters: privacy reads the routes the gateway provider found.
register_fact_provider(_approvals, name="approvals")
register_fact_provider(_cards, name="cards")
register_fact_provider(_gateway, name="gateway")
register_fact_provider(_privacy, name="privacy")
register_fact_provider(_backups, name="backups")
register_fact_provider(_runbooks, name="runbooks")
_optional("mlgate.scanning.evidence")  # registers "scanning": scan_clean, artifact_signed, …
_optional("mlgate.monitoring.evidence")  # registers "monitoring": drift_monitor, metrics_exported

# Not gathered yet, so unknown until a provider registers: scanning (scan_clean,
# artifact_signed, dependency_audit_clean), the last backup's age, and monitoring's alert rules
# and retraining trigger.
