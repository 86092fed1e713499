"""Every API route refuses a missing key (401) and a key without its scope (403)."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from mlgate.auth.deps import api_routes as all_api_routes
from mlgate.auth.deps import required_scopes
from mlgate.auth.schemas import Scope
from mlgate.gateway.frontdoor import CLIENT_ENDPOINTS
from tests.conftest import KeyFactory, bearer

OPEN_PATHS = {"/healthz", "/readyz"}


def api_routes(client: TestClient) -> list[tuple[APIRoute, str, str]]:
    routes = []
    for route in all_api_routes(client.app.routes):  # type: ignore[attr-defined]
        if route.path in OPEN_PATHS:
            continue
        path = re.sub(r"\{[^}]+\}", "1", route.path)
        for method in sorted(route.methods):
            routes.append((route, method, path))
    return routes


def front_door_routes() -> list[tuple[str, str, str]]:
    """(method, path, scope) of the client endpoints served before FastAPI's routing."""
    return [
        (method, re.sub(r"\{[^}]+\}", "1", path), scope)
        for (method, path), scope in CLIENT_ENDPOINTS.items()
    ]


def test_every_api_route_declares_a_scope(client: TestClient) -> None:
    routes = api_routes(client)
    assert len(routes) >= 10
    missing = [f"{m} {r.path}" for r, m, _ in routes if not list(required_scopes(r.dependant))]
    assert missing == []


def test_every_api_route_without_a_key_is_401(client: TestClient) -> None:
    for _route, method, path in api_routes(client):
        response = client.request(method, path)
        assert response.status_code == 401, f"{method} {path}"
        assert response.headers["content-type"] == "application/problem+json"
        if method != "HEAD":  # its answer has the headers only
            assert response.json()["type"] == "urn:mlgate:problem:unauthorized"


def test_client_endpoints_refuse_a_missing_key_and_a_key_without_their_scope(
    client: TestClient, make_key: KeyFactory
) -> None:
    routes = front_door_routes()
    assert {path for _, path, _ in routes} == {
        "/v1/routes/1/predict",
        "/v1/chat/completions",
        "/v1/models",
        "/v1/models/1",
    }
    for method, path, scope in routes:
        missing = client.request(method, path)
        assert missing.status_code == 401, f"{method} {path}"
        assert missing.headers["content-type"] == "application/problem+json"
        others = [s.value for s in Scope if s not in (Scope.ADMIN, Scope(scope))]
        key = make_key(*others)
        client.portal.call(client.app.state.gateway.refresh)  # type: ignore[attr-defined]
        refused = client.request(method, path, headers=bearer(key))
        assert refused.status_code == 403, f"{method} {path} needs {scope}"
        assert refused.json()["type"] == "urn:mlgate:problem:forbidden"


def test_every_api_route_with_a_key_lacking_its_scope_is_403(
    client: TestClient, make_key: KeyFactory
) -> None:
    for route, method, path in api_routes(client):
        needed = set(required_scopes(route.dependant))
        resource = {s.split(":")[0] for s in needed}
        others = [
            s.value for s in Scope if s != Scope.ADMIN and s.value.split(":")[0] not in resource
        ]
        key = make_key(*others)
        gateway = getattr(client.app.state, "gateway", None)  # type: ignore[attr-defined]
        if gateway is not None:  # the data plane learns of new keys at its next refresh
            client.portal.call(gateway.refresh)  # type: ignore[union-attr]
        response = client.request(method, path, headers=bearer(key))
        assert response.status_code == 403, f"{method} {path} needs {needed}"
        if method != "HEAD":  # its answer has the headers only
            assert response.json()["type"] == "urn:mlgate:problem:forbidden"


@pytest.mark.parametrize("path", sorted(OPEN_PATHS))
def test_health_checks_need_no_key(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 200


def test_revoked_key_is_refused_over_http(client: TestClient, make_key: KeyFactory) -> None:
    admin_key = make_key("admin")
    victim = make_key("registry:read")
    assert client.get("/api/v1/models", headers=bearer(victim)).status_code == 200
    keys = client.get("/api/v1/keys", headers=bearer(admin_key)).json()
    victim_id = next(k["id"] for k in keys if k["lookup"] == victim[4:12])
    assert (
        client.post(f"/api/v1/keys/{victim_id}/revoke", headers=bearer(admin_key)).status_code
        == 200
    )
    response = client.get("/api/v1/models", headers=bearer(victim))
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]
    assert victim not in response.text
