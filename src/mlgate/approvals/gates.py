"""Gate checks: named functions of registry facts that must pass before a stage is approved.

Checks register by name (``register_check``) so other capabilities (security scans, readiness
items) can add theirs; a policy refers to them by name with parameters. A check never raises:
an exception or an unknown name is a failed result that says why, so a broken check blocks
approval instead of waving it through.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from mlgate.approvals.schemas import GateCheckInfo, GateResult, GateSpec
from mlgate.cards import ModelCard, lint
from mlgate.cards.service import current_card
from mlgate.registry.models import ModelVersion

__all__ = [
    "GateContext",
    "GateOutcome",
    "available_checks",
    "is_registered",
    "register_check",
    "run_gates",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GateContext:
    """What a check may look at: the session (read only), the version and its parameters."""

    session: Session
    model_name: str
    version: ModelVersion
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GateOutcome:
    passed: bool
    reason: str


GateCheck = Callable[[GateContext], GateOutcome]


@dataclass(frozen=True, slots=True)
class _Registered:
    check: GateCheck
    description: str


_CHECKS: dict[str, _Registered] = {}


def register_check(name: str, description: str) -> Callable[[GateCheck], GateCheck]:
    """Decorator: make ``check`` available to policies as ``name`` (re-registering replaces)."""

    def register(check: GateCheck) -> GateCheck:
        _CHECKS[name] = _Registered(check=check, description=description)
        return check

    return register


def is_registered(name: str) -> bool:
    return name in _CHECKS


def available_checks() -> list[GateCheckInfo]:
    return [
        GateCheckInfo(name=name, description=entry.description)
        for name, entry in sorted(_CHECKS.items())
    ]


def run_gates(
    session: Session, *, model_name: str, version: ModelVersion, specs: Sequence[GateSpec]
) -> list[GateResult]:
    results: list[GateResult] = []
    for spec in specs:
        entry = _CHECKS.get(spec.check)
        if entry is None:
            results.append(
                GateResult(check=spec.check, passed=False, reason="no such check is registered")
            )
            continue
        context = GateContext(
            session=session, model_name=model_name, version=version, params=dict(spec.params)
        )
        try:
            outcome = entry.check(context)
        except Exception as error:  # a broken check blocks; it never passes by accident
            logger.warning("gate check failed to run", extra={"check": spec.check}, exc_info=error)
            outcome = GateOutcome(False, f"the check could not run ({type(error).__name__})")
        results.append(GateResult(check=spec.check, passed=outcome.passed, reason=outcome.reason))
    return results


def _latest_card(context: GateContext) -> ModelCard | None:
    """The version's current model card (a ``mlgate.cards.ModelCard``), or None."""
    return current_card(context.session, version_id=context.version.id)


@register_check("input_schema_declared", "The version declares a JSON Schema of its inputs.")
def _input_schema_declared(context: GateContext) -> GateOutcome:
    if context.version.input_schema:
        return GateOutcome(True, "the input schema is declared")
    return GateOutcome(False, "no input schema; register the version with --input-schema FILE.json")


@register_check(
    "card_completeness",
    "The model card's completeness is at least `threshold` (0..1, default 0.8).",
)
def _card_completeness(context: GateContext) -> GateOutcome:
    threshold = float(context.params.get("threshold", 0.8))
    card = _latest_card(context)
    if card is None:
        return GateOutcome(False, "the version has no model card; add one with `mlgate cards set`")
    completeness = lint(card).completeness
    if completeness >= threshold:
        return GateOutcome(True, f"card completeness {completeness:.0%} >= {threshold:.0%}")
    return GateOutcome(
        False,
        f"card completeness {completeness:.0%} is below {threshold:.0%}; "
        "`mlgate cards lint` lists what is missing",
    )


@register_check(
    "fairness_metrics_present",
    "When the card declares sensitive data, it reports fairness metrics.",
)
def _fairness_metrics_present(context: GateContext) -> GateOutcome:
    card = _latest_card(context)
    if card is None:
        return GateOutcome(False, "the version has no model card; add one with `mlgate cards set`")
    declared = card.ethical_considerations.sensitive_data.declared
    if declared is None:
        return GateOutcome(
            False, "the card does not say whether sensitive data is used (sensitive_data.declared)"
        )
    if not declared:
        return GateOutcome(True, "no sensitive data is declared")
    if card.quantitative_analyses.fairness_metrics:
        count = len(card.quantitative_analyses.fairness_metrics)
        return GateOutcome(True, f"sensitive data is declared and {count} fairness metrics given")
    return GateOutcome(False, "sensitive data is declared but the card reports no fairness metrics")
