"""The readiness:<group> approval gates, through the real approval workflow, on both databases."""

from __future__ import annotations

import pytest

from mlgate.approvals import policy as approval_policy
from mlgate.approvals import service as approvals
from mlgate.approvals.gates import is_registered
from mlgate.approvals.schemas import PolicyDocument, StagePolicy
from mlgate.auth.schemas import Principal
from mlgate.clock import utcnow
from mlgate.errors import Conflict
from mlgate.readiness import gates, service
from mlgate.readiness.evidence import Status
from mlgate.runtime import Runtime
from tests.readiness.world import World

SECURITY_GAPS = (
    "sec-key-management",
    "sec-input-validation",
    "sec-encryption",
    "sec-artifact-scan",
    "sec-signatures",
    "sec-dependency-audit",
)
REVIEWER = Principal(name="bob", scopes=frozenset({"approvals:review"}))


@pytest.fixture
def world(runtime: Runtime, admin: Principal) -> World:
    return World(runtime, admin)


def test_every_checklist_group_is_a_registered_gate() -> None:
    groups = [section.id for section in service.rubrics()[1].sections]
    assert gates.register_gate_checks() == [f"readiness:{group}" for group in groups]
    assert all(is_registered(f"readiness:{group}") for group in groups)


def test_the_security_stage_needs_every_security_item(world: World) -> None:
    world.version("churn")
    document = PolicyDocument(
        stages=[StagePolicy(name="security-review", gates=["readiness:security"])]
    )
    world.run(
        lambda s: approval_policy.set_policy(
            s, subject="churn", document=document, actor=world.actor
        )
    )
    request = world.run(
        lambda s: approvals.request_review(s, model_name="churn", version=1, requester=world.actor)
    )

    def approve() -> None:
        world.run(
            lambda s: approvals.approve(s, request_id=request.id, reviewer=REVIEWER, comment="ok")
        )

    with pytest.raises(Conflict, match="6 of 7 security items are not satisfied") as refused:
        approve()
    assert all(item in refused.value.detail for item in SECURITY_GAPS)
    for item in SECURITY_GAPS:  # the gate judges at the real now
        world.attest(item, ref=("churn", 1), at=utcnow())
    approve()
    report = world.run(lambda s: service.assess(s, model="churn", actor=world.actor, record=False))
    assert report.checklist.item("dep-approved").status is Status.SATISFIED
    assert report.checklist.group("security").passed
