"""Precision and recall of the built-in recognizers on the generated evaluation set."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mlgate.privacy import detect, redact_text

from .evalset import PATTERN_TYPES, Record, generate
from .scoring import Counts, evaluate

NAME_TYPES = ("PERSON", "LOCATION")


@pytest.fixture(scope="module")
def records() -> list[Record]:
    return generate(3000)


def mlgate_spans(text: str) -> list[tuple[str, int, int]]:
    return [(f.entity_type, f.start, f.end) for f in detect(text)]


@pytest.fixture(scope="module")
def results(records: list[Record]) -> dict[str, Counts]:
    return evaluate(records, mlgate_spans, (*PATTERN_TYPES, *NAME_TYPES))


def test_evaluation_set_is_deterministic_and_labelled(records: list[Record]) -> None:
    assert generate(50) == records[:50]
    assert generate(50, seed=1) != records[:50]
    labelled = {span.entity_type for record in records for span in record.spans}
    assert labelled == set(PATTERN_TYPES) | set(NAME_TYPES)
    assert all(0 <= s.start < s.end <= len(r.text) for r in records for s in r.spans)


@pytest.mark.parametrize("entity_type", PATTERN_TYPES)
def test_pattern_backed_types_reach_95_percent_precision_and_recall(
    results: dict[str, Counts], entity_type: str
) -> None:
    counts = results[entity_type]
    assert counts.tp >= 80, "the evaluation set must hold enough examples"
    assert counts.precision >= 0.95, counts.as_dict()
    assert counts.recall >= 0.95, counts.as_dict()


def test_name_detection_figures_are_reported(
    results: dict[str, Counts], record_property: Callable[[str, object], None]
) -> None:
    # Names are a cue-and-gazetteer heuristic: no threshold is claimed, the figures are
    # recorded (junit properties, and printed with -s) so regressions are visible.
    for entity_type in NAME_TYPES:
        counts = results[entity_type]
        record_property(entity_type, counts.as_dict())
        print(entity_type, counts.as_dict())
        assert counts.tp > 0


def test_redacting_the_evaluation_set_leaves_no_labelled_value(records: list[Record]) -> None:
    for record in records[:600]:
        redacted = redact_text(record.text)
        for span in record.spans:
            if span.entity_type in PATTERN_TYPES:
                assert record.text[span.start : span.end] not in redacted, record.text
