"""Served inputs in the shapes and types clients really send, and references at float's limits.

Each served case is checked against the same values sent in the canonical shape and type (rows
as lists of numbers), so a case counts exactly as the model read it; statistics are checked
against the standard library's exact ones.
"""

from __future__ import annotations

import json
import statistics
import tracemalloc
from typing import Any

import numpy as np
import pytest

from mlgate.monitoring.drift import Binner, build_profile, compare

RNG = np.random.default_rng(11)
ROWS = RNG.normal(5.0, 2.0, size=(500, 2)).round(2).tolist()
PROFILE = build_profile(["a", "b"], ROWS)


def counted(inputs: Any, profile: Any = PROFILE) -> tuple[int, list[list[int]]]:
    binner = Binner(profile)
    counts = binner.empty()
    read = binner.count(counts, inputs)
    return read, counts


def test_one_row_sent_flat_is_read_as_one_row() -> None:
    # The in-process backends take "rows, or one row": [5.1, 3.5] is answered as [[5.1, 3.5]].
    assert counted([5.1, 3.5]) == counted([[5.1, 3.5]])
    assert counted([5.1, 3.5])[0] == 1
    assert counted([5.1, 3.5, 1.0])[0] == 0  # not the reference's width: unreadable


def test_one_named_tensor_of_rows_is_read_as_its_rows() -> None:
    # KServe v2 and MLflow name the model's input: {"float_input": [[...], ...]}.
    rows = [[5.1, 3.5], [9.0, None]]
    assert counted({"float_input": rows}) == counted(rows)
    assert counted({"float_input": [5.1, 3.5]}) == counted([[5.1, 3.5]])


def test_one_object_is_read_as_one_row() -> None:
    assert counted({"a": 5.1, "b": 3.5, "extra": "ignored"}) == counted([[5.1, 3.5]])


def test_a_feature_missing_from_columns_is_a_missing_value_not_an_unreadable_request() -> None:
    as_columns = counted({"a": [5.1, 9.0]})
    as_objects = counted([{"a": 5.1}, {"a": 9.0}])

    assert as_columns == as_objects
    assert as_columns[0] == 2
    assert as_columns[1][1][-1] == 2  # b: missing twice
    # a shorter column lacks values for the last rows: missing, and no row is dropped
    assert counted({"a": [5.1, 9.0], "b": [3.5]}) == counted([[5.1, 3.5], [9.0, None]])


def test_numbers_sent_as_text_count_as_the_numbers() -> None:
    rows = [[5.1, 3.0], [-2.0, 12.5], [7.0, 1e3]]
    as_text = [[str(value) for value in row] for row in rows]

    assert counted(as_text) == counted(rows)
    read, counts = counted([["not a number", " 4.5 "], ["nan", "inf"]])
    assert read == 2
    assert counts[0][-1] == 2  # text that is no number, and NaN: missing
    assert counted([[0.0, " 4.5 "]])[1][1] == counted([[0.0, 4.5]])[1][1]
    assert counts[1][-1] == 1  # inf: missing, as in the reference


def test_booleans_count_as_one_and_zero_in_a_numeric_feature() -> None:
    # A 0/1 flag profiled from a CSV, served as JSON booleans (what numpy and the model read).
    flag = build_profile(["flag"], [[0.0]] * 90 + [[1.0]] * 10)
    served = [[True]] * 9 + [[False]] * 81
    same = [[1.0]] * 9 + [[0.0]] * 81

    assert counted(served, flag) == counted(same, flag)
    psi = compare(flag[0], counted(served, flag)[1][0], threshold=0.2).psi
    assert psi == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("spelling", ["true", "TRUE", "True"])
