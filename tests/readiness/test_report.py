"""Reports: one object rendered as JSON, Markdown and a self-contained, escaped HTML page."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

from mlgate.readiness import (
    DebtCategory,
    DebtItem,
    DebtLevel,
    DebtStatus,
    ReadinessReport,
    TrendPoint,
    build_report,
)
from tests.readiness.conftest import NOW, attest, ready_attestations, ready_facts, ready_route

HOSTILE = '<script>alert("x")</script> | **bold** <img src="https://evil.example/p.png">'
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def hostile_report() -> ReadinessReport:
    facts = ready_facts(routes=(ready_route(fallback=False),))
    claims = [a for a in ready_attestations() if a.item_id != "code-glossary"]
    claims.append(attest("data-3", note=HOSTILE))
    register = [
        DebtItem(
            id="debt-1",
            title=HOSTILE,
            category=DebtCategory.GLUE_CODE,
            impact=DebtLevel.HIGH,
            effort=DebtLevel.LOW,
            owner="<b>mallory</b>",
            due=NOW - timedelta(days=1),
        )
    ]
    trend = [TrendPoint(version="v1", score=1.0), TrendPoint(version="v2", score=2.5)]
    return build_report(facts, claims, now=NOW, debt=register, trend=trend)


def test_report_gathers_score_checklist_maturity_risks_debt_and_trend() -> None:
    report = hostile_report()

    assert report.ml_test_score.final == 4.0
    assert report.checklist.group("reliability").unmet == ("rel-fallback",)
    assert report.maturity.level == 0
    assert [r.item_id for r in report.top_risks[:1]] == ["rel-fallback"]
    assert [p.item.id for p in report.debt] == [
        "debt-1",
        "production_checklist:rel-fallback",
        "production_checklist:code-glossary",
    ]
    assert report.debt[0].overdue
    assert [(p.version, p.score) for p in report.trend] == [("v1", 1.0), ("v2", 2.5), ("v3", 4.0)]


def test_json_round_trips_with_derived_fields() -> None:
    report = hostile_report()

    data = json.loads(report.to_json())

    assert data["ml_test_score"]["final"] == 4.0
    assert data["checklist"]["met"] == 38
    assert data["checklist"]["groups"][0]["passed"] is False
    assert ReadinessReport.model_validate(data).ml_test_score == report.ml_test_score


def test_markdown_escapes_user_text() -> None:
    markdown = hostile_report().to_markdown()

    assert "# Readiness report: churn v3" in markdown
    assert "| Tests for features and data | 4.0 | 7.0 |" in markdown
    assert "<script>" not in markdown
    assert "\\<script\\>" in markdown
    assert "\\| \\*\\*bold\\*\\*" in markdown


def test_html_escapes_user_text_and_fetches_nothing(tmp_path: Path) -> None:
    report = hostile_report()

    html = report.write_html(tmp_path / "report.html").read_text(encoding="utf-8")

    assert "<script" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "&lt;b&gt;mallory&lt;/b&gt;" in html
    assert "<img" not in html
    assert EXTERNAL.search(html) is None
    assert "<link" not in html


def test_html_draws_section_bars_and_a_trend_line() -> None:
    html = hostile_report().to_html()

    assert html.count("<rect ") == 4
    polyline = re.search(r'<polyline points="([^"]+)"', html)
    assert polyline is not None
    assert len(polyline.group(1).split()) == 3
    assert html.count("<circle ") == 3


def test_the_external_reference_detector_catches_remote_resources() -> None:
    assert EXTERNAL.search('<img src="https://cdn.example/x.png">')
    assert EXTERNAL.search("<a href='http://example.org'>")
    assert EXTERNAL.search('<script src="//cdn.example/x.js">')
    assert not EXTERNAL.search('<a href="#top">')


def test_the_trend_runs_by_version_whatever_order_it_was_given_in() -> None:
    facts = ready_facts(version=2)
    trend = [TrendPoint(version="v10", score=1.0), TrendPoint(version="v1", score=0.5)]
    report = build_report(facts, ready_attestations(), now=NOW, trend=trend)
    assert [p.version for p in report.trend] == ["v1", "v2", "v10"]
    html = report.to_html()
    assert html.index("<title>v2:") < html.index("<title>v10:")


def test_a_resolved_item_hides_its_gap_only_while_the_gap_holds() -> None:
    resolved = DebtItem(
        id="production_checklist:rel-fallback",
        title="Fallback",
        category=DebtCategory.INFRASTRUCTURE,
        impact=DebtLevel.HIGH,
        effort=DebtLevel.LOW,
        owner="sre",
        status=DebtStatus.RESOLVED,
    )
    failing = build_report(
        ready_facts(routes=(ready_route(fallback=False),)),
        ready_attestations(),
        now=NOW,
        debt=[resolved],
    )
    assert [(p.item.id, p.item.reopened, p.item.owner) for p in failing.debt] == [
        ("production_checklist:rel-fallback", True, "sre")
    ]
    holding = build_report(ready_facts(), ready_attestations(), now=NOW, debt=[resolved])
    assert holding.debt == ()
