"""Model Card Toolkit v0.0.2 JSON: export matches the schema, round trips keep what MCT holds."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from mlgate.cards import MCT_SCHEMA_VERSION, ModelCard, from_mct, to_mct
from mlgate.cards.revisions import CardFormat
from mlgate.cards.service import parse_card
from mlgate.errors import Invalid
from tests.cards.conftest import full_card_data


def _obj(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "additionalProperties": False}


_STR = {"type": "string"}
_NUM = {"type": "number"}
_DESCRIBED = {"type": "array", "items": _obj(description=_STR)}

# The v0.0.2 structure, closed at every level so a misspelt key fails the test.
MCT_V002 = _obj(
    schema_version=_STR,
    model_details=_obj(
        name=_STR,
        overview=_STR,
        documentation=_STR,
        path=_STR,
        owners={"type": "array", "items": _obj(name=_STR, contact=_STR)},
        version=_obj(name=_STR, date={"type": "string", "format": "date"}, diff=_STR),
        licenses={"type": "array", "items": _obj(identifier=_STR, custom_text=_STR)},
        references={"type": "array", "items": _obj(reference=_STR)},
        citations={"type": "array", "items": _obj(style=_STR, citation=_STR)},
    ),
    model_parameters=_obj(
        model_architecture=_STR,
        input_format=_STR,
        output_format=_STR,
        data={
            "type": "array",
            "items": _obj(
                name=_STR,
                link=_STR,
                description=_STR,
                sensitive=_obj(sensitive_data={"type": "array", "items": _STR}),
                graphics={"type": "object"},
            ),
        },
    ),
    quantitative_analysis=_obj(
        performance_metrics={
            "type": "array",
            "items": _obj(
                type=_STR,
                value=_NUM,
                slice=_STR,
                confidence_interval=_obj(lower_bound=_NUM, upper_bound=_NUM),
            ),
        },
        graphics={"type": "object"},
    ),
    considerations=_obj(
        users=_DESCRIBED,
        use_cases=_DESCRIBED,
        limitations=_DESCRIBED,
        tradeoffs=_DESCRIBED,
        ethical_considerations={
            "type": "array",
            "items": _obj(name=_STR, mitigation_strategy=_STR),
        },
    ),
)


def mct_part_of(data: dict[str, Any]) -> ModelCard:
    """The full card reduced to the fields MCT v0.0.2 can hold (see `mlgate.cards.mct`)."""
    data["model_details"].pop("model_type")
    data["intended_use"].pop("out_of_scope_uses")
    data["factors"] = {}
    for metric in data["metrics"]["performance_metrics"]:
        metric.pop("dataset", None)
    data["metrics"] = {"performance_metrics": data["metrics"]["performance_metrics"]}
    for section in ("training_data", "evaluation_data"):
        data[section] = {
            "datasets": [
                {k: v for k, v in ds.items() if k in {"name", "link", "description"}}
                for ds in data[section]["datasets"]
            ]
        }
    data["quantitative_analyses"] = {}
    ethics = data["ethical_considerations"]
    data["ethical_considerations"] = {
        "sensitive_data": ethics["sensitive_data"],
        "risks": ethics["risks"],
    }
    caveats = data["caveats_and_recommendations"]
    data["caveats_and_recommendations"] = {
        "known_limitations": caveats["known_limitations"],
        "tradeoffs": caveats["tradeoffs"],
    }
    return ModelCard.model_validate(data)


def test_export_follows_the_v002_structure(full_card: ModelCard) -> None:
    document = to_mct(full_card)
    jsonschema.validate(document, MCT_V002, format_checker=jsonschema.FormatChecker())
    assert document["schema_version"] == MCT_SCHEMA_VERSION == "0.0.2"
    assert document["model_details"]["version"] == {"name": "3.1.0", "date": "2026-03-01"}
    assert document["quantitative_analysis"]["performance_metrics"][0] == {
        "type": "auc",
        "value": 0.91,
        "confidence_interval": {"lower_bound": 0.89, "upper_bound": 0.93},
    }
    assert document["considerations"]["use_cases"] == [
        {"description": "rank accounts for retention offers"}
    ]


def test_round_trip_keeps_every_field_mct_holds(full_card: ModelCard) -> None:
    assert from_mct(to_mct(full_card)) == mct_part_of(full_card_data())


def test_datasets_keep_their_role_and_sensitive_categories(full_card: ModelCard) -> None:
    data = to_mct(full_card)["model_parameters"]["data"]
    assert [d["description"] for d in data] == ["[training] monthly snapshots", "[evaluation]"]
    assert all(d["sensitive"] == {"sensitive_data": ["age"]} for d in data)
    back = from_mct(to_mct(full_card))
    assert [d.name for d in back.evaluation_data.datasets] == ["holdout-2026q1"]
    assert back.ethical_considerations.sensitive_data.declared is True


def test_import_of_a_toolkit_card_ignores_graphics_and_reads_the_rest() -> None:
    document = {
        "schema_version": "0.0.2",
        "model_details": {
            "name": "fraud",
            "documentation": "long text",
            "licenses": [{"custom_text": "internal use only"}],
        },
        "model_parameters": {"data": [{"name": "tx-2025", "graphics": {"collection": []}}]},
        "quantitative_analysis": {
            "performance_metrics": [{"type": "precision", "value": 0.8, "slice": "EU"}],
            "graphics": {"description": "plots"},
        },
        "considerations": {"ethical_considerations": [{"name": "false positives"}]},
    }
    card = from_mct(document)
    assert card.model_details.name == "fraud"
    assert card.model_details.licenses == []
    assert [d.name for d in card.training_data.datasets] == ["tx-2025"]
    assert card.metrics.performance_metrics[0].slice == "EU"
    assert card.ethical_considerations.risks[0].mitigation is None
    assert to_mct(card)["model_details"] == {"name": "fraud"}


@pytest.mark.parametrize(
    "document",
    [
        {},
        {
            "model_details": {"name": "x"},
            "quantitative_analysis": {"performance_metrics": [{"type": "auc", "value": "high"}]},
        },
        {"model_details": {"name": "x", "owners": [{"contact": "no name"}]}},
    ],
)
def test_malformed_toolkit_card_is_invalid(document: dict[str, Any]) -> None:
    with pytest.raises(Invalid) as caught:
        from_mct(document)
    assert caught.value.errors


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, '{"a": ' * 50_000 + "1"])
@pytest.mark.parametrize("format", [CardFormat.MCT, CardFormat.JSON])
def test_deeply_nested_json_is_invalid_content_not_a_crash(text: str, format: CardFormat) -> None:
    with pytest.raises(Invalid) as raised:  # it was a RecursionError: a 500
        parse_card(text, format=format)
    assert raised.value.errors[0].field == "content"
