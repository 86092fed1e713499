"""mlgate over real HTTP on loopback, on both databases."""

from __future__ import annotations

import hashlib
import json

import httpx

from tests.conftest import KeyFactory, bearer
from tests.integration.conftest import LiveServer


def test_health_and_readiness_answer_without_a_key(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        ready = http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {
            "database": "ok",
            "migrations": "current",
            "route_table": "ok",
        }


def test_register_and_fetch_a_version_over_the_wire(
    live_server: LiveServer, make_key: KeyFactory
) -> None:
    headers = bearer(make_key("registry:write"))
    weights = bytes(range(256)) * 1000
    with httpx.Client(base_url=live_server.url, headers=headers) as http:
        assert http.post("/api/v1/models", json={"name": "iris"}).status_code == 201
        created = http.post(
            "/api/v1/models/iris/versions",
            files=[("artifact", ("model.onnx", weights))],
            data={"metadata": json.dumps({"framework": "onnx"})},
        )
        assert created.status_code == 201, created.text
        assert created.headers["x-request-id"]
        body = http.get("/api/v1/models/iris/versions/1/artifacts/model.onnx")
        assert body.content == weights
        assert body.headers["x-content-sha256"] == hashlib.sha256(weights).hexdigest()


def test_errors_are_problem_json_with_the_request_id(
    live_server: LiveServer, make_key: KeyFactory
) -> None:
    headers = {**bearer(make_key("registry:read")), "X-Request-Id": "trace-123"}
    with httpx.Client(base_url=live_server.url, headers=headers) as http:
        response = http.get("/api/v1/models/ghost")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "trace-123"
    problem = response.json()
    assert problem["type"] == "urn:mlgate:problem:not-found"
    assert problem["request_id"] == "trace-123"
    assert problem["instance"] == "/api/v1/models/ghost"
    assert "mlgate models create ghost" in problem["detail"]


def test_oversized_body_is_refused_before_it_is_read(
    live_server: LiveServer, make_key: KeyFactory
) -> None:
    headers = bearer(make_key("registry:write"))
    with httpx.Client(base_url=live_server.url, headers=headers) as http:
        http.post("/api/v1/models", json={"name": "big"})
        response = http.post(
            "/api/v1/models/big/versions",
            content=b"x" * (2 * 1024 * 1024),
            headers={"content-type": "multipart/form-data; boundary=zzz"},
        )
    assert response.status_code == 413
    assert response.json()["type"] == "urn:mlgate:problem:payload-too-large"
