"""Lint scores completeness per section and reports what a reviewer would send back."""

from __future__ import annotations

import pytest

from mlgate.cards import ModelCard, Severity, is_placeholder, lint
from tests.cards.conftest import full_card_data


def codes(card: ModelCard) -> set[str]:
    return {f.code for f in lint(card).findings}


def test_full_card_is_complete_and_clean(full_card: ModelCard) -> None:
    report = lint(full_card)
    assert report.completeness == 1.0
    assert all(s.score == 1.0 and not s.missing for s in report.sections)
    assert report.findings == []


def test_name_only_card_scores_low_and_lists_empty_required_sections() -> None:
    report = lint(ModelCard.model_validate({"model_details": {"name": "churn"}}))
    assert report.completeness == 0.0
    empty = {f.field for f in report.errors if f.code == "required-section-empty"}
    assert empty == {
        "model_details",
        "intended_use",
        "metrics",
        "evaluation_data",
        "training_data",
        "ethical_considerations",
        "caveats_and_recommendations",
    }
    assert {f.field for f in report.findings if f.code == "section-empty"} == {
        "factors",
        "quantitative_analyses",
    }
    assert report.findings[0].severity is Severity.ERROR  # errors come first


def test_section_score_is_the_share_of_filled_fields() -> None:
    card = ModelCard.model_validate(
        {
            "model_details": {"name": "churn"},
            "intended_use": {"primary_uses": ["ranking"]},
        }
    )
    section = lint(card).section("intended_use")
    assert section.score == pytest.approx(1 / 3, abs=1e-3)
    assert section.missing == ["primary_users", "out_of_scope_uses"]


@pytest.mark.parametrize(
    "text",
    [
        "TBD",
        "todo",
        "TODO: describe the users",
        "[More Information Needed]",
        "N/A",
        "n/a.",
        "Lorem ipsum dolor sit amet",
        "...",
        "  ",
    ],
)
def test_placeholder_text_is_found_and_does_not_count(text: str) -> None:
    data = full_card_data()
    data["caveats_and_recommendations"]["failure_modes"] = [text]
    report = lint(ModelCard.model_validate(data))
    placeholders = [f for f in report.findings if f.code == "placeholder"]
    assert [f.field for f in placeholders] == ["caveats_and_recommendations.failure_modes[0]"]
    assert report.section("caveats_and_recommendations").missing == ["failure_modes"]
    assert report.completeness < 1.0


@pytest.mark.parametrize(
    "text", ["N/A for minors: they are excluded upstream", "a todo-list app", "none known"]
)
def test_real_answers_are_not_placeholders(text: str) -> None:
    assert not is_placeholder(text)


def test_sensitive_data_without_fairness_metrics_is_an_error() -> None:
    data = full_card_data()
    data["quantitative_analyses"]["fairness_metrics"] = []
    report = lint(ModelCard.model_validate(data))
    finding = next(
        f for f in report.findings if f.code == "sensitive-data-without-fairness-metrics"
    )
    assert finding.severity is Severity.ERROR
    assert finding.field == "quantitative_analyses.fairness_metrics"


def test_no_sensitive_data_needs_no_fairness_metrics() -> None:
    data = full_card_data()
    data["ethical_considerations"]["sensitive_data"] = {"declared": False}
    data["quantitative_analyses"]["fairness_metrics"] = []
    assert "sensitive-data-without-fairness-metrics" not in codes(ModelCard.model_validate(data))
    # "No" is an answer: the sensitive-data field still counts as filled.
    assert lint(ModelCard.model_validate(data)).section("ethical_considerations").score == 1.0


def test_metric_without_dataset_is_flagged_only_without_evaluation_data() -> None:
    data = full_card_data()
    assert "metric-without-dataset" not in codes(ModelCard.model_validate(data))
    data["evaluation_data"] = {}
    report = lint(ModelCard.model_validate(data))
    flagged = [f.field for f in report.findings if f.code == "metric-without-dataset"]
    assert flagged == ["metrics.performance_metrics[2].dataset"]


def test_thresholds_without_metrics_is_an_error() -> None:
    data = full_card_data()
    data["metrics"]["performance_metrics"] = []
    report = lint(ModelCard.model_validate(data))
    assert any(
        f.code == "thresholds-without-metrics" and f.severity is Severity.ERROR
        for f in report.findings
    )


def test_threshold_on_an_unreported_metric_is_flagged() -> None:
    data = full_card_data()
    data["metrics"]["decision_thresholds"][0]["metric"] = "precision"
    assert "threshold-unknown-metric" in codes(ModelCard.model_validate(data))
