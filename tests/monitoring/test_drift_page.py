"""The drift page, from reports built by hand: verdicts, charts, bin labels and escaping."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from mlgate.monitoring import drift_page
from mlgate.monitoring.drift import build_profile, compare
from mlgate.monitoring.schemas import DriftFeatureProfile, DriftReport, TargetDrift

HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
SINCE = datetime(2026, 6, 1, tzinfo=UTC)
# Anything a browser would fetch from elsewhere: scripts, styles, images, fonts, frames.
EXTERNAL = re.compile(
    r"<script|<link|<iframe|@import|(src|href)\s*=\s*[\"']?(https?:)?//|url\(\s*[\"']?(https?:)?//",
    re.IGNORECASE,
)


def numeric(name: str, edges: list[float], reference: list[int]) -> DriftFeatureProfile:
    return DriftFeatureProfile(name=name, kind="numeric", edges=edges, reference=reference)


def categorical(name: str, categories: list[str], reference: list[int]) -> DriftFeatureProfile:
    return DriftFeatureProfile(
        name=name, kind="categorical", categories=categories, reference=reference
    )


# Bins: < 4.9, 4.9 to 5.4, 5.4 to 6.4, >= 6.4, missing.
PETAL = numeric("petal_length", [4.9, 5.4, 6.4], [25, 25, 25, 25, 0])
SEPAL = numeric("sepal_width", [2.8, 3.0, 3.3], [25, 25, 25, 25, 0])
COLOUR = categorical("colour", ["red", "blue"], [60, 30, 5, 5])


def target(
    current: dict[str, list[int]],
    *,
    profile: tuple[DriftFeatureProfile, ...] = (PETAL, SEPAL),
    model: str = "iris",
    min_rows: int = 50,
    threshold: float = 0.2,
) -> TargetDrift:
    """The version's drift as the service would judge ``current`` counts against ``profile``."""
    features = [compare(p, current[p.name], threshold=threshold) for p in profile]
    rows = max(f.rows for f in features)
    drifted = sum(f.drifted for f in features)
    share = drifted / len(features)
    status = "not_enough_data" if rows < min_rows else "drift" if share >= 0.5 else "no_drift"
    return TargetDrift(
        model=model,
        version=1,
        rows=rows,
        requests=max(rows // 10, 1),
        unreadable=0,
        status=status,
        drifted_features=drifted,
        drift_share=share,
        features=features,
        reference=list(profile),
    )


def unreferenced(requests: int = 12) -> TargetDrift:
    return TargetDrift(
        model="iris",
        version=2,
        rows=0,
        requests=requests,
        unreadable=0,
        status="no_reference",
        drifted_features=0,
        drift_share=0.0,
        features=[],
        reference=[],
    )


def page(
    *targets: TargetDrift, route: str = "iris", threshold: float = 0.2, min_rows: int = 50
) -> str:
    report = DriftReport(
        route=route,
        since=SINCE,
        until=SINCE + timedelta(hours=24),
        threshold=threshold,
        drift_share=0.5,
        min_rows=min_rows,
        drifted=any(t.status == "drift" for t in targets),
        targets=list(targets),
    )
    return drift_page.render(report)


SHIFTED = {"petal_length": [0, 5, 15, 80, 0], "sepal_width": [24, 26, 25, 25, 0]}


def table_row(html: str, feature: str) -> str:
    found = re.search(rf'<tr><td class="name">{re.escape(feature)}</td>.*?</tr>', html)
    assert found is not None, f"no table row for {feature}"
    return found.group(0)


def psi_bar(html: str, feature: str) -> re.Match[str]:
    found = re.search(
        rf'<rect class="(\w+)" x="([\d.]+)" y="[\d.]+" width="([\d.]+)" height="[\d.]+">'
        rf"<title>{re.escape(feature)}: PSI ",
        html,
    )
    assert found is not None, f"no PSI bar for {feature}"
    return found


def test_a_drifting_feature_is_marked_in_the_table_and_coloured_in_the_chart() -> None:
    html = page(target(SHIFTED))

    assert '<td class="bad">yes</td>' in table_row(html, "petal_length")
    assert '<td class="">no</td>' in table_row(html, "sepal_width")
    assert psi_bar(html, "petal_length").group(1) == "drifted"
    assert psi_bar(html, "sepal_width").group(1) == "stable"
    assert "Drift: 1 of 1 version drifted." in html
    assert "<b>1 / 2</b>drifted features" in html


def test_the_threshold_is_stated_and_drawn_between_drifted_and_stable_bars() -> None:
    html = page(target(SHIFTED, threshold=0.25), threshold=0.25)

    line = re.search(r'<polyline class="threshold" points="([\d.]+),[\d.]+ ([\d.]+),', html)
    assert line is not None
    x = float(line.group(1))
    assert float(line.group(2)) == x  # vertical
    drifted, stable = psi_bar(html, "petal_length"), psi_bar(html, "sepal_width")
    assert float(drifted.group(2)) + float(drifted.group(3)) > x
    assert float(stable.group(2)) + float(stable.group(3)) < x
    assert ">threshold 0.25</text>" in html
    assert "A feature drifts when its PSI reaches 0.25" in html


def bin_labels(html: str, feature: str) -> list[str]:
    """The bin names down the left of ``feature``'s share chart (the axis' top share last)."""
    chart = re.search(rf'aria-label="[^"]* per bin of {re.escape(feature)}".*?</svg>', html, re.S)
    assert chart is not None, f"no bin chart for {feature}"
    return re.findall(r'text-anchor="end">([^<]*)</text>', chart.group(0))[:-1]


def test_bins_are_labelled_by_range_or_category_and_titled_with_exact_shares() -> None:
    current = SHIFTED | {"colour": [50, 30, 10, 10]}
    html = page(target(current, profile=(PETAL, SEPAL, COLOUR)))

    assert bin_labels(html, "petal_length") == [
        "&lt; 4.9",
        "4.9 to 5.4",
        "5.4 to 6.4",
        "&gt;= 6.4",
        "(missing)",
    ]
    assert bin_labels(html, "colour") == ["red", "blue", "(other)", "(missing)"]
    exact = "<title>&gt;= 6.4: reference 25.00% (25 of 100), current 80.00% (80 of 100)</title>"
    assert exact in html
    assert "<title>(other): reference 5.00% (5 of 100), current 10.00% (10 of 100)</title>" in html


def test_a_point_mass_bin_is_labelled_by_its_value() -> None:
    (amount,) = build_profile(["amount"], [[0.0]] * 60 + [[float(v)] for v in range(1, 41)])
    assert amount.reference == [0, 60, 0, 10, 10, 10, 10, 0]
    current = {"amount": [0, 20, 0, 20, 20, 20, 20, 0]}
    html = page(target(current, profile=(amount,)))

    labels = bin_labels(html, "amount")
    assert labels[:4] == ["&lt; 0", "= 0", "&gt; 0 to 0.4", "0.4 to 10.3"]
    assert labels[-2:] == ["&gt;= 30.1", "(missing)"]
    assert "e-324" not in html
    assert "<title>= 0: reference 60.00% (60 of 100), current 20.00% (20 of 100)</title>" in html


def test_user_text_is_escaped_and_never_raw() -> None:
    sneaky = '"><svg onload=alert(1)>'
    hostile = categorical(HOSTILE, [HOSTILE, sneaky], [50, 40, 5, 5])
    counts = {HOSTILE: [40, 40, 10, 10], "petal_length": SHIFTED["petal_length"]}
    html = page(target(counts, profile=(PETAL, hostile), model=HOSTILE), route=HOSTILE)

    assert "<script" not in html
    assert "<svg onload" not in html
    assert '"><svg' not in html
    assert f"<h1>Drift: {ESCAPED}</h1>" in html
    assert f"<title>Drift: {ESCAPED}</title>" in html
    assert f"<h2>{ESCAPED}@1 " in html
    assert f'<td class="name">{ESCAPED}</td>' in html
    assert f"<title>{ESCAPED}: reference 50.00%" in html  # the category's bin
    assert f'aria-label="Reference and current share per bin of {ESCAPED}"' in html
    assert "&#34;&gt;&lt;svg onload=alert(1)&gt;" in html


def test_a_version_without_a_reference_says_so_instead_of_charts() -> None:
    html = page(unreferenced(requests=12))

    assert "No reference to compare with" in html
    assert "these 12 requests" in html
    assert "<svg" not in html
    assert "Not judged" in html


def test_a_version_with_too_few_rows_is_not_judged_but_shows_what_was_served() -> None:
    few = {"petal_length": [1, 1, 1, 7, 0], "sepal_width": [2, 3, 2, 3, 0]}
    html = page(target(few, min_rows=50), min_rows=50)

    assert "not enough data" in html
    assert "10 rows, fewer than the 50 needed to judge" in html
    assert "Not judged: no version served enough rows." in html
    assert html.count("<svg") == 3  # PSI, and a chart per feature


def test_a_version_with_no_rows_read_says_so_without_charts() -> None:
    nothing = {"petal_length": [0] * 5, "sepal_width": [0] * 5}
    empty = target(nothing).model_copy(update={"rows": 0, "requests": 4, "unreadable": 4})
    html = page(empty)

    assert "no rows were read in this window; 4 of 4 requests could not be read as rows" in html
    assert "<svg" not in html


def test_a_report_without_versions_says_none_served() -> None:
    html = page()

    assert "Not judged: no version with a drift reference served this route." in html
    assert "<svg" not in html


def test_the_page_runs_no_script_and_fetches_nothing() -> None:
    current = SHIFTED | {"colour": [50, 30, 10, 10]}
    html = page(target(current, profile=(PETAL, SEPAL, COLOUR)), unreferenced())

    assert html.startswith("<!doctype html>")
    assert EXTERNAL.search(html) is None
    assert re.search(r"<[^>]*\son\w+\s*=", html) is None  # no event handler attributes


def test_fifty_features_stay_in_one_compact_psi_chart() -> None:
    profile = tuple(numeric(f"f{i:02d}", [1.0, 2.0], [30, 30, 40, 0]) for i in range(50))
    counts = {p.name: [30, 30, 40, 0] if i % 5 else [5, 5, 90, 0] for i, p in enumerate(profile)}
    html = page(target(counts, profile=profile))

    psi = re.search(r'aria-label="PSI per feature" width="[\d.]+" height="(\d+)"', html)
    assert psi is not None
    assert int(psi.group(1)) <= 50 * 16
    assert len(re.findall(r"<title>f\d\d: PSI ", html)) == 50
    assert html.count('aria-label="Reference and current share per bin of f') == 50
    assert all(f'<td class="name">f{i:02d}</td>' in html for i in range(50))
    assert html.count('<rect class="drifted"') >= 10


def test_features_of_a_version_with_too_few_rows_are_not_called_drifted() -> None:
    few = {"petal_length": [0, 0, 1, 9, 0], "sepal_width": [2, 3, 2, 3, 0]}  # petal: past 0.2
    html = page(target(few, min_rows=50), min_rows=50)

    assert '<td class="bad">yes</td>' not in html
    assert "<td>not judged</td>" in table_row(html, "petal_length")
    assert "<b>1 / 2</b>features past the threshold, not judged" in html
    assert '<span class="bad">drifted</span>' not in html
    assert "Not judged: no version served enough rows." in html


def test_counts_of_a_replaced_reference_are_not_called_too_few_rows() -> None:
    html = page(unreferenced(requests=12))

    assert "no version served enough rows" not in html
    assert "Not judged: the versions served have no reference to compare with" in html
