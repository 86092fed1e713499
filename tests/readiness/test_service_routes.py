"""Facts from gateway routes and route-level attestations, through the real services."""

from __future__ import annotations

import pytest

from mlgate.approvals import policy as approval_policy
from mlgate.approvals import service as approvals
from mlgate.approvals.schemas import PolicyDocument, StagePolicy
from mlgate.auth.schemas import Principal
from mlgate.errors import NotFound
from mlgate.gateway import service as gateway
from mlgate.gateway.schemas import Degradation, RouteCreate, TargetSpec
from mlgate.incidents import runbooks
from mlgate.incidents.schemas import RunbookCreate
from mlgate.privacy import service as privacy
from mlgate.privacy.schemas import PurposeSet
from mlgate.readiness import service
from mlgate.readiness.evidence import Status
from mlgate.readiness.facts import RouteFacts
from mlgate.readiness.providers import gather_facts
from mlgate.runtime import Runtime
from tests.readiness.world import NOW, World

REVIEWER = Principal(name="bob", scopes=frozenset({"approvals:review"}))


@pytest.fixture
def world(runtime: Runtime, admin: Principal) -> World:
    """churn@1 approved through a one-stage review and served by route churn-prod."""
    world = World(runtime, admin)
    world.version("churn")
    document = PolicyDocument(stages=[StagePolicy(name="review")])
    world.run(
        lambda s: approval_policy.set_policy(s, subject="churn", document=document, actor=admin)
    )
    request = world.run(
        lambda s: approvals.request_review(s, model_name="churn", version=1, requester=admin)
    )
    world.run(lambda s: approvals.approve(s, request_id=request.id, reviewer=REVIEWER, comment=""))
    route_in = RouteCreate(
        name="churn-prod",
        model="churn",
        primary=TargetSpec(model="churn", version=1),
        degradation=Degradation(mode="static", static_response={"score": 0}),
    )
    world.run(lambda s: gateway.create_route(s, route_in=route_in, actor=admin))
    return world


def test_a_serving_route_becomes_route_facts(world: World) -> None:
    facts = world.run(lambda s: gather_facts(s, model="churn", version=1))
    assert facts.version_approved is True
    assert facts.routes == (
        RouteFacts(
            name="churn-prod",
            serving_traffic=True,
            fallback=True,
            deadline_ms=2000,
            retries=1,
            breaker=True,
            rate_limit=False,
            input_validation=True,
            canary_used=False,
        ),
    )
    assert facts.privacy.retention_days == 30
    assert facts.privacy.pii_redaction is True
    report = world.run(
        lambda s: service.assess(s, model="churn", actor=world.actor, record=False, now=NOW)
    )
    reliability = report.checklist.group("reliability")
    assert (reliability.met, reliability.unmet) == (4, ("rel-rate-limit",))
    assert report.checklist.item("dep-approved").status is Status.SATISFIED


def test_route_attestations_count_for_the_versions_it_serves(world: World) -> None:
    world.attest("dep-rollback", route="churn-prod", note="drill 2026-05-20")
    report = world.run(
        lambda s: service.assess(s, model="churn", actor=world.actor, record=False, now=NOW)
    )
    rollback = report.checklist.item("dep-rollback")
    assert rollback.status is Status.SATISFIED
    assert "drill 2026-05-20" in rollback.reason
    listed = world.run(lambda s: service.list_attestations(s, route="churn-prod", now=NOW))
    assert [(a.subject.value, a.route) for a in listed] == [("route", "churn-prod")]
    with pytest.raises(NotFound):
        world.attest("dep-rollback", route="no-such-route")


def test_purposes_and_runbooks_of_the_route_become_facts(world: World) -> None:
    bare = world.run(lambda s: gather_facts(s, model="churn", version=1))
    assert bare.privacy.processing_record is False
    assert bare.privacy.log_encryption is True  # metadata only: no payload is stored
    assert bare.backups.runbook_present is False
    purposes = PurposeSet(purposes=["churn prevention"], legal_basis="contract")
    world.run(
        lambda s: privacy.set_purposes(
            s, route="churn-prod", purposes_in=purposes, actor=world.actor
        )
    )
    runbook = RunbookCreate(
        name="churn-down", title="Churn is down", body="Roll back.", routes=["churn-prod"]
    )
    world.run(lambda s: runbooks.put_runbook(s, runbook_in=runbook, actor=world.actor))
    facts = world.run(lambda s: gather_facts(s, model="churn", version=1))
    assert facts.privacy.processing_record is True
    assert facts.backups.runbook_present is True
    report = world.run(
        lambda s: service.assess(s, model="churn", actor=world.actor, record=False, now=NOW)
    )
    assert report.checklist.item("priv-records").status is Status.SATISFIED
    assert report.checklist.item("dr-runbooks").status is Status.SATISFIED
