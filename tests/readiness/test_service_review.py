"""Evidence that must stay bound to what it was about: routes, canaries, maturity, debt, trend.

On SQLite and PostgreSQL, through the real services.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from alembic import command

from mlgate.approvals import deployments
from mlgate.approvals import policy as approval_policy
from mlgate.approvals import service as approvals
from mlgate.approvals.schemas import PolicyDocument, StagePolicy
from mlgate.auth.schemas import Principal
from mlgate.gateway import service as gateway
from mlgate.gateway.schemas import Canary, RouteCreate, RouteUpdate, TargetSpec
from mlgate.ids import new_id
from mlgate.readiness import debt_register, service
from mlgate.readiness.evidence import Status
from mlgate.readiness.models import AttestationRecord
from mlgate.readiness.report import ReadinessReport
from mlgate.readiness.schemas import DebtClose
from mlgate.runtime import Runtime
from mlgate.store.migrate import alembic_config, upgrade
from tests.readiness.world import NOW, World

REVIEWER = Principal(name="bob", scopes=frozenset({"approvals:review"}))


@pytest.fixture
def world(runtime: Runtime, admin: Principal) -> World:
    return World(runtime, admin)


def _approved(world: World, model: str) -> int:
    """Register the next version of ``model`` and approve it through a one-stage review."""
    number = world.version(model).version
    if number == 1:
        document = PolicyDocument(stages=[StagePolicy(name="review")])
        world.run(
            lambda s: approval_policy.set_policy(
                s, subject=model, document=document, actor=world.actor
            )
        )
    request = world.run(
        lambda s: approvals.request_review(
            s, model_name=model, version=number, requester=world.actor
        )
    )
    world.run(lambda s: approvals.approve(s, request_id=request.id, reviewer=REVIEWER, comment=""))
    return number


def _route(
    world: World, model: str, version: int, name: str = "churn-prod", at: datetime | None = None
) -> None:
    route_in = RouteCreate(name=name, model=model, primary=TargetSpec(model=model, version=version))
    world.run(lambda s: gateway.create_route(s, route_in=route_in, actor=world.actor, now=at))


def _update(world: World, update: RouteUpdate, name: str = "churn-prod") -> None:
    world.run(lambda s: gateway.update_route(s, name=name, route_in=update, actor=world.actor))


def _delete(world: World, name: str = "churn-prod") -> None:
    world.run(lambda s: gateway.delete_route(s, name=name, actor=world.actor))


def _assess(
    world: World, model: str, version: int, *, record: bool = False, now: datetime = NOW
) -> ReadinessReport:
    return world.run(
        lambda s: service.assess(
            s, model=model, version=version, actor=world.actor, record=record, now=now
        )
    )


def _status(world: World, model: str, version: int, item: str) -> Status:
    return _assess(world, model, version).checklist.item(item).status


# -- 1. a route attestation is about one route, not about every route of that name ----------


def test_a_route_attestation_does_not_carry_over_to_a_route_recreated_for_another_version(
    world: World,
) -> None:
    _approved(world, "churn")
    _route(world, "churn", 1)
    world.attest("dep-rollback", route="churn-prod", note="drill 2026-05-20")
    assert _status(world, "churn", 1, "dep-rollback") is Status.SATISFIED
    _approved(world, "churn")
    _delete(world)
    _route(world, "churn", 2)
    assert _status(world, "churn", 2, "dep-rollback") is Status.UNSATISFIED
    listed = world.run(lambda s: service.list_attestations(s, route="churn-prod", now=NOW))
    assert [(a.route, a.valid) for a in listed] == [("churn-prod", False)]


def test_a_route_attestation_does_not_carry_over_to_a_route_recreated_for_another_model(
    world: World,
) -> None:
    _approved(world, "churn")
    _approved(world, "fraud")
    _route(world, "churn", 1, name="scoring")
    world.attest("dep-rollback", route="scoring")
    _delete(world, name="scoring")
    _route(world, "fraud", 1, name="scoring")
    assert _status(world, "fraud", 1, "dep-rollback") is Status.UNSATISFIED


def test_a_route_attestation_stays_with_its_route_when_the_route_changes_in_place(
    world: World,
) -> None:
    _approved(world, "churn")
    _route(world, "churn", 1)
    world.attest("dep-rollback", route="churn-prod")
    _update(world, RouteUpdate(retention_days=14))
    assert _status(world, "churn", 1, "dep-rollback") is Status.SATISFIED
    listed = world.run(lambda s: service.list_attestations(s, route="churn-prod", now=NOW))
    assert [a.valid for a in listed] == [True]


def test_the_migration_binds_old_route_attestations_to_the_route_they_were_given_to(
    world: World,
) -> None:
    """Rows from before route ids: bound to the route of their name that existed then, if any."""
    _approved(world, "churn")
    engine = world.runtime.db.engine
    command.downgrade(alembic_config(engine), "0010_readiness_route_identity@-1")
    for name in ("kept", "gone", "dropped"):
        _route(world, "churn", 1, name=name, at=NOW - timedelta(days=20))
        with engine.begin() as connection:  # as the previous schema stored them: no route id
            connection.execute(
                AttestationRecord.__table__.insert().values(
                    id=new_id(),
                    route=name,
                    item_id="dep-rollback",
                    level="manual",
                    note="",
                    attested_by="ana",
                    attested_at=NOW - timedelta(days=10),
                    expires_at=NOW + timedelta(days=170),
                )
            )
    _delete(world, name="gone")
    _route(world, "churn", 1, name="gone", at=NOW - timedelta(days=5))
    _delete(world, name="dropped")  # and not recreated: no route carries its name
    upgrade(engine)
    listed = world.run(lambda s: service.list_attestations(s, now=NOW))
    assert sorted((a.route, a.valid) for a in listed) == [
        ("dropped", False),
        ("gone", False),
        ("kept", True),
    ]


# -- 2. a promoted canary keeps its evidence ---------------------------------------------------


def _deploy(world: World, version: int) -> None:
    world.run(
        lambda s: deployments.move_alias(
            s, model_name="churn", alias="production", version=version, actor=world.actor
        )
    )


def test_a_version_promoted_from_canary_still_satisfies_dep_canary(world: World) -> None:
    _approved(world, "churn")
    _deploy(world, 1)
    route_in = RouteCreate(name="churn-prod", model="churn")  # serves churn@production
    world.run(lambda s: gateway.create_route(s, route_in=route_in, actor=world.actor))
    _approved(world, "churn")
    _update(
        world, RouteUpdate(canary=Canary(target=TargetSpec(model="churn", version=2), percent=10))
    )
    assert _status(world, "churn", 2, "dep-canary") is Status.SATISFIED
    _deploy(world, 2)  # promote: production moves to the canary's version, the canary goes
    _update(world, RouteUpdate(clear_canary=True))
    promoted = _assess(world, "churn", 2)
    assert promoted.checklist.item("dep-canary").status is Status.SATISFIED
    assert "canary" in promoted.checklist.item("dep-canary").reason
    # a version deployed straight to production never was a canary
    _approved(world, "churn")
    _deploy(world, 3)
    assert _status(world, "churn", 3, "dep-canary") is Status.UNSATISFIED


def _point(world: World, alias: str, version: int) -> None:
    world.run(
        lambda s: deployments.move_alias(
            s, model_name="churn", alias=alias, version=version, actor=world.actor
        )
    )


def test_every_version_an_alias_canary_sent_traffic_to_keeps_its_evidence(world: World) -> None:
    for _ in range(4):
        _approved(world, "churn")
    _deploy(world, 1)
    _point(world, "candidate", 4)  # where the alias pointed before it was the canary: no traffic
    _point(world, "candidate", 2)
    route_in = RouteCreate(name="churn-prod", model="churn")  # serves churn@production
    world.run(lambda s: gateway.create_route(s, route_in=route_in, actor=world.actor))
    by_alias = Canary(target=TargetSpec(model="churn", alias="candidate"), percent=10)
    _update(world, RouteUpdate(canary=by_alias))
    _point(world, "candidate", 3)  # the canary now sends v3 the traffic it sent v2
    _update(world, RouteUpdate(clear_canary=True))
    _point(world, "candidate", 4)  # after the canary was cleared: no traffic
    _deploy(world, 3)  # each in turn in production, where the check looks
    assert _status(world, "churn", 3, "dep-canary") is Status.SATISFIED
    _deploy(world, 2)
    assert _status(world, "churn", 2, "dep-canary") is Status.SATISFIED
    _deploy(world, 4)
    assert _status(world, "churn", 4, "dep-canary") is Status.UNSATISFIED


def test_canary_history_of_a_deleted_route_does_not_count_for_its_successor(
    world: World,
) -> None:
    _approved(world, "churn")
    _approved(world, "churn")
    _route(world, "churn", 1)
    _update(
        world, RouteUpdate(canary=Canary(target=TargetSpec(model="churn", version=2), percent=5))
    )
    _delete(world)
    _route(world, "churn", 2)
    assert _status(world, "churn", 2, "dep-canary") is Status.UNSATISFIED


# -- 3. one maturity: the workspace assessment and every report agree -------------------------

LEVEL_ONE_BY_HAND = ("mat-pipeline-automation", "mat-experiment-tracking", "mat-monitoring")


def test_every_report_shows_the_workspace_maturity(world: World) -> None:
    world.version("churn")
    world.version("fraud")
    for item in LEVEL_ONE_BY_HAND:
        world.attest(item, ref=("fraud", 1))  # said of fraud's version, read for the workspace
    world.version("churn", input_schema=None)  # the latest churn validates no input
    workspace = world.run(lambda s: service.maturity(s, now=NOW))
    assert workspace.level == 1
    assert "mat-data-validation" in [m.id for m in workspace.missing]
    for model, version in (("churn", 1), ("churn", 2), ("fraud", 1)):
        assert _assess(world, model, version).maturity == workspace, f"{model}@{version}"
    reports = world.run(lambda s: service.assess_all(s, actor=world.actor, record=False, now=NOW))
    assert {r.maturity.level for r in reports} == {1}


# -- 4. a resolved debt item whose gap still fails is not hidden -------------------------------


def _open_debt(world: World) -> None:
    world.run(
        lambda s: service.debt_from_assessment(
            s, model="churn", version=1, owner="ml-team", actor=world.actor, now=NOW
        )
    )


def _resolve(world: World, source_item: str) -> None:
    listed = world.run(lambda s: debt_register.list_debt(s, model="churn", now=NOW))
    debt_id = next(d.id for d in listed if d.source_item == source_item)
    world.run(
        lambda s: debt_register.close_debt(
            s, debt_id=debt_id, close_in=DebtClose(), actor=world.actor, now=NOW
        )
    )


def test_a_resolved_debt_item_whose_gap_still_fails_is_reopened_in_the_report(
    world: World,
) -> None:
    world.version("churn")
    _open_debt(world)
    _resolve(world, "dep-rollback")
    report = _assess(world, "churn", 1)
    assert len(report.debt) == 36
    rollback = [e.item for e in report.debt if e.item.source_item == "dep-rollback"]
    assert [(d.status.value, d.reopened, d.owner) for d in rollback] == [("open", True, "ml-team")]
    assert "resolved in the debt register, but still fails" in rollback[0].description
    assert "re-opened" in report.to_markdown()
    assert "re-opened" in report.to_html()
    # once the gap is really closed, the resolved item stays closed
    world.attest("dep-rollback", ref=("churn", 1))
    fixed = _assess(world, "churn", 1)
    assert "dep-rollback" not in [e.item.source_item for e in fixed.debt]
    assert len(fixed.debt) == 35


def test_a_reopened_gap_is_listed_once_beside_its_resolved_predecessor(world: World) -> None:
    world.version("churn")
    _open_debt(world)
    _resolve(world, "dep-rollback")
    _open_debt(world)  # opens dep-rollback again: the register now holds both
    report = _assess(world, "churn", 1)
    rollback = [e.item for e in report.debt if e.item.source_item == "dep-rollback"]
    assert [d.status.value for d in rollback] == ["open"]
    assert rollback[0].reopened is False  # the register's open item tracks it
    assert len(report.debt) == 36


# -- 5. the trend runs by version ----------------------------------------------------------------


def test_the_trend_runs_by_version_whatever_order_versions_were_assessed_in(
    world: World,
) -> None:
    world.version("churn")
    world.version("churn")
    world.attest("data-2", ref=("churn", 2))
    _assess(world, "churn", 2, record=True, now=NOW - timedelta(days=1))
    report = _assess(world, "churn", 1, record=True)
    assert [p.version for p in report.trend] == ["v1", "v2"]
    markdown = report.to_markdown()
    assert markdown.index("- v1:") < markdown.index("- v2:")
    html = report.to_html()
    assert html.index("<title>v1:") < html.index("<title>v2:")
    # the list of recorded assessments is a history: in the order they were made
    snapshots = world.run(lambda s: service.list_snapshots(s, model="churn"))
    assert [s.version for s in snapshots] == [2, 1]
