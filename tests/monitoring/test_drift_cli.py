"""``mlgate drift reference|show|report`` against a real store, counts made by the collector."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris

from mlgate.cli.drift import read_csv
from mlgate.runtime import Runtime
from tests.cli.conftest import Cli
from tests.integration import world
from tests.monitoring.conftest import count_served

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
IRIS = load_iris().data


def write_csv(path: Path, rows: list[list[object]], header: list[str] = FEATURES) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _served_iris(runtime: Runtime, tmp_path: Path) -> Path:
    """Route iris serving iris@1 (an upstream), and the iris data as a reference CSV."""
    world.upstream_route(runtime, "iris", "http://127.0.0.1:9/", model="iris")  # never called
    return write_csv(tmp_path / "ref.csv", IRIS.tolist())


def test_reference_show_and_report(cli: Cli, runtime: Runtime, tmp_path: Path) -> None:
    reference = _served_iris(runtime, tmp_path)

    made = cli("drift", "reference", "iris@1", str(reference), "--bins", "5")
    shown = cli("drift", "show", "iris@1", "--json")

    assert made.code == 0, made.err
    assert "drift reference of 150 rows" in made.out
    assert "petal_length" in made.out
    assert shown.code == 0, shown.err
    profile = json.loads(shown.out)
    assert [f["name"] for f in profile["features"]] == FEATURES
    assert all(len(f["reference"]) <= 6 for f in profile["features"])  # 5 bins and missing

    shifted = IRIS + np.array([0.0, 0.0, 2.5, 1.5])
    count_served(runtime, shifted)
    page = tmp_path / "drift.html"
    report = cli("drift", "report", "iris", "--html", str(page), "--open-incident")
    as_json = cli("drift", "report", "iris", "--json")

    assert report.code == 0, report.err
    assert "iris@1: drift, 150 rows in 15 requests" in report.out
    assert "Data drift on route iris (iris@1)" in report.out
    assert "<svg" in page.read_text()
    assert as_json.code == 0, as_json.err
    body = json.loads(as_json.out)
    assert body["drifted"] is True
    assert {f["name"] for f in body["targets"][0]["features"] if f["drifted"]} == {
        "petal_length",
        "petal_width",
    }


def test_a_report_says_when_there_is_nothing_or_too_little_to_judge(
    cli: Cli, runtime: Runtime, tmp_path: Path
) -> None:
    reference = _served_iris(runtime, tmp_path)
    assert cli("drift", "reference", "iris@1", str(reference)).code == 0

    before = cli("drift", "report", "iris")
    assert before.code == 0, before.err
    said = " ".join(before.out.split())  # as read, whatever the terminal's width
    assert ": not judged (fewer than 100 rows counted)" in said
    assert "nothing counted: no version with a drift reference has served this route" in said

    count_served(runtime, IRIS[:6] + 5.0)  # far off, but six rows prove nothing yet
    few = cli("drift", "report", "iris")
    assert few.code == 0, few.err
    said = " ".join(few.out.split())
    assert ": not judged (fewer than 100 rows counted)" in said
    assert "iris@1: not_enough_data, 6 rows in 1 requests" in said
    assert "features past the threshold, not judged" in said
    assert " yes " not in said  # no feature is called drifted on six rows


def test_bad_input_is_one_line_and_exit_code_1(cli: Cli, runtime: Runtime, tmp_path: Path) -> None:
    world.register(runtime, "iris", b"artifact", framework="http", schema=None)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2\n3\n")
    empty = tmp_path / "empty.csv"
    empty.write_text("")

    for args, message in (
        (("drift", "reference", "iris@1", str(ragged)), "line 3: 1 values, not 2"),
        (("drift", "reference", "iris@1", str(empty)), "has no header row"),
        (("drift", "reference", "iris@1", str(tmp_path / "none.csv")), "cannot read"),
        (("drift", "reference", "iris", str(ragged)), "is not MODEL@N"),
        (("drift", "show", "iris@1"), "has no drift reference"),
        (("drift", "report", "nope"), "does not exist"),
    ):
        result = cli(*args)
        assert result.code == 1, (args, result.out)
        assert len(result.err.strip().splitlines()) == 1, result.err
        assert message in result.err


def test_text_columns_are_categorical(cli: Cli, runtime: Runtime, tmp_path: Path) -> None:
    world.register(runtime, "churn", b"artifact", framework="http", schema=None)
    rows = [[f"{i % 7}", ["basic", "pro", ""][i % 3]] for i in range(100)]
    made = cli(
        "drift",
        "reference",
        "churn@1",
        str(write_csv(tmp_path / "r.csv", rows, ["age", "plan"])),
        "--json",
    )

    assert made.code == 0, made.err
    age, plan = json.loads(made.out)["features"]
    assert age["kind"] == "numeric"
    assert plan["kind"] == "categorical"
    assert plan["categories"] == ["basic", "pro"]
    assert plan["reference"][-1] == 33  # '' is missing


def test_a_flag_turned_on_far_more_often_drifts(cli: Cli, runtime: Runtime, tmp_path: Path) -> None:
    _served_iris(runtime, tmp_path)
    flags = [[0.0]] * 950 + [[1.0]] * 50  # a reference with 5 % ones
    made = cli("drift", "reference", "iris@1", str(write_csv(tmp_path / "f.csv", flags, ["flag"])))
    assert made.code == 0, made.err

    count_served(runtime, np.array([[0.0], [1.0]] * 250))  # half ones
    shown = cli("drift", "show", "iris@1", "--json")
    report = cli("drift", "report", "iris", "--json")

    (flag,) = json.loads(shown.out)["features"]
    assert flag["reference"] == [0, 950, 50, 0]  # below 0, 0, above 0, missing
    assert report.code == 0, report.err
    (target,) = json.loads(report.out)["targets"]
    assert target["status"] == "drift"
    assert target["features"][0]["current"] == [0, 250, 250, 0]


def test_nan_in_a_numeric_column_is_a_missing_value(
    cli: Cli, runtime: Runtime, tmp_path: Path
) -> None:
    world.register(runtime, "churn", b"artifact", framework="http", schema=None)
    rows: list[list[object]] = [[float(i)] for i in range(98)] + [["nan"], [""]]
    made = cli(
        "drift",
        "reference",
        "churn@1",
        str(write_csv(tmp_path / "r.csv", rows, ["amount"])),
        "--json",
    )

    assert made.code == 0, made.err
    (amount,) = json.loads(made.out)["features"]
    assert amount["kind"] == "numeric"
    assert amount["reference"][-1] == 2  # 'nan' and '' are missing
    assert amount["max"] == 97.0


def test_pandas_missing_markers_are_missing_values_not_categories(
    cli: Cli, runtime: Runtime, tmp_path: Path
) -> None:
    world.register(runtime, "churn", b"artifact", framework="http", schema=None)
    markers = ["NA", "N/A", "null", "NULL", "None", "<NA>", "#N/A"]
    rows: list[list[object]] = [[float(i), "a" if i % 2 else "b"] for i in range(93)]
    rows += [[marker, marker] for marker in markers]
    made = cli(
        "drift",
        "reference",
        "churn@1",
        str(write_csv(tmp_path / "r.csv", rows, ["amount", "plan"])),
        "--json",
    )

    assert made.code == 0, made.err
    amount, plan = json.loads(made.out)["features"]
    assert amount["kind"] == "numeric"
    assert amount["reference"][-1] == len(markers)
    assert plan["kind"] == "categorical"
    assert plan["reference"][-1] == len(markers)  # missing, not seven more categories


def test_a_csv_separated_by_semicolons_tabs_or_pipes_is_read_by_its_separator(
    cli: Cli, runtime: Runtime, tmp_path: Path
) -> None:
    world.register(runtime, "churn", b"artifact", framework="http", schema=None)
    rows = [[f"{i * 0.5}", "pro" if i % 3 else "basic; yearly", f"{i % 4}"] for i in range(100)]
    for separator in (";", "\t", "|"):
        path = tmp_path / "r.csv"
        with path.open("w", newline="") as handle:
            csv.writer(handle, delimiter=separator).writerows([["amount", "plan", "seats"], *rows])

        made = cli("drift", "reference", "churn@1", str(path), "--json")

        assert made.code == 0, made.err
        features = json.loads(made.out)["features"]
        assert [(f["name"], f["kind"]) for f in features] == [
            ("amount", "numeric"),
            ("plan", "categorical"),
            ("seats", "numeric"),
        ], separator
        assert features[1]["categories"] == ["pro", "basic; yearly"]


def test_a_quote_all_csv_of_empty_fields_is_read_at_once(
    cli: Cli, runtime: Runtime, tmp_path: Path
) -> None:
    # pandas' to_csv(quoting=csv.QUOTE_ALL) writes each gap as "": guessing the separator from
    # the rows (csv.Sniffer) took 13 s on 64 KB of them.
    world.register(runtime, "churn", b"artifact", framework="http", schema=None)
    header = [f"f{i}" for i in range(30)]
    path = tmp_path / "gaps.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
        writer.writerows([header, *([""] * 30 for _ in range(2_000))])

    started = time.perf_counter()
    columns, rows = read_csv(path)
    took = time.perf_counter() - started
    made = cli("drift", "reference", "churn@1", str(path), "--json")

    assert took < 1.0
    assert (columns, len(rows), rows[0]) == (header, 2_000, [None] * 30)
    assert made.code == 0, made.err
    assert [f["reference"] for f in json.loads(made.out)["features"]] == [[0, 2_000]] * 30


def test_a_bad_csv_row_is_named_by_its_line_in_the_file(
    cli: Cli, runtime: Runtime, tmp_path: Path
) -> None:
    world.register(runtime, "churn", b"artifact", framework="http", schema=None)
    path = tmp_path / "r.csv"
    # line 1 header, line 2 blank, lines 3-4 one row with a quoted newline, line 5 too short
    path.write_text('a,b\n\n"two\nlines",2\n3\n')

    made = cli("drift", "reference", "churn@1", str(path))

    assert made.code == 1
    assert "line 5: 1 values, not 2" in made.err


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("a,b,a,b", "columns: feature names must be unique; a, b appear more than once"),
        ("a,b,", "the header's column 3 has no name"),
    ],
)
def test_a_header_that_does_not_name_each_feature_once_is_refused(
    cli: Cli, runtime: Runtime, tmp_path: Path, header: str, message: str
) -> None:
    world.register(runtime, "churn", b"artifact", framework="http", schema=None)
    width = len(header.split(","))
    path = tmp_path / "r.csv"
    path.write_text(header + "\n" + "\n".join(",".join(["1"] * width) for _ in range(100)))

    made = cli("drift", "reference", "churn@1", str(path))

    assert made.code == 1
    assert len(made.err.strip().splitlines()) == 1, made.err
    assert message in made.err


def test_counts_of_a_replaced_reference_are_not_called_no_drift(
    cli: Cli, runtime: Runtime, tmp_path: Path
) -> None:
    reference = _served_iris(runtime, tmp_path)
    assert cli("drift", "reference", "iris@1", str(reference)).code == 0
    count_served(runtime, IRIS)
    assert cli("drift", "reference", "iris@1", str(reference)).code == 0  # replaced

    report = cli("drift", "report", "iris")

    assert report.code == 0, report.err
    said = " ".join(report.out.split())
    assert "no drift" not in said
    assert ": not judged (the counts were made against a reference since replaced" in said
    assert "iris@1: no_reference, 0 rows in 15 requests" in said
