"""Drift statistics: reference profiles, counting served inputs into their bins, comparison."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlgate.errors import Invalid
from mlgate.monitoring.drift import Binner, build_profile, check_columns, compare

RNG = np.random.default_rng(7)
REFERENCE = RNG.normal(0.0, 1.0, size=(2000, 2)).tolist()


def numeric_profile() -> list:  # type: ignore[type-arg]
    return build_profile(["a", "b"], REFERENCE, bins=10)


def test_numeric_bins_hold_equal_shares_of_the_reference() -> None:
    a, b = numeric_profile()

    assert a.kind == b.kind == "numeric"
    assert len(a.edges) == 9
    assert a.reference[-1] == 0  # nothing missing
    assert sum(a.reference) == 2000
    assert all(180 <= count <= 220 for count in a.reference[:-1])
    assert a.mean == pytest.approx(float(np.mean([r[0] for r in REFERENCE])))


def test_categorical_feature_keeps_common_values_then_other_then_missing() -> None:
    rows = [["red"]] * 60 + [["blue"]] * 30 + [[None]] * 10 + [[f"rare{i}"] for i in range(25)]
    (colour,) = build_profile(["colour"], rows, bins=10)

    assert colour.kind == "categorical"
    assert colour.categories[:2] == ["red", "blue"]
    assert len(colour.categories) == 20  # the most common twenty
    assert colour.reference[0] == 60
    assert colour.reference[-2] == 25 - 18  # rare values outside the twenty: "other"
    assert colour.reference[-1] == 10  # missing


@pytest.mark.parametrize(
    ("columns", "rows", "bins", "field"),
    [
        ([], [[1]] * 100, 10, "columns"),
        (["a", "a"], [[1, 2]] * 100, 10, "columns"),
        (["a"], [[1]] * 99, 10, "rows"),
        (["a"], [[1]] * 99 + [[1, 2]], 10, "rows[99]"),
        (["a"], [[1]] * 100, 1, "bins"),
    ],
)
def test_bad_reference_names_the_field(
    columns: list[str], rows: list[list[float]], bins: int, field: str
) -> None:
    with pytest.raises(Invalid) as caught:
        build_profile(columns, rows, bins=bins)
    assert caught.value.errors[0].field == field


ROWS_OF_4 = {"type": "array", "items": {"type": "array", "minItems": 4, "maxItems": 4}}
CLOSED = {"type": "object", "properties": {"a": {}, "b": {}}, "additionalProperties": False}


@pytest.mark.parametrize(
    ("columns", "schema", "message"),
    [
        (["a", "b", "c"], ROWS_OF_4, "3 columns; the version's inputs are rows of 4"),
        (["a"], {"items": {"type": "array", "prefixItems": [{}, {}], "items": False}}, "of 2"),
        (["a", "z"], {"type": "array", "items": CLOSED}, "no field z; they have a, b"),
        (["a", "z"], CLOSED, "no field z"),  # columns of lists, named
    ],
)
def test_a_reference_the_inputs_cannot_match_is_refused(
    columns: list[str], schema: dict[str, object], message: str
) -> None:
    with pytest.raises(Invalid, match=message) as caught:
        check_columns(columns, schema)
    assert caught.value.errors[0].field == "columns"


@pytest.mark.parametrize(
    ("columns", "schema"),
    [
        (["a", "b", "c", "d"], ROWS_OF_4),
        (["a", "b", "c"], {"type": "array", "items": {"type": "array"}}),  # any width
        (["a", "z"], {"type": "object", "properties": {"a": {}}}),  # open object
        (["a"], None),  # no schema: nothing to check against
    ],
)
def test_a_reference_that_fits_the_inputs_is_accepted(
    columns: list[str], schema: dict[str, object] | None
) -> None:
    check_columns(columns, schema)


def test_binner_reads_rows_as_lists_objects_or_columns() -> None:
    profile = numeric_profile()
    binner = Binner(profile)
    counts = binner.empty()

    assert binner.count(counts, [[0.0, 0.0], [5.0, -5.0]]) == 2
    assert binner.count(counts, [{"a": 0.0, "b": None}]) == 1
    assert binner.count(counts, {"a": [0.0, 1.0], "b": [2.0, "x"]}) == 2
    assert binner.count(counts, "not rows") == 0
    assert binner.count(counts, [[1.0, 2.0, 3.0]]) == 0  # wrong width: not read

    a, b = counts
    assert sum(a) == sum(b) == 5
    assert a[-2] == 1  # 5.0 is above every cut point
    assert b[0] == 1  # -5.0 below every one
    assert b[-1] == 2  # None and "x" count as missing


def test_binner_sends_unknown_categories_to_other() -> None:
    rows = [["red"]] * 60 + [["blue"]] * 40
    binner = Binner(build_profile(["colour"], rows, bins=10))
    counts = binner.empty()
    binner.count(counts, [["red"], ["green"], [None], ["blue"]])
    assert counts == [[1, 1, 1, 1]]  # red, blue, other, missing


@given(st.lists(st.lists(st.floats(allow_nan=True), min_size=2, max_size=2), max_size=50))
def test_every_read_row_lands_in_exactly_one_bin_per_feature(rows: list[list[float]]) -> None:
    binner = Binner(numeric_profile())
    counts = binner.empty()
    read = binner.count(counts, rows)
    assert read == len(rows)
    assert [sum(feature) for feature in counts] == [read, read]


def served(binner: Binner, rows: list[list[float]]) -> list[list[int]]:
    counts = binner.empty()
    binner.count(counts, rows)
    return counts


def test_same_distribution_does_not_drift_and_a_shift_does() -> None:
    profile = numeric_profile()
    binner = Binner(profile)
    same = served(binner, RNG.normal(0.0, 1.0, size=(1000, 2)).tolist())
    shifted = served(binner, (RNG.normal(0.0, 1.0, size=(1000, 2)) + np.array([1.0, 0.0])).tolist())

    calm = compare(profile[0], same[0], threshold=0.2)
    moved = compare(profile[0], shifted[0], threshold=0.2)
    untouched = compare(profile[1], shifted[1], threshold=0.2)

    assert calm.rows == 1000
    assert (calm.psi or 0) < 0.05
    assert not calm.drifted
    assert (moved.psi or 0) > 0.2
    assert moved.drifted
    assert (moved.p_value or 1) < 1e-6
    assert 0 <= (calm.js_distance or 0) < (moved.js_distance or 0) <= 1
    assert not untouched.drifted


def test_nothing_served_is_not_judged() -> None:
    profile = numeric_profile()
    result = compare(profile[0], [0] * len(profile[0].reference), threshold=0.2)
    assert result.rows == 0
    assert result.psi is None
    assert not result.drifted


def test_a_batch_of_requests_counts_rows_and_unreadable_requests() -> None:
    binner = Binner(numeric_profile())
    counts = binner.empty()

    read, unreadable = binner.count_all(
        counts, [[[0.0, 0.0]], "text", [], [[1.0, 2.0, 3.0]], {"a": [1.0], "b": [{"x": 1}]}]
    )

    assert (read, unreadable) == (2, 3)  # "text", [] and the too-wide row read nothing
    assert counts[1][-1] == 1  # an object is not a number: missing


def psi(expected: list[float], actual: list[float]) -> float:
    """The population stability index as Evidently defines it: empty shares become 0.0001."""
    e = np.where(np.asarray(expected) == 0, 0.0001, expected)
    a = np.where(np.asarray(actual) == 0, 0.0001, actual)
    return float(np.sum((a - e) * np.log(a / e)))


def drift_of(reference: list[float], current: list[float]) -> tuple[float, bool]:
    """PSI and verdict of one numeric feature: reference profiled, ``current`` served."""
    (profile,) = build_profile(["x"], [[value] for value in reference])
    counts = Binner([profile]).empty()
    Binner([profile]).count(counts, [[value] for value in current])
    found = compare(profile, counts[0], threshold=0.2)
    return found.psi or 0.0, found.drifted


@pytest.mark.parametrize(
    ("reference", "current", "shares"),
    [
        # a flag: 5 % ones, then half
        ([0.0] * 950 + [1.0] * 50, [0.0] * 500 + [1.0] * 500, ([0.95, 0.05], [0.5, 0.5])),
        # a zero-inflated amount: 92 % zeros, then 40 %
        (
            [0.0] * 920 + [float(v) for v in range(1, 81)],
            [0.0] * 400 + [float(v) for v in range(1, 601)],
            ([0.92, 0.08], [0.4, 0.6]),
        ),
        # a constant that moves up
        ([3.0] * 1000, [7.0] * 1000, ([1.0, 0.0], [0.0, 1.0])),
    ],
    ids=["flag", "zero-inflated", "constant"],
)
def test_values_above_a_point_mass_are_not_counted_with_it(
    reference: list[float], current: list[float], shares: tuple[list[float], list[float]]
) -> None:
    found, drifted = drift_of(reference, current)

    assert drifted
    assert found == pytest.approx(psi(*shares), abs=1e-3)


def test_a_point_mass_gets_a_bin_of_its_own_and_the_rest_keep_theirs() -> None:
    amounts = [0.0] * 500 + [float(v) for v in range(1, 501)]
    (profile,) = build_profile(["amount"], [[value] for value in amounts])

    assert profile.reference[:2] == [0, 500]  # below 0; exactly 0
    assert sum(profile.reference[2:-1]) == 500  # above 0, in several bins
    assert len(profile.reference[2:-1]) > 2
    assert drift_of(amounts, amounts) == (0.0, False)


@pytest.mark.parametrize("gap", [float("nan"), float("inf"), float("-inf")])
def test_a_gap_in_a_numeric_reference_column_is_missing_not_a_category(gap: float) -> None:
    values = [float(v) for v in range(199)] + [gap]

    (profile,) = build_profile(["x"], [[value] for value in values])

    assert profile.kind == "numeric"
    assert profile.reference[-1] == 1  # the missing bin
    assert profile.max == 198.0
    assert drift_of(values, [value + 300 for value in values[:-1]])[1]
