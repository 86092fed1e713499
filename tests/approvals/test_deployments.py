"""The deployment gate: only approved versions get aliases; rollback; protection; history."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from mlgate.approvals import deployments, service
from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.errors import Conflict, Forbidden, NotFound
from mlgate.runtime import Runtime
from tests.approvals.conftest import ADMIN, REQUESTER, VersionFactory, reviewer, simple_policy
from tests.conftest import KeyFactory, bearer

SOLO = simple_policy(("only", [], []))
DEPLOYER = Principal(name="devon", scopes=frozenset({"deploy"}))


def _approved(
    runtime: Runtime, make_version: VersionFactory, model: str | None = None
) -> tuple[str, int]:
    name, number = make_version(model, policy_doc=SOLO if model is None else None)
    with runtime.db.unit_of_work() as session:
        request_id = service.request_review(
            session, model_name=name, version=number, requester=REQUESTER
        ).id
        service.approve(session, request_id=request_id, reviewer=reviewer("avery"), comment="ok")
    return name, number


def test_an_unapproved_version_cannot_be_deployed(
    client: TestClient, make_key: KeyFactory, make_version: VersionFactory
) -> None:
    name, number = make_version(policy_doc=SOLO)
    response = client.put(
        f"/api/v1/deployments/{name}/aliases/production",
        json={"version": number},
        headers=bearer(make_key("deploy")),
    )
    assert response.status_code == 409
    problem = response.json()
    assert problem["type"] == "urn:mlgate:problem:conflict"
    assert "not approved" in problem["detail"]
    assert f"mlgate review request {name}@{number}" in problem["detail"]


def test_deploy_records_who_and_when_and_rollback_returns_to_the_previous_approved(
    runtime: Runtime, make_version: VersionFactory
) -> None:
    name, v1 = _approved(runtime, make_version)
    _, v2 = _approved(runtime, make_version, name)
    _, v3 = make_version(name, policy_doc=None)  # registered, never approved
    with runtime.db.unit_of_work() as session:
        deployments.move_alias(
            session, model_name=name, alias="production", version=v1, actor=DEPLOYER
        )
        moved = deployments.move_alias(
            session, model_name=name, alias="production", version=v2, actor=DEPLOYER, comment="v2"
        )
        assert moved.version == v2
        with pytest.raises(Conflict, match="not approved"):
            deployments.move_alias(
                session, model_name=name, alias="production", version=v3, actor=DEPLOYER
            )
    with runtime.db.unit_of_work() as session:
        back = deployments.rollback(session, model_name=name, actor=DEPLOYER, comment="bad v2")
        history = deployments.alias_history(session, model_name=name, alias="production")
        entries = audit.get_all(session, object_type="model_alias")
    assert back.version == v1
    assert [(h.action, h.from_version, h.to_version) for h in history] == [
        ("rolled_back", v2, v1),
        ("deployed", v1, v2),
        ("deployed", None, v1),
    ]
    assert [(e.action, e.actor) for e in entries] == [
        ("alias.deployed", "devon"),
        ("alias.deployed", "devon"),
        ("alias.rolled_back", "devon"),
    ]
    assert entries[1].change["from_version"] == v1
    assert entries[1].change["to_version"] == v2


def test_rollback_without_an_earlier_version_is_a_conflict(
    runtime: Runtime, make_version: VersionFactory
) -> None:
    name, v1 = _approved(runtime, make_version)
    with runtime.db.unit_of_work() as session:
        with pytest.raises(Conflict, match="no 'production' alias"):
            deployments.rollback(session, model_name=name, actor=DEPLOYER)
        deployments.move_alias(
            session, model_name=name, alias="production", version=v1, actor=DEPLOYER
        )
        with pytest.raises(Conflict, match="no earlier approved"):
            deployments.rollback(session, model_name=name, actor=DEPLOYER)


def test_rollbacks_walk_down_the_stack_and_never_return_to_a_version_left_behind(
    runtime: Runtime, make_version: VersionFactory
) -> None:
    name, v1 = _approved(runtime, make_version)
    _, v2 = _approved(runtime, make_version, name)
    _, v3 = _approved(runtime, make_version, name)
    _, v4 = _approved(runtime, make_version, name)
    with runtime.db.unit_of_work() as session:
        for version in (v1, v2, v3):
            deployments.move_alias(
                session, model_name=name, alias="production", version=version, actor=DEPLOYER
            )
    landed = []
    for _ in range(2):  # a second rollback went "back" to v3, the version just rolled back
        with runtime.db.unit_of_work() as session:
            landed.append(deployments.rollback(session, model_name=name, actor=DEPLOYER).version)
    assert landed == [v2, v1]
    with runtime.db.unit_of_work() as session:
        with pytest.raises(Conflict, match="no earlier approved"):
            deployments.rollback(session, model_name=name, actor=DEPLOYER)
        # v1 -> v4: rolling back returns to v1, the version v4 replaced, not v2 or v3.
        deployments.move_alias(
            session, model_name=name, alias="production", version=v4, actor=DEPLOYER
        )
        assert deployments.rollback(session, model_name=name, actor=DEPLOYER).version == v1
        history = deployments.alias_history(session, model_name=name, alias="production")
    assert [(h.action, h.from_version, h.to_version) for h in reversed(history)] == [
        ("deployed", None, v1),
        ("deployed", v1, v2),
        ("deployed", v2, v3),
        ("rolled_back", v3, v2),
        ("rolled_back", v2, v1),
        ("deployed", v1, v4),
        ("rolled_back", v4, v1),
    ]


def test_deploying_an_unapproved_version_says_the_next_step_for_its_status(
    runtime: Runtime, make_version: VersionFactory
) -> None:
    name, rejected = make_version(policy_doc=SOLO)
    _, in_review = make_version(name)
    _, registered = make_version(name)
    with runtime.db.unit_of_work() as session:
        request_id = service.request_review(
            session, model_name=name, version=rejected, requester=REQUESTER
        ).id
        service.reject(session, request_id=request_id, reviewer=reviewer("avery"), comment="no")
        service.request_review(session, model_name=name, version=in_review, requester=REQUESTER)

    def refusal(version: int) -> str:
        with runtime.db.unit_of_work() as session, pytest.raises(Conflict) as refused:
            deployments.move_alias(
                session, model_name=name, alias="production", version=version, actor=DEPLOYER
            )
        return refused.value.detail

    # `mlgate review request` fails for a version that already has a review.
    assert f"review request {name}@{rejected}" not in refusal(rejected)
    assert f"mlgate versions register FILE --model {name}" in refusal(rejected)
    assert f"review request {name}@{in_review}" not in refusal(in_review)
    assert f"mlgate review show {name}@{in_review}" in refusal(in_review)
    assert f"mlgate review request {name}@{registered}" in refusal(registered)


def test_a_protected_alias_moves_only_for_an_admin(
    runtime: Runtime, make_version: VersionFactory
) -> None:
    name, v1 = _approved(runtime, make_version)
    _, v2 = _approved(runtime, make_version, name)
    with runtime.db.unit_of_work() as session:
        with pytest.raises(Forbidden):
            deployments.set_protection(
                session, model_name=name, alias="production", protected=True, actor=DEPLOYER
            )
        with pytest.raises(NotFound, match="nothing to unprotect"):  # a typo creates nothing
            deployments.set_protection(
                session, model_name=name, alias="prodction", protected=False, actor=ADMIN
            )
        guarded = deployments.set_protection(
            session, model_name=name, alias="production", protected=True, actor=ADMIN
        )
        assert (guarded.protected, guarded.version) == (True, None)  # guarded before any deploy
        with pytest.raises(Forbidden, match="protected"):
            deployments.move_alias(
                session, model_name=name, alias="production", version=v1, actor=DEPLOYER
            )
        deployments.move_alias(
            session, model_name=name, alias="production", version=v1, actor=ADMIN
        )
        # Other aliases are not protected.
        staging = deployments.move_alias(
            session, model_name=name, alias="staging", version=v2, actor=DEPLOYER
        )
        assert deployments.resolve_alias(session, model_name=name, alias="production") == v1
    assert staging.version == v2


def test_deployments_over_http(
    client: TestClient, make_key: KeyFactory, runtime: Runtime, make_version: VersionFactory
) -> None:
    name, v1 = _approved(runtime, make_version)
    _, v2 = _approved(runtime, make_version, name)
    deployer = bearer(make_key("deploy", owner="devon"))
    reader = bearer(make_key("registry:read"))
    for version in (v1, v2):
        response = client.put(
            f"/api/v1/deployments/{name}/aliases/production",
            json={"version": version},
            headers=deployer,
        )
        assert response.status_code == 200, response.text
    back = client.post(
        f"/api/v1/deployments/{name}/aliases/production/rollback", json={}, headers=deployer
    )
    assert back.json()["version"] == v1
    assert client.get(f"/api/v1/deployments/{name}", headers=reader).json()[0]["version"] == v1
    history = client.get(f"/api/v1/deployments/{name}/history", headers=reader).json()
    assert [h["action"] for h in history] == ["rolled_back", "deployed", "deployed"]
    protect = client.put(
        f"/api/v1/deployments/{name}/aliases/production/protection",
        json={"protected": True},
        headers=deployer,
    )
    assert protect.status_code == 403
