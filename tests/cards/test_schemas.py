"""The card schema accepts partial cards and refuses malformed ones with field paths."""

from __future__ import annotations

from typing import Any

import pytest

from mlgate.cards import ModelCard, validate_card
from mlgate.errors import Invalid
from tests.cards.conftest import full_card_data


def test_a_card_with_only_a_name_is_valid() -> None:
    card = validate_card({"model_details": {"name": "churn"}})
    assert card.model_details.name == "churn"
    assert card.metrics.performance_metrics == []
    assert card.ethical_considerations.sensitive_data.declared is None


def test_full_card_survives_json_round_trip() -> None:
    card = ModelCard.model_validate(full_card_data())
    assert ModelCard.model_validate_json(card.model_dump_json()) == card


def test_unknown_field_is_refused_with_its_path() -> None:
    data = full_card_data()
    data["intended_use"]["primary_usage"] = ["typo"]
    with pytest.raises(Invalid) as caught:
        validate_card(data)
    assert [e.field for e in caught.value.errors] == ["intended_use.primary_usage"]


def test_errors_name_list_positions() -> None:
    data = full_card_data()
    data["metrics"]["performance_metrics"][1]["value"] = "high"
    with pytest.raises(Invalid) as caught:
        validate_card(data)
    assert caught.value.errors[0].field == "metrics.performance_metrics[1].value"
    assert caught.value.problem()["errors"][0]["field"] == "metrics.performance_metrics[1].value"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("metrics", "performance_metrics", 0, "confidence_interval"), {"low": 0.9, "high": 0.1}),
        (("training_data", "datasets", 0, "date_end"), "2020-01-01"),
        (("training_data", "datasets", 0, "size"), -1),
        (("model_details", "name"), ""),
    ],
)
def test_inconsistent_values_are_refused(path: tuple[str | int, ...], value: object) -> None:
    data = full_card_data()
    target: Any = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    with pytest.raises(Invalid):
        validate_card(data)
