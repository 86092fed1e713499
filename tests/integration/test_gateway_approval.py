"""An unapproved version can never be served: not by route, canary, fallback or table edit."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from mlgate.app import create_app
from mlgate.errors import Conflict
from mlgate.gateway import service as routes
from mlgate.gateway.schemas import Canary, RouteCreate, RouteUpdate, TargetSpec
from mlgate.runtime import Runtime
from tests.conftest import KeyFactory, bearer
from tests.integration import world

ROWS = [[5.1, 3.5, 1.4, 0.2]]


@pytest.fixture
def two_versions(runtime: Runtime, iris_onnx: bytes) -> Runtime:
    """iris@1 approved and in production; iris@2 registered, never approved."""
    world.served_model(runtime, "iris", iris_onnx)
    world.register(runtime, "iris", iris_onnx + b"")  # same bytes, a second version
    return runtime


@pytest.mark.parametrize(
    "spec",
    [
        {"primary": {"model": "iris", "version": 2}},
        {"fallbacks": [{"model": "iris", "version": 2}]},
        {"canary": {"target": {"model": "iris", "version": 2}, "percent": 50}},
    ],
    ids=["primary", "fallback", "canary"],
)
def test_routes_naming_an_unapproved_version_are_refused(
    two_versions: Runtime, spec: dict[str, object]
) -> None:
    with two_versions.db.unit_of_work() as session, pytest.raises(Conflict, match="not approved"):
        routes.create_route(
            session, route_in=RouteCreate(name="r", model="iris", **spec), actor=world.REQUESTER
        )


def test_a_route_on_an_alias_nobody_deployed_says_once_how_to_deploy(
    two_versions: Runtime,
) -> None:
    target = {"model": "iris", "alias": "staging"}
    with two_versions.db.unit_of_work() as session, pytest.raises(Conflict) as refused:
        routes.create_route(
            session,
            route_in=RouteCreate(name="r", model="iris", primary=target),  # type: ignore[arg-type]
            actor=world.REQUESTER,
        )
    assert "iris@staging cannot be served" in refused.value.detail
    assert refused.value.detail.count("mlgate deploy iris@N --alias staging") == 1


def test_updates_cannot_add_an_unapproved_version(two_versions: Runtime) -> None:
    world.create_route(two_versions, name="r", model="iris")
    unapproved = TargetSpec(model="iris", version=2)
    for update in (
        RouteUpdate(fallbacks=[unapproved]),
        RouteUpdate(canary=Canary(target=unapproved, percent=10)),
    ):
        with two_versions.db.unit_of_work() as session, pytest.raises(Conflict):
            routes.update_route(session, name="r", route_in=update, actor=world.REQUESTER)


def test_unapproved_version_cannot_be_deployed_over_http(
    two_versions: Runtime, make_key: KeyFactory
) -> None:
    with TestClient(create_app(runtime=two_versions), raise_server_exceptions=False) as client:
        response = client.post(
            "/api/v1/routes",
            json={"name": "r", "model": "iris", "primary": {"model": "iris", "version": 2}},
            headers=bearer(make_key("routes:write")),
        )
    assert response.status_code == 409
    assert "not approved" in response.json()["detail"]


def test_a_direct_table_edit_does_not_get_an_unapproved_version_served(
    two_versions: Runtime, make_key: KeyFactory
) -> None:
    world.create_route(two_versions, name="r", model="iris")
    with two_versions.db.engine.begin() as connection:
        raw = connection.execute(text("SELECT spec FROM routes WHERE name = 'r'")).scalar_one()
        spec = raw if isinstance(raw, dict) else json.loads(raw)  # JSONB on PG, text on SQLite
        spec["primary"] = {"model": "iris", "version": 2, "alias": "production", "upstream": None}
        spec["canary"] = {
            "target": {"model": "iris", "version": 2, "alias": "production", "upstream": None},
            "percent": 100,
            "sticky_by": "key",
        }
        connection.execute(
            text("UPDATE routes SET spec = :spec WHERE name = 'r'"), {"spec": json.dumps(spec)}
        )
    key = make_key("gateway:invoke")
    with TestClient(create_app(runtime=two_versions), raise_server_exceptions=False) as client:
        table = client.app.state.gateway.table  # type: ignore[attr-defined]
        assert table.routes["r"].targets == ()
        assert table.routes["r"].canary is None
        assert any("not approved" in p for p in table.routes["r"].problems)
        response = client.post("/v1/routes/r/predict", json={"inputs": ROWS}, headers=bearer(key))
    assert response.status_code == 503
    assert "no approved target" in response.json()["detail"]


def test_an_artifact_whose_bytes_changed_is_not_loaded(
    runtime: Runtime, iris_onnx: bytes, make_key: KeyFactory
) -> None:
    world.served_model(runtime, "iris", iris_onnx)
    world.create_route(runtime, name="r", model="iris")
    with runtime.db.engine.connect() as connection:
        digest = connection.execute(text("SELECT sha256 FROM artifacts")).scalar_one()
    blob = runtime.blobs.path(digest)
    blob.chmod(0o644)
    blob.write_bytes(iris_onnx[:-1] + bytes([iris_onnx[-1] ^ 1]))
    key = make_key("gateway:invoke")
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        response = client.post("/v1/routes/r/predict", json={"inputs": ROWS}, headers=bearer(key))
    assert response.status_code == 503
