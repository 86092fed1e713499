"""Readiness over the store, on SQLite and PostgreSQL: scores, expiry, facts, maturity, risks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from mlgate.auth.schemas import Principal
from mlgate.cards import (
    DataSection,
    EthicalConsiderations,
    FairnessMetric,
    Metrics,
    ModelCard,
    ModelDetails,
    PerformanceMetric,
    QuantitativeAnalyses,
    SensitiveData,
)
from mlgate.cards import service as cards
from mlgate.errors import Invalid, NotFound
from mlgate.readiness import service
from mlgate.readiness.evidence import EvidenceLevel, Status
from mlgate.readiness.facts import BackupFacts, CardFacts, Facts, ScanFacts
from mlgate.readiness.models import AssessmentSnapshot
from mlgate.readiness.providers import (
    gather_facts,
    register_fact_provider,
    unregister_fact_provider,
)
from mlgate.readiness.report import ReadinessReport
from mlgate.registry.models import Model, ModelVersion
from mlgate.runtime import Runtime
from tests.readiness.world import NOW, World

AUTOMATED = EvidenceLevel.AUTOMATED


@pytest.fixture
def world(runtime: Runtime, admin: Principal) -> World:
    return World(runtime, admin)


def _assess(world: World, model: str = "churn", **kwargs: object) -> ReadinessReport:
    kwargs.setdefault("now", NOW)
    kwargs.setdefault("record", False)
    return world.run(
        lambda s: service.assess(s, model=model, actor=world.actor, **kwargs)  # type: ignore[arg-type]
    )


def _sections(report: ReadinessReport) -> dict[str, float]:
    return {section.id: section.score for section in report.ml_test_score.sections}


def _attest_some(world: World) -> None:
    ref = ("churn", 1)
    world.attest("data-2", ref=ref)
    world.attest("model-1", ref=ref)
    world.attest("model-2", ref=ref, level=AUTOMATED, valid_for=timedelta(days=15))
    world.attest("infra-2", ref=ref, level=AUTOMATED)
    world.attest("mon-1", ref=ref)
    world.attest("mon-5", ref=ref, level=AUTOMATED)


def test_facts_come_from_the_registry_and_unknown_domains_stay_unknown(world: World) -> None:
    world.version("churn")
    facts = world.run(lambda s: gather_facts(s, model="churn", version=1))
    assert facts.registered
    assert facts.provenance_recorded
    assert facts.version_approved is False
    assert facts.approvals_required is True  # the built-in approval policy has stages
    assert facts.card == CardFacts(  # no card yet: known gaps, and silence on sensitive data
        completeness=0.0,
        fairness_metrics_present=False,
        sensitive_data=None,
        input_schema_declared=True,
        evaluation_metrics_present=False,
        training_data_documented=False,
    )
    assert facts.routes == ()
    assert facts.scans == ScanFacts()  # no scanning facts gathered: unknown, never "no"
    assert facts.backups == BackupFacts(runbook_present=False)  # no drill, no runbook yet


def test_setting_a_card_updates_the_automatic_evidence_at_once(world: World) -> None:
    world.version("churn")
    before = _assess(world)
    card = ModelCard(
        model_details=ModelDetails(name="churn", overview="Predicts churn of subscribers."),
        metrics=Metrics(performance_metrics=[PerformanceMetric(name="auc", value=0.91)]),
        training_data=DataSection(description="Subscriptions from 2025."),
        quantitative_analyses=QuantitativeAnalyses(
            fairness_metrics=[FairnessMetric(name="tpr_gap", group="age", value=0.02)]
        ),
        ethical_considerations=EthicalConsiderations(
            sensitive_data=SensitiveData(declared=True, categories=["age"])
        ),
    )
    world.run(
        lambda s: cards.set_card(s, model_name="churn", version=1, card=card, actor=world.actor)
    )
    after = _assess(world)
    assert _sections(before)["model"] == 0.0
    assert _sections(after)["model"] == 2.0  # model-5 (baseline metrics), model-7 (fairness)
    for item in ("exp-evaluation", "exp-fairness", "priv-sensitive-declared", "data-lineage"):
        assert before.checklist.item(item).status is Status.UNSATISFIED
        assert after.checklist.item(item).status is Status.SATISFIED
    assert after.checklist.item("code-card").status is Status.UNSATISFIED  # still incomplete


def test_a_bare_version_scores_zero_in_its_untested_sections(world: World) -> None:
    world.version("churn")
    report = _assess(world)
    assert _sections(report) == {
        "data": 1.0,
        "model": 0.0,
        "infrastructure": 1.0,
        "monitoring": 0.0,
    }
    assert report.ml_test_score.final == 0.0
    assert report.ml_test_score.weakest == ("model", "monitoring")
    assert (report.checklist.met, report.checklist.total) == (4, 40)


def test_attestations_raise_the_exact_ml_test_score(world: World) -> None:
    world.version("churn")
    _attest_some(world)
    report = _assess(world)
    assert _sections(report) == {
        "data": 1.5,
        "model": 1.5,
        "infrastructure": 2.0,
        "monitoring": 1.5,
    }
    assert report.ml_test_score.final == 1.5
    assert report.ml_test_score.weakest == ("data", "model", "monitoring")
    assert report.ml_test_score.band.startswith("There's been first pass")


def test_manual_attestations_expire_against_the_injected_now(world: World) -> None:
    world.version("churn")
    _attest_some(world)  # model-2 was attested 10 days before NOW, valid for 15 days
    later = _assess(world, now=NOW + timedelta(days=6))
    assert _sections(later)["model"] == 0.5
    assert later.ml_test_score.final == 0.5
    model_2 = next(
        a for s in later.ml_test_score.sections for a in s.items if a.item.id == "model-2"
    )
    assert model_2.status is Status.UNSATISFIED
    assert "expired" in model_2.reason
    rows = world.run(
        lambda s: service.list_attestations(
            s, model="churn", version=1, now=NOW + timedelta(days=6)
        )
    )
    assert {a.item_id for a in rows if not a.valid} == {"model-2"}


def test_automatic_evidence_follows_the_facts_of_each_version(world: World) -> None:
    world.version("churn")
    world.version("churn", input_schema=None, provenance=False)
    first, second = _assess(world, version=1), _assess(world, version=2)
    assert _sections(first)["data"] == 1.0
    assert _sections(second)["data"] == 0.0
    assert _sections(first)["infrastructure"] == 1.0
    assert _sections(second)["infrastructure"] == 0.0


def test_a_registered_provider_changes_the_assessment_at_once(world: World) -> None:
    world.version("churn")
    before = _assess(world)

    def scans(session: Session, model: Model, version: ModelVersion, facts: Facts) -> Facts:
        clean = ScanFacts(scan_clean=True, artifact_signed=True, dependency_audit_clean=True)
        return facts.model_copy(update={"scans": clean})

    register_fact_provider(scans, name="test-scans")
    try:
        after = _assess(world)
    finally:
        unregister_fact_provider("test-scans")
    assert before.checklist.group("security").met == 1
    assert after.checklist.group("security").met == 4
    assert after.checklist.item("sec-artifact-scan").source.value == "check"


def test_a_failing_provider_leaves_facts_unknown_and_the_transaction_usable(world: World) -> None:
    world.version("churn")

    def broken(session: Session, model: Model, version: ModelVersion, facts: Facts) -> Facts:
        session.execute(text("SELECT * FROM no_such_table"))
        return facts.model_copy(update={"version_approved": True})

    register_fact_provider(broken, name="test-broken")
    try:
        report = _assess(world, record=True)
    finally:
        unregister_fact_provider("test-broken")
    assert report.checklist.item("dep-approved").status is Status.UNSATISFIED
    assert world.run(lambda s: s.query(AssessmentSnapshot).count()) == 1


def test_top_risks_rank_severity_times_exposure(world: World) -> None:
    world.version("churn")
    risks = [risk.item_id for risk in _assess(world).top_risks]
    assert risks == [
        "dr-backups",
        "data-5",
        "priv-pii",
        "dr-restore-drill",
        "exp-evaluation",
        "exp-fairness",
        "infra-3",
        "model-7",
        "priv-sensitive-declared",
        "priv-erasure",  # not priv-retention: on no route, its retention is unknown, not failed
    ]


def test_workspace_maturity_needs_every_model_and_lists_what_is_missing(world: World) -> None:
    world.version("churn")
    bare = world.run(lambda s: service.maturity(s, now=NOW))
    assert bare.level == 0
    assert [m.id for m in bare.missing] == [
        "mat-pipeline-automation",
        "mat-experiment-tracking",
        "mat-monitoring",
    ]
    for item in ("mat-pipeline-automation", "mat-experiment-tracking", "mat-monitoring"):
        world.attest(item)  # workspace-wide evidence
    level_one = world.run(lambda s: service.maturity(s, now=NOW))
    assert level_one.level == 1
    assert [m.id for m in level_one.missing] == [
        "mat-model-validation",
        "mat-ci-cd",
        "mat-feature-store",
        "mat-automated-deployment",
    ]
    world.version("fraud", input_schema=None)
    two_models = world.run(lambda s: service.maturity(s, now=NOW))
    assert "mat-data-validation" in [m.id for m in two_models.missing]


def test_recorded_assessments_draw_the_trend_across_versions(world: World) -> None:
    world.version("churn")
    _assess(world, version=1, record=True)
    world.version("churn", input_schema=None)
    _attest_some_for(world, 2)
    report = _assess(world, version=2, record=True)
    assert [(p.version, p.score) for p in report.trend] == [("v1", 0.0), ("v2", 0.0)]
    snapshots = world.run(lambda s: service.list_snapshots(s, model="churn"))
    assert [(s.version, s.sections["data"]) for s in snapshots] == [(1, 1.0), (2, 0.5)]


def _attest_some_for(world: World, version: int) -> None:
    world.attest("data-2", ref=("churn", version))


def test_attesting_an_unknown_item_or_an_expired_date_is_refused(world: World) -> None:
    world.version("churn")
    with pytest.raises(Invalid, match="no rubric has an item 'nope'"):
        world.attest("nope", ref=("churn", 1))
    with pytest.raises(Invalid, match="must be in the future"):
        world.attest("data-2", ref=("churn", 1), valid_for=timedelta(0))
    with pytest.raises(NotFound):
        world.attest("data-2", ref=("churn", 9))