def test_json_booleans_match_a_reference_however_it_spelled_them(spelling: str) -> None:
    no = {"true": "false", "TRUE": "FALSE", "True": "False"}[spelling]
    (active,) = build_profile(["active"], [[spelling]] * 70 + [[no]] * 30)  # e.g. from a CSV

    _, counts = counted([[True]] * 7 + [[False]] * 3, [active])

    assert counts == [[7, 3, 0, 0]]  # true, false, other, missing
    assert compare(active, counts[0], threshold=0.2).psi == pytest.approx(0.0, abs=1e-9)


def test_json_numbers_match_categories_written_as_text() -> None:
    # A code column with a text value is categorical; served codes arrive as JSON numbers.
    rows = [["1"]] * 50 + [["2.5"]] * 30 + [["n/a code"]] * 20
    (code,) = build_profile(["code"], rows)

    served = [[1]] * 5 + [[1.0]] * 5 + [[2.5]] * 6 + [[3]] * 2 + [["1"]] * 2 + [[[1]], [{}]]
    _, counts = counted(served, [code])

    assert code.categories == ["1", "2.5", "n/a code"]
    assert counts == [[12, 6, 0, 4, 0]]  # 1, 2.5, n/a code, other (3, [1], {}), missing


EXTREME = [
    [[1e308]] * 50 + [[-1e308]] * 50,  # both signs near float's limit: the range overflows
    [[1.7e308 - i * 1e300] for i in range(200)],  # their sum overflows
    [[1e300 * (i % 7 - 3)] for i in range(140)],
]


@pytest.mark.parametrize("rows", EXTREME, ids=["both-signs", "sum", "spread"])
def test_values_near_floats_limit_give_finite_statistics_and_bins(
    rows: list[list[float]],
) -> None:
    (profile,) = build_profile(["x"], rows)
    values = [row[0] for row in rows]

    assert profile.kind == "numeric"
    json.dumps(profile.model_dump(mode="json"), allow_nan=False)  # storable, servable JSON
    peak = max(abs(v) for v in values)  # relative to it: exact statistics, float's rounding
    assert profile.mean is not None
    assert profile.std is not None
    exact_mean = statistics.fmean(v / peak for v in values)
    assert profile.mean / peak == pytest.approx(exact_mean, rel=1e-9, abs=1e-12)
    exact_std = statistics.pstdev(v / peak for v in values)
    assert profile.std / peak == pytest.approx(exact_std, rel=1e-9, abs=1e-12)
    assert (profile.min, profile.max) == (min(values), max(values))
    assert profile.edges == sorted(profile.edges)
    _, counts = counted(rows, [profile])
    assert counts[0] == profile.reference  # the reference lands in its own bins
    assert compare(profile, counts[0], threshold=0.2).psi == 0.0


def test_an_integer_beyond_floats_range_is_a_missing_value() -> None:
    rows: list[list[Any]] = [[10**400]] + [[i] for i in range(99)]  # JSON allows such an int

    (profile,) = build_profile(["x"], rows)

    assert profile.kind == "numeric"
    assert profile.reference[-1] == 1
    assert profile.max == 98.0
    read, counts = counted([[10**400], [-(10**400)], [5]], [profile])
    assert read == 3
    assert counts[0][-1] == 2


def test_columns_are_counted_as_columns_not_padded_out_to_rows() -> None:
    # 50,000 rows of one long column and a short one: padded to rows of 200 features they took
    # 80 MB and seconds; counted a column at a time, the values the request carries.
    names = [f"f{i}" for i in range(200)]
    binner = Binner(build_profile(names, [[float(i)] * 200 for i in range(100)]))
    counts = binner.empty()
    inputs = {"f1": [5.0], "f0": [5.0] * 50_000}

    tracemalloc.start()
    try:
        read = binner.count(counts, inputs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 10_000_000  # the values, a few times over; as rows, 80 MB
    assert read == 50_000
    assert (sum(counts[0]), counts[0][-1]) == (50_000, 0)
    assert (sum(counts[1]), counts[1][-1]) == (50_000, 49_999)  # one value, then missing
    assert all(feature[-1] == 50_000 for feature in counts[2:])
