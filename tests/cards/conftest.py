"""Card factories: a complete card, and a card whose every string field holds a given text."""

from __future__ import annotations

import datetime as dt
import types
import typing
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from mlgate.cards import ModelCard


def full_card_data() -> dict[str, Any]:
    """A card with every field filled; lint finds it 100 % complete."""
    return {
        "model_details": {
            "name": "churn",
            "overview": "Predicts which subscribers cancel within 30 days.",
            "version": "3.1.0",
            "date": "2026-03-01",
            "owners": [{"name": "Retention ML", "contact": "retention-ml@example.com"}],
            "model_type": "binary classifier",
            "architecture": "gradient-boosted trees, 400 trees of depth 6",
            "input_format": "JSON object of 42 account features",
            "output_format": "probability of churn in [0, 1]",
            "licenses": ["Apache-2.0"],
            "references": ["https://example.com/churn-design-doc"],
            "citations": ["Retention ML (2026). Churn model v3."],
            "path": "models/churn/3",
        },
        "intended_use": {
            "primary_uses": ["rank accounts for retention offers"],
            "primary_users": ["retention marketing team"],
            "out_of_scope_uses": ["credit decisions", "pricing individual customers"],
        },
        "factors": {
            "relevant_factors": ["tenure", "region", "age band"],
            "evaluation_factors": ["region", "age band"],
        },
        "metrics": {
            "performance_metrics": [
                {
                    "name": "auc",
                    "value": 0.91,
                    "dataset": "holdout-2026q1",
                    "confidence_interval": {"low": 0.89, "high": 0.93},
                },
                {"name": "auc", "value": 0.87, "slice": "age 65+", "dataset": "holdout-2026q1"},
                {"name": "recall@0.4", "value": 0.72, "slice": "EU"},
            ],
            "decision_thresholds": [
                {"value": 0.4, "metric": "recall@0.4", "description": "offer above 0.4"},
            ],
            "variation_approaches": "bootstrap over 1,000 resamples",
        },
        "evaluation_data": {
            "description": "Accounts active in 2026 Q1, never seen in training.",
            "datasets": [
                {
                    "name": "holdout-2026q1",
                    "link": "s3://data/holdout-2026q1",
                    "size": 50000,
                    "date_start": "2026-01-01",
                    "date_end": "2026-03-31",
                }
            ],
            "preprocessing": "same feature pipeline as training",
        },
        "training_data": {
            "description": "Two years of account history.",
            "datasets": [
                {
                    "name": "accounts-2024-2025",
                    "description": "monthly snapshots",
                    "size": 1200000,
                    "date_start": "2024-01-01",
                    "date_end": "2025-12-31",
                }
            ],
            "preprocessing": "drop accounts younger than 30 days; impute medians",
        },
        "quantitative_analyses": {
            "fairness_metrics": [
                {"name": "equal opportunity difference", "group": "age 65+", "value": 0.03},
            ],
            "unitary_results": "AUC is within 0.04 across regions.",
            "intersectional_results": "Older EU customers have the lowest recall (0.66).",
        },
        "ethical_considerations": {
            "sensitive_data": {"declared": True, "categories": ["age"]},
            "potential_biases": ["under-represents accounts opened in 2025"],
            "risks": [
                {
                    "name": "offers skew to younger customers",
                    "mitigation": "monitor offer rate per age band",
                }
            ],
            "privacy_measures": ["features are pseudonymised"],
            "regulatory_requirements": ["GDPR art. 22 does not apply: no legal effect"],
        },
        "caveats_and_recommendations": {
            "known_limitations": ["accounts younger than 30 days are not scored"],
            "failure_modes": ["scores collapse to 0.5 when usage features are missing"],
            "tradeoffs": ["recall favoured over precision"],
            "recommendations": ["retrain quarterly"],
        },
    }


@pytest.fixture
def full_card() -> ModelCard:
    return ModelCard.model_validate(full_card_data())


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> X."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return next(a for a in typing.get_args(annotation) if a is not type(None))
    return annotation


def _value_for(annotation: Any, text: str) -> Any:
    annotation = _unwrap(annotation)
    if typing.get_origin(annotation) is list:
        return [_value_for(typing.get_args(annotation)[0], text)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return build_with_text(annotation, text)
    samples: dict[Any, Any] = {
        str: text,
        float: 0.5,
        int: 7,
        bool: True,
        dt.date: dt.date(2026, 1, 2),
    }
    return samples[annotation]


def build_with_text(model: type[BaseModel], text: str) -> dict[str, Any]:
    """Walk the schema: every field set, every string (and list item) equal to ``text``."""
    hints = typing.get_type_hints(model)
    return {name: _value_for(hints[name], text) for name in model.model_fields}


@pytest.fixture
def card_with_text() -> Callable[[str], ModelCard]:
    return lambda text: ModelCard.model_validate(build_with_text(ModelCard, text))
