"""MCT import names what the card does not hold, by its path in the input, and reads MCT dates."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from mlgate.cards import ModelCard, from_mct, read_mct, to_mct
from mlgate.errors import Invalid

# A v0.0.2 card as the toolkit writes it: graphics, documentation, a version diff, a citation
# style, and keys of no schema at all, between the fields the card reads.
TOOLKIT_CARD: dict[str, Any] = {
    "schema_version": "0.0.2",
    "model_details": {
        "name": "fraud",
        "overview": "Flags card transactions.",
        "documentation": "A long description.",
        "owners": [{"name": "Risk ML", "contact": "risk@example.com"}],
        "version": {"name": "2", "date": "2020-08-28", "diff": "new features"},
        "licenses": [{"identifier": "MIT"}],
        "citations": [{"style": "APA", "citation": "Risk ML (2020)."}],
        "team_channel": "#risk-ml",
    },
    "model_parameters": {
        "model_architecture": "gradient-boosted trees",
        "data": [
            {"name": "tx-2025", "graphics": {"collection": [{"name": "size", "image": "iVB"}]}},
            {"name": "holdout", "description": "eval set", "graphics": {"collection": []}},
        ],
    },
    "quantitative_analysis": {
        "performance_metrics": [{"type": "precision", "value": 0.8, "threshold": 0.5}],
        "graphics": {"description": "plots", "collection": [{"name": "pr"}]},
    },
    "considerations": {"ethical_considerations": [{"name": "false positives"}]},
    "x-reviewed-by": "olga",
}
TOOLKIT_CARD_NOT_IMPORTED = [
    "model_details.version.diff",
    "model_details.citations[0].style",
    "model_details.documentation",
    "model_details.team_channel",
    "model_parameters.data[0].graphics",
    "quantitative_analysis.performance_metrics[0].threshold",
    "quantitative_analysis.graphics",
    "x-reviewed-by",
]


def test_what_the_card_has_no_place_for_is_named_by_its_path_in_the_input() -> None:
    imported = read_mct(TOOLKIT_CARD)
    # model_parameters.data[1].graphics holds nothing, so nothing is lost and nothing named.
    assert imported.not_imported == TOOLKIT_CARD_NOT_IMPORTED
    assert imported.notes == {}
    assert imported.card == from_mct(TOOLKIT_CARD)
    assert imported.card.model_details.citations == ["Risk ML (2020)."]
    assert [d.name for d in imported.card.evaluation_data.datasets] == ["holdout"]


def test_empty_values_the_card_has_no_place_for_are_not_named() -> None:
    document = {
        "model_details": {"name": "m", "documentation": "", "version": {"diff": None}},
        "model_parameters": {"data": [{"name": "d", "graphics": {"collection": [{}, None]}}]},
        "quantitative_analysis": {"graphics": {}},
        "considerations": {"fairness_assessment": [], "notes": "one is not empty"},
    }
    assert read_mct(document).not_imported == ["considerations.notes"]


def test_a_key_that_is_not_plain_is_named_as_one_line_of_ascii_without_commas() -> None:
    document = {"model_details": {"name": "m", "größe, in MB": 12, "two\nlines": True}}
    assert read_mct(document).not_imported == [
        'model_details["gr\\u00f6\\u00dfe\\u002c in MB"]',
        'model_details["two\\nlines"]',
    ]


def test_a_license_with_both_identifier_and_text_names_the_text_it_does_not_import() -> None:
    document = {
        "model_details": {"name": "m", "licenses": [{"identifier": "MIT", "custom_text": "x"}]}
    }
    imported = read_mct(document)
    assert imported.card.model_details.licenses == ["MIT"]
    assert imported.not_imported == ["model_details.licenses[0].custom_text"]
    assert "identifier is imported" in imported.notes["model_details.licenses[0].custom_text"]


def test_our_own_export_reimported_names_nothing_but_what_was_added(full_card: ModelCard) -> None:
    exported = to_mct(full_card)
    assert read_mct(exported).not_imported == []
    exported["model_details"]["documentation"] = "added after the export"
    assert read_mct(exported).not_imported == ["model_details.documentation"]


def test_a_v001_card_names_only_what_it_does_not_read() -> None:
    # The shape of MCT's own cats_vs_dogs_v0_0_1.json, with every field the import reads.
    document = {
        "schema_version": "0.0.1",
        "model_details": {
            "name": "cats-vs-dogs",
            "overview": "Classifies cats and dogs.",
            "owners": [{"name": "Demo", "contact": "demo@example.com"}],
            "version": {"name": "1", "date": "08/28/2020"},
            "license": "Apache-2.0",
            "references": ["https://www.kaggle.com/c/dogs-vs-cats"],
            "citation": "https://example.com/demo.ipynb",
        },
        "model_parameters": {
            "model_architecture": "MobileNetV2",
            "data": {
                "train": {"graphics": {}},
                "eval": {
                    "name": "validation split",
                    "link": "https://example.com/eval",
                    "sensitive": False,
                    "graphics": {"collection": [{"name": "size", "image": "iVBOR"}]},
                },
                "test": {"name": "held out"},
            },
        },
        "quantitative_analysis": {"performance_metrics": [{"type": "accuracy", "value": 0.9}]},
        "considerations": {
            "users": ["Fans of dogs and cats."],
            "use_cases": ["Classifies images of cats and dogs."],
            "limitations": ["No other classes."],
            "tradeoffs": ["Recall vs Precision."],
            "ethical_considerations": [{"name": "none", "mitigation_strategy": "n/a"}],
        },
    }
    imported = read_mct(document)
    # A v0.0.1 dataset is named by its key, as the input has it; "test" is no v0.0.1 split.
    assert imported.not_imported == [
        "model_parameters.data.eval.graphics",
        "model_parameters.data.test",
    ]
    assert imported.card.model_details.date == dt.date(2020, 8, 28)
    assert imported.card.model_details.licenses == ["Apache-2.0"]
    assert imported.card.model_details.citations == ["https://example.com/demo.ipynb"]


@pytest.mark.parametrize(
    "text",
    [
        "08/28/2020",  # MM/DD/YYYY, as some MCT samples write it
        "28/08/2020",  # DD/MM/YYYY
        " 8/28/2020 ",
    ],
)
def test_an_mct_date_with_one_reading_is_read(text: str) -> None:
    document = {"model_details": {"name": "m", "version": {"name": "1", "date": text}}}
    imported = read_mct(document)
    assert imported.card.model_details.date == dt.date(2020, 8, 28)
    assert imported.not_imported == []


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("03/04/2020", '"03/04/2020" may be 2020-03-04 or 2020-04-03; write it as YYYY-MM-DD'),
        ("02/30/2020", '"02/30/2020" is not a date the card can read; write it as YYYY-MM-DD'),
        ("spring 2020", '"spring 2020" is not a date the card can read; write it as YYYY-MM-DD'),
        ("86400", '"86400" is not a date the card can read; write it as YYYY-MM-DD'),  # not Unix
    ],
)
def test_an_mct_date_the_card_cannot_read_is_named_with_why_not_a_failure(
    text: str, why: str
) -> None:
    document = {"model_details": {"name": "m", "version": {"name": "1", "date": text}}}
    imported = read_mct(document)
    assert imported.card.model_details.date is None
    assert imported.card.model_details.version == "1"
    assert imported.not_imported == ["model_details.version.date"]
    assert imported.notes == {"model_details.version.date": why}


def test_the_same_day_and_month_is_one_date() -> None:
    document = {"model_details": {"name": "m", "version": {"date": "03/03/2020"}}}
    assert from_mct(document).model_details.date == dt.date(2020, 3, 3)


@pytest.mark.parametrize(
    ("key", "wrong", "right", "field", "unread"),
    [
        ("owners", [{"name": "a", "contact": 5, "role": "x"}], [{"name": "a", "role": "x"}],
         "model_details.owners[0].contact", "model_details.owners[0].role"),
        ("version", {"date": 20200828, "diff": "x"}, {"date": "2020-08-28", "diff": "x"},
         "model_details.version.date", "model_details.version.diff"),
        ("references", [{"reference": ["a"], "note": "x"}], [{"reference": "a", "note": "x"}],
         "model_details.references[0].reference", "model_details.references[0].note"),
    ],
)  # fmt: skip
def test_keys_the_card_does_not_read_leave_the_fields_it_reads_type_checked(
    key: str, wrong: Any, right: Any, field: str, unread: str
) -> None:
    with pytest.raises(Invalid) as caught:
        read_mct({"model_details": {"name": "m", "documentation": "x", key: wrong}})
    assert [e.field for e in caught.value.errors] == [field]
    fixed = read_mct({"model_details": {"name": "m", "documentation": "x", key: right}})
    assert fixed.not_imported == [unread, "model_details.documentation"]


def test_deeply_nested_unknown_values_are_named_not_a_crash() -> None:
    nested: dict[str, Any] = {"leaf": 1}
    for _ in range(5_000):  # deeper than Python's recursion limit
        nested = {"x": nested}
    document = {"model_details": {"name": "m"}, "extension": nested}
    assert read_mct(document).not_imported == ["extension"]
