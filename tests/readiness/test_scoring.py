"""ML Test Score and production checklist over small worlds: exact scores and missing items."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mlgate.errors import Invalid
from mlgate.readiness import (
    EvidenceLevel,
    EvidenceSource,
    Facts,
    Rubric,
    ScanFacts,
    Status,
    assess_checklist,
    score_ml_test,
)
from tests.readiness.conftest import (
    NOW,
    attest,
    ready_attestations,
    ready_facts,
    ready_route,
)

BAND_STRONG = "Strong levels of automated testing and monitoring"
BAND_REASONABLE = "Reasonably tested"


def section_scores(rubric: Rubric, **changes: object) -> dict[str, float]:
    score = score_ml_test(rubric, ready_facts(**changes), ready_attestations(), now=NOW)
    return {section.id: section.score for section in score.sections}


def test_ready_world_scores_its_weakest_section(ml_test_score: Rubric) -> None:
    score = score_ml_test(ml_test_score, ready_facts(), ready_attestations(), now=NOW)

    assert {s.id: s.score for s in score.sections} == {
        "data": 3.5,
        "model": 4.0,
        "infrastructure": 4.0,
        "monitoring": 5.0,
    }
    assert score.final == 3.5
    assert score.weakest == ("data",)
    assert score.band.startswith(BAND_STRONG)


def test_facts_alone_without_attestations_score_two(ml_test_score: Rubric) -> None:
    score = score_ml_test(ml_test_score, ready_facts(), now=NOW)

    assert [s.score for s in score.sections] == [2.0, 2.0, 3.0, 5.0]
    assert score.final == 2.0
    assert score.weakest == ("data", "model")
    assert score.band.startswith("There's been first pass at basic productionization")


def test_unapproved_version_loses_the_infrastructure_point(ml_test_score: Rubric) -> None:
    score = score_ml_test(
        ml_test_score, ready_facts(version_approved=False), ready_attestations(), now=NOW
    )

    assert [s.score for s in score.sections] == [3.5, 4.0, 3.0, 5.0]
    assert score.final == 3.0
    assert score.weakest == ("infrastructure",)
    assert score.band.startswith(BAND_REASONABLE)


def test_card_without_fairness_metrics_costs_the_inclusion_test(ml_test_score: Rubric) -> None:
    card = ready_facts().card.model_copy(update={"fairness_metrics_present": False})

    assert section_scores(ml_test_score, card=card)["model"] == 3.0


def test_empty_world_is_a_research_project(ml_test_score: Rubric) -> None:
    score = score_ml_test(ml_test_score, Facts(model="notebook", version=1), now=NOW)

    assert [s.score for s in score.sections] == [0.0, 0.0, 0.0, 0.0]
    assert score.final == 0.0
    assert score.band == "More of a research project than a productionized system."


def test_manual_attestation_earns_half_and_automated_earns_one(ml_test_score: Rubric) -> None:
    manual = score_ml_test(ml_test_score, ready_facts(), [attest("data-3")], now=NOW)
    automated = score_ml_test(
        ml_test_score, ready_facts(), [attest("data-3", EvidenceLevel.AUTOMATED)], now=NOW
    )

    assert manual.sections[0].score == 2.5
    assert automated.sections[0].score == 3.0


def test_attestation_counts_only_until_it_expires(ml_test_score: Rubric) -> None:
    attestation = attest("data-3", at=NOW - timedelta(days=30), valid_for=timedelta(days=30))

    before = score_ml_test(
        ml_test_score, ready_facts(), [attestation], now=NOW - timedelta(seconds=1)
    )
    after = score_ml_test(ml_test_score, ready_facts(), [attestation], now=NOW)

    assert before.sections[0].score == 2.5
    assert after.sections[0].score == 2.0
    expired = next(a for a in after.sections[0].items if a.item.id == "data-3")
    assert expired.status is Status.UNSATISFIED
    assert "expired on 2026-06-01" in expired.reason


def test_failing_check_overrides_an_attestation(ml_test_score: Rubric) -> None:
    claims = [attest("infra-4", EvidenceLevel.AUTOMATED)]
    score = score_ml_test(ml_test_score, ready_facts(version_approved=False), claims, now=NOW)

    infra_4 = next(a for a in score.sections[2].items if a.item.id == "infra-4")
    assert infra_4.status is Status.UNSATISFIED
    assert infra_4.source is EvidenceSource.CHECK
    assert infra_4.reason == "the version is not approved"


def test_attestation_stands_in_when_the_check_cannot_tell(ml_test_score: Rubric) -> None:
    card = ready_facts().card.model_copy(update={"input_schema_declared": None})
    without = score_ml_test(ml_test_score, ready_facts(card=card), now=NOW)
    attested = score_ml_test(ml_test_score, ready_facts(card=card), [attest("data-1")], now=NOW)

    data_1 = without.sections[0].items[0]
    assert data_1.status is Status.UNKNOWN
    assert data_1.source is EvidenceSource.NONE
    assert attested.sections[0].items[0].source is EvidenceSource.ATTESTATION
    assert attested.sections[0].score == without.sections[0].score + 0.5


def test_score_ml_test_refuses_a_checklist(checklist: Rubric) -> None:
    with pytest.raises(Invalid, match="not an ML Test Score"):
        score_ml_test(checklist, ready_facts(), now=NOW)


def test_ready_world_meets_the_whole_checklist(checklist: Rubric) -> None:
    result = assess_checklist(checklist, ready_facts(), ready_attestations(), now=NOW)

    assert (result.met, result.total) == (40, 40)
    assert all(group.passed for group in result.groups)


@pytest.mark.parametrize(
    ("changes", "group", "unmet"),
    [
        ({"routes": (ready_route(fallback=False),)}, "reliability", ("rel-fallback",)),
        ({"version_approved": False}, "deployment", ("dep-approved",)),
        (
            {
                "scans": ScanFacts(
                    scan_clean=False, artifact_signed=True, dependency_audit_clean=True
                )
            },
            "security",
            ("sec-artifact-scan",),
        ),
        (
            {
                "backups": ready_facts().backups.model_copy(
                    update={"last_backup_at": NOW - timedelta(days=3)}
                )
            },
            "disaster_recovery",
            ("dr-backups",),
        ),
        (
            {"card": ready_facts().card.model_copy(update={"completeness": 0.5})},
            "code_quality",
            ("code-card",),
        ),
    ],
    ids=["no-fallback", "unapproved", "scan-dirty", "stale-backup", "incomplete-card"],
)
def test_each_missing_safeguard_fails_exactly_its_item(
    checklist: Rubric, changes: dict[str, object], group: str, unmet: tuple[str, ...]
) -> None:
    result = assess_checklist(checklist, ready_facts(**changes), ready_attestations(), now=NOW)

    assert [g.id for g in result.groups if not g.passed] == [group]
    assert result.group(group).unmet == unmet
    assert result.met == 40 - len(unmet)


def test_removing_a_routes_fallback_drops_the_reliability_item(checklist: Rubric) -> None:
    routes = (ready_route("churn-prod"), ready_route("churn-eu"))
    before = assess_checklist(checklist, ready_facts(routes=routes), now=NOW)
    after = assess_checklist(
        checklist,
        ready_facts(routes=(routes[0], ready_route("churn-eu", fallback=False))),
        now=NOW,
    )

    assert before.item("rel-fallback").met
    assert not after.item("rel-fallback").met
    assert after.item("rel-fallback").reason == "route(s) without a fallback: churn-eu"
    assert after.group("reliability").met == before.group("reliability").met - 1


def test_backup_age_is_measured_against_the_injected_now(checklist: Rubric) -> None:
    facts = ready_facts()
    later = NOW + timedelta(days=2)

    assert assess_checklist(checklist, facts, now=NOW).item("dr-backups").met
    stale = assess_checklist(checklist, facts, now=later).item("dr-backups")
    assert not stale.met
    assert stale.reason == "the last backup is 2 days old; at most 1 allowed"


def test_version_on_no_route_leaves_route_items_unknown(checklist: Rubric) -> None:
    result = assess_checklist(checklist, ready_facts(routes=()), now=NOW)

    assert result.item("rel-fallback").status is Status.UNKNOWN
    assert result.group("reliability").met == 0
