"""Top risks: severity times exposure, with a deterministic order."""

from __future__ import annotations

from datetime import timedelta

from mlgate.readiness import (
    CardFacts,
    Rubric,
    assess_checklist,
    score_ml_test,
    top_risks,
)
from tests.readiness.conftest import (
    NOW,
    ready_attestations,
    ready_facts,
    ready_route,
)


def test_ready_world_has_no_checklist_risk(checklist: Rubric) -> None:
    result = assess_checklist(checklist, ready_facts(), ready_attestations(), now=NOW)

    assert top_risks(result.items, ready_facts()) == []


def test_served_route_without_fallback_outranks_stale_backup_and_missing_glossary(
    checklist: Rubric,
) -> None:
    facts = ready_facts(
        routes=(ready_route(fallback=False),),
        backups=ready_facts().backups.model_copy(
            update={"last_backup_at": NOW - timedelta(days=5)}
        ),
    )
    claims = [a for a in ready_attestations() if a.item_id != "code-glossary"]

    result = assess_checklist(checklist, facts, claims, now=NOW)
    risks = top_risks(result.items, facts)

    assert [(r.item_id, r.score) for r in risks] == [
        ("rel-fallback", 12),
        ("dr-backups", 8),
        ("code-glossary", 1),
    ]
    assert [r.rank for r in risks] == [1, 2, 3]


def test_a_fallback_gap_weighs_less_when_no_traffic_is_served(checklist: Rubric) -> None:
    facts = ready_facts(routes=(ready_route(fallback=False, serving_traffic=False),))

    risks = top_risks(assess_checklist(checklist, facts, now=NOW).items, facts, limit=None)

    fallback = next(r for r in risks if r.item_id == "rel-fallback")
    assert fallback.score == 4


def test_equal_scores_break_ties_by_severity_then_id(checklist: Rubric) -> None:
    facts = ready_facts(routes=(ready_route(retries=0, breaker=False, rate_limit=False),))

    risks = top_risks(assess_checklist(checklist, facts, now=NOW).items, facts, limit=5)

    assert [(r.item_id, r.score) for r in risks] == [
        ("dep-rollback", 9),
        ("rel-breaker", 9),
        ("rel-retries", 9),
        ("sec-key-management", 9),
        ("mon-consumers", 6),
    ]


def test_sensitive_data_raises_the_weight_of_privacy_gaps(checklist: Rubric) -> None:
    def pii_score(sensitive: bool | None) -> int:
        card = CardFacts(sensitive_data=sensitive)
        facts = ready_facts(
            card=card, privacy=ready_facts().privacy.model_copy(update={"pii_redaction": False})
        )
        risks = top_risks(assess_checklist(checklist, facts, now=NOW).items, facts, limit=None)
        return next(r.score for r in risks if r.item_id == "priv-pii")

    assert [pii_score(True), pii_score(None), pii_score(False)] == [12, 8, 4]


def test_risks_merge_rubrics_and_respect_the_limit(
    ml_test_score: Rubric, checklist: Rubric
) -> None:
    facts = ready_facts(version_approved=False)
    score = score_ml_test(ml_test_score, facts, ready_attestations(), now=NOW)
    status = assess_checklist(checklist, facts, ready_attestations(), now=NOW)
    items = [a for section in score.sections for a in section.items] + list(status.items)

    risks = top_risks(items, facts, limit=2)

    assert [r.item_id for r in risks] == ["dep-approved", "infra-4"]
