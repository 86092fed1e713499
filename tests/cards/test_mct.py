"""Model Card Toolkit v0.0.2 JSON: export matches the schema, round trips keep what MCT holds."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from mlgate.cards import (
    MCT_SCHEMA_VERSION,
    ModelCard,
    SensitiveData,
    from_mct,
    mct_omissions,
    to_mct,
)
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
        licenses={
            "type": "array",
            "items": {
                **_obj(identifier=_STR, custom_text=_STR),
                "oneOf": [{"required": ["identifier"]}, {"required": ["custom_text"]}],
            },
        },
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


def test_import_of_a_toolkit_card_reads_the_fields_beside_its_graphics() -> None:
    document = {
        "schema_version": "0.0.2",
        "model_details": {
            "name": "fraud",
            "documentation": "long text",
            "licenses": [{"custom_text": "internal use only"}, {"identifier": "MIT"}],
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
    assert card.model_details.licenses == ["internal use only", "MIT"]
    assert [d.name for d in card.training_data.datasets] == ["tx-2025"]
    assert card.metrics.performance_metrics[0].slice == "EU"
    assert card.ethical_considerations.risks[0].mitigation is None
    assert card.ethical_considerations.sensitive_data.declared is None
    assert to_mct(card)["model_details"] == {
        "name": "fraud",
        "licenses": [{"custom_text": "internal use only"}, {"identifier": "MIT"}],
    }


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


def test_a_custom_license_is_custom_text_and_survives_both_round_trips(
    full_card: ModelCard,
) -> None:
    licenses = ["Apache-2.0", "Internal use only; no redistribution.", "proprietary"]
    card = full_card.model_copy(
        update={"model_details": full_card.model_details.model_copy(update={"licenses": licenses})}
    )
    exported = to_mct(card)
    assert exported["model_details"]["licenses"] == [
        {"identifier": "Apache-2.0"},
        {"custom_text": "Internal use only; no redistribution."},
        {"identifier": "proprietary"},
    ]
    assert from_mct(exported).model_details.licenses == licenses
    assert to_mct(from_mct(exported)) == exported


@pytest.mark.parametrize("declared", [False, None])
def test_no_sensitive_data_and_unknown_stay_different_through_mct(
    full_card: ModelCard, declared: bool | None
) -> None:
    # "No sensitive data" came back as unknown: a fairness gate reads the two differently.
    ethics = full_card.ethical_considerations.model_copy(
        update={"sensitive_data": SensitiveData(declared=declared)}
    )
    card = full_card.model_copy(update={"ethical_considerations": ethics})
    exported = to_mct(card)
    jsonschema.validate(exported, MCT_V002)
    sensitive = [d.get("sensitive") for d in exported["model_parameters"]["data"]]
    assert sensitive == ([{"sensitive_data": []}] * 2 if declared is False else [None, None])
    assert from_mct(exported).ethical_considerations.sensitive_data.declared is declared
    assert mct_omissions(card) == mct_omissions(full_card)


@pytest.mark.parametrize(
    ("answers", "declared"),
    [
        ([{"sensitive_data": []}, {"sensitive_data": []}], False),
        ([{"sensitive_data": []}, None], None),  # one dataset says nothing: not a "no"
        ([{"sensitive_data": ["age"]}, {"sensitive_data": []}], True),
        ([{}, {"sensitive_data": []}], False),
    ],
)
def test_a_toolkit_card_says_no_sensitive_data_only_when_every_dataset_does(
    answers: list[dict[str, Any] | None], declared: bool | None
) -> None:
    data = [
        {"name": f"d{i}", **({"sensitive": answer} if answer is not None else {})}
        for i, answer in enumerate(answers)
    ]
    card = from_mct({"model_details": {"name": "m"}, "model_parameters": {"data": data}})
    assert card.ethical_considerations.sensitive_data.declared is declared


def test_what_mct_cannot_hold_is_named_not_silently_dropped(full_card: ModelCard) -> None:
    assert mct_omissions(full_card) == [
        "model_details.model_type",
        "intended_use.out_of_scope_uses",
        "factors.relevant_factors",
        "factors.evaluation_factors",
        "metrics.performance_metrics.dataset",
        "metrics.decision_thresholds.value",
        "metrics.decision_thresholds.metric",
        "metrics.decision_thresholds.description",
        "metrics.variation_approaches",
        "evaluation_data.description",
        "evaluation_data.datasets.size",
        "evaluation_data.datasets.date_start",
        "evaluation_data.datasets.date_end",
        "evaluation_data.preprocessing",
        "training_data.description",
        "training_data.datasets.size",
        "training_data.datasets.date_start",
        "training_data.datasets.date_end",
        "training_data.preprocessing",
        "quantitative_analyses.fairness_metrics.name",
        "quantitative_analyses.fairness_metrics.group",
        "quantitative_analyses.fairness_metrics.value",
        "quantitative_analyses.unitary_results",
        "quantitative_analyses.intersectional_results",
        "ethical_considerations.potential_biases",
        "ethical_considerations.privacy_measures",
        "ethical_considerations.regulatory_requirements",
        "caveats_and_recommendations.failure_modes",
        "caveats_and_recommendations.recommendations",
    ]
    assert mct_omissions(mct_part_of(full_card_data())) == []


def test_a_sensitive_data_answer_mct_cannot_hold_is_named() -> None:
    no_datasets = ModelCard.model_validate(
        {
            "model_details": {"name": "m"},
            "ethical_considerations": {"sensitive_data": {"declared": False}},
        }
    )
    assert mct_omissions(no_datasets) == ["ethical_considerations.sensitive_data.declared"]
    yes_without_categories = ModelCard.model_validate(
        {
            "model_details": {"name": "m"},
            "training_data": {"datasets": [{"name": "d"}]},
            "ethical_considerations": {"sensitive_data": {"declared": True}},
        }
    )
    assert mct_omissions(yes_without_categories) == [
        "ethical_considerations.sensitive_data.declared"
    ]


def _roles(card: ModelCard) -> tuple[list[str], list[str]]:
    return (
        [d.name for d in card.training_data.datasets],
        [d.name for d in card.evaluation_data.datasets],
    )


def test_a_v001_card_reads_its_train_and_eval_datasets_by_their_key() -> None:
    # The shape of MCT's own cats_vs_dogs_v0_0_1.json: data was an object, it was refused.
    document = {
        "schema_version": "0.0.1",
        "model_details": {
            "name": "cats-vs-dogs",
            "license": "Apache-2.0",
            "references": ["https://www.kaggle.com/c/dogs-vs-cats"],
            "citation": "https://example.com/demo.ipynb",
        },
        "model_parameters": {
            "data": {
                "train": {"graphics": {}},
                "eval": {
                    "name": "validation split",
                    "link": "https://example.com/eval",
                    "sensitive": False,
                    "graphics": {"collection": [{"name": "size", "image": "iVBOR"}]},
                },
            }
        },
        "considerations": {
            "users": ["Fans of dogs and cats."],
            "use_cases": ["Classifies images of cats and dogs."],
            "limitations": ["No other classes."],
            "tradeoffs": ["Recall vs Precision."],
        },
    }
    card = from_mct(document)
    assert _roles(card) == (["Training Set"], ["validation split"])
    assert card.evaluation_data.datasets[0].link == "https://example.com/eval"
    assert card.model_details.licenses == ["Apache-2.0"]
    assert card.model_details.references == ["https://www.kaggle.com/c/dogs-vs-cats"]
    assert card.model_details.citations == ["https://example.com/demo.ipynb"]
    assert card.intended_use.primary_users == ["Fans of dogs and cats."]
    assert card.caveats_and_recommendations.tradeoffs == ["Recall vs Precision."]
    # Only the eval dataset answered, so the card's answer is still unknown.
    assert card.ethical_considerations.sensitive_data.declared is None
    assert _roles(from_mct(to_mct(card))) == _roles(card)


def test_v001_sensitive_yes_and_no_are_read() -> None:
    def card(train: bool, eval_: bool) -> ModelCard:
        data = {
            "train": {"name": "t", "sensitive": train},
            "eval": {"name": "e", "sensitive": eval_},
        }
        return from_mct({"model_details": {"name": "m"}, "model_parameters": {"data": data}})

    assert card(False, False).ethical_considerations.sensitive_data.declared is False
    assert card(False, True).ethical_considerations.sensitive_data.declared is True


@pytest.mark.parametrize(
    ("data", "training", "evaluation"),
    [
        # Our marker, in any case; only the first one is ours, the rest is the user's text.
        ([{"name": "a", "description": "[Evaluation] held out"}], [], ["a"]),
        ([{"name": "a", "description": "[training] [evaluation] notes"}], ["a"], []),
        # The schema says the description tells the role: its first word does.
        (
            [
                {"name": "a", "description": "Training split, 80 %"},
                {"name": "b", "description": "Validation split, 10 %"},
                {"name": "c", "description": "test set from 2025"},
                {"name": "d", "description": "eval data"},
                {"name": "e", "description": "Snapshots used for evaluation"},
            ],
            ["a", "e"],
            ["b", "c", "d"],
        ),
        # MCT's own v0.0.1 -> v0.0.2 update names a nameless eval dataset "Validation Set".
        (
            [{"name": "Training Set"}, {"name": "Validation Set"}],
            ["Training Set"],
            ["Validation Set"],
        ),
    ],
)
def test_v002_datasets_get_the_role_their_description_or_name_gives(
    data: list[dict[str, Any]], training: list[str], evaluation: list[str]
) -> None:
    card = from_mct({"model_details": {"name": "m"}, "model_parameters": {"data": data}})
    assert _roles(card) == (training, evaluation)


def test_a_marker_is_taken_off_the_description_and_put_back_on_export() -> None:
    data = [
        {"name": "a", "description": "[EVALUATION]  held out  "},
        {"name": "b", "description": "[training]"},
    ]
    card = from_mct({"model_details": {"name": "m"}, "model_parameters": {"data": data}})
    assert [d.description for d in card.evaluation_data.datasets] == ["held out"]
    assert card.training_data.datasets[0].description is None
    assert [d["description"] for d in to_mct(card)["model_parameters"]["data"]] == [
        "[training]",
        "[evaluation] held out",
    ]


def test_a_v001_dataset_of_the_wrong_type_is_invalid_naming_it() -> None:
    with pytest.raises(Invalid) as caught:
        from_mct({"model_details": {"name": "m"}, "model_parameters": {"data": {"train": "x"}}})
    assert [e.field for e in caught.value.errors] == ["model_parameters.data[0]"]
