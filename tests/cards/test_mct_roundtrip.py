"""Property: an MCT export keeps every field MCT can hold and names every field it cannot.

`HELD` is written from the MCT v0.0.2 schema, independently of `mlgate.cards.mct`, so a field
the mapping loses (as it once lost "no sensitive data") fails here even if it is reported.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import jsonschema
from hypothesis import given
from hypothesis import strategies as st

from mlgate.cards import ModelCard, from_mct, mct_omissions, read_mct, to_mct
from mlgate.cards.paths import flatten
from tests.cards.test_mct import MCT_V002

HELD = frozenset(
    {
        "model_details.name",
        "model_details.overview",
        "model_details.version",
        "model_details.date",
        "model_details.owners.name",
        "model_details.owners.contact",
        "model_details.architecture",
        "model_details.input_format",
        "model_details.output_format",
        "model_details.licenses",
        "model_details.references",
        "model_details.citations",
        "model_details.path",
        "intended_use.primary_uses",
        "intended_use.primary_users",
        "metrics.performance_metrics.name",
        "metrics.performance_metrics.value",
        "metrics.performance_metrics.slice",
        "metrics.performance_metrics.confidence_interval.low",
        "metrics.performance_metrics.confidence_interval.high",
        "training_data.datasets.name",
        "training_data.datasets.description",
        "training_data.datasets.link",
        "evaluation_data.datasets.name",
        "evaluation_data.datasets.description",
        "evaluation_data.datasets.link",
        "ethical_considerations.risks.name",
        "ethical_considerations.risks.mitigation",
        "caveats_and_recommendations.known_limitations",
        "caveats_and_recommendations.tradeoffs",
    }
)
_INDEX = re.compile(r"\[\d+\]")

# Text that trips role markers, SPDX-looking and custom licenses, and MCT's split names.
_TEXT = st.one_of(
    st.text(alphabet="abZ é-.;[]()", min_size=1, max_size=10).map(str.strip).filter(bool),
    st.sampled_from(
        [
            "[training]",
            "[evaluation] held out",
            "Validation Set",
            "Training Set",
            "test data",
            "MIT",
            "Apache-2.0",
            "Internal use only; no redistribution.",
        ]
    ),
)
_NUMBER = st.floats(allow_nan=False, allow_infinity=False)


def _opt(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


def _lists(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
    return st.lists(strategy, max_size=2)


_DATASET = st.fixed_dictionaries(
    {"name": _TEXT, "description": _opt(_TEXT), "link": _opt(_TEXT)},
    optional={"size": st.integers(0, 10**6)},  # MCT cannot hold a size
)


@st.composite
def _metric(draw: st.DrawFn) -> dict[str, Any]:
    bounds = sorted([draw(_NUMBER), draw(_NUMBER)])
    interval = {"low": bounds[0], "high": bounds[1]}
    return {
        "name": draw(_TEXT),
        "value": draw(_NUMBER),
        "slice": draw(_opt(_TEXT)),
        "confidence_interval": draw(_opt(st.just(interval))),
        "dataset": draw(_opt(_TEXT)),  # MCT cannot hold a metric's dataset
    }


@st.composite
def cards(draw: st.DrawFn) -> ModelCard:
    data = {
        "model_details": {
            "name": draw(_TEXT),
            "overview": draw(_opt(_TEXT)),
            "version": draw(_opt(_TEXT)),
            "date": draw(_opt(st.dates(dt.date(1900, 1, 1)))),
            "owners": draw(_lists(st.fixed_dictionaries({"name": _TEXT, "contact": _opt(_TEXT)}))),
            "model_type": draw(_opt(_TEXT)),
            "architecture": draw(_opt(_TEXT)),
            "input_format": draw(_opt(_TEXT)),
            "output_format": draw(_opt(_TEXT)),
            "licenses": draw(_lists(_TEXT)),
            "references": draw(_lists(_TEXT)),
            "citations": draw(_lists(_TEXT)),
            "path": draw(_opt(_TEXT)),
        },
        "intended_use": {
            "primary_uses": draw(_lists(_TEXT)),
            "primary_users": draw(_lists(_TEXT)),
            "out_of_scope_uses": draw(_lists(_TEXT)),
        },
        "metrics": {
            "performance_metrics": draw(_lists(_metric())),
            "variation_approaches": draw(_opt(_TEXT)),
        },
        "training_data": {"datasets": draw(_lists(_DATASET)), "preprocessing": draw(_opt(_TEXT))},
        "evaluation_data": {"datasets": draw(_lists(_DATASET)), "description": draw(_opt(_TEXT))},
        "ethical_considerations": {
            "sensitive_data": {
                "declared": draw(st.sampled_from([None, True, False])),
                "categories": draw(st.lists(_TEXT, max_size=2, unique=True)),
            },
            "risks": draw(
                _lists(st.fixed_dictionaries({"name": _TEXT, "mitigation": _opt(_TEXT)}))
            ),
            "potential_biases": draw(_lists(_TEXT)),
        },
        "caveats_and_recommendations": {
            "known_limitations": draw(_lists(_TEXT)),
            "tradeoffs": draw(_lists(_TEXT)),
            "failure_modes": draw(_lists(_TEXT)),
        },
    }
    return ModelCard.model_validate(data)


def _held(field: str, card: ModelCard) -> bool:
    """MCT records sensitive data per dataset: as categories for "yes", empty for "no"."""
    sensitive = card.ethical_considerations.sensitive_data
    has_datasets = bool(card.training_data.datasets or card.evaluation_data.datasets)
    if field == "ethical_considerations.sensitive_data.declared":
        return has_datasets and (sensitive.declared is False or bool(sensitive.categories))
    if field == "ethical_considerations.sensitive_data.categories":
        return has_datasets and sensitive.declared is True
    return field in HELD


@given(cards())
def test_mct_keeps_every_field_it_holds_and_names_every_field_it_cannot(card: ModelCard) -> None:
    exported = to_mct(card)
    jsonschema.validate(exported, MCT_V002)
    before, after = flatten(card), flatten(from_mct(exported))
    omitted = set(mct_omissions(card))
    for path, value in before.items():
        field = _INDEX.sub("", path)
        if _held(field, card):
            assert after.get(path) == value, path
            assert field not in omitted, field
        else:
            assert field in omitted, field
    assert after.keys() <= before.keys()  # nothing made up


@given(cards())
def test_an_imported_toolkit_card_exports_as_it_came_in(card: ModelCard) -> None:
    # A card that came from MCT holds only what MCT holds: export -> import -> export is stable.
    exported = to_mct(card)
    assert to_mct(from_mct(exported)) == exported


@given(cards())
def test_an_exported_card_imports_with_nothing_left_out(card: ModelCard) -> None:
    # Every key the export writes is one the import reads: a re-import names nothing...
    exported = to_mct(card)
    assert read_mct(exported).not_imported == []
    # ...and a key the import does not read is named, wherever it is added.
    exported.setdefault("quantitative_analysis", {})["graphics"] = {"description": "plots"}
    assert read_mct(exported).not_imported == ["quantitative_analysis.graphics"]
