"""The gateway serving an in-process ONNX model, on both databases, over the ASGI app."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
from fastapi.testclient import TestClient
from sqlalchemy import text

from mlgate.app import create_app
from mlgate.runtime import Runtime
from tests.conftest import KeyFactory, bearer
from tests.integration import world

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


def test_predict_matches_onnxruntime_and_says_what_served_it(
    gateway_client: TestClient, make_key: KeyFactory, iris_onnx: bytes
) -> None:
    key = make_key("gateway:invoke")
    response = gateway_client.post(
        "/v1/routes/iris/predict", json={"inputs": ROWS}, headers=bearer(key)
    )
    assert response.status_code == 200, response.text
    session = ort.InferenceSession(iris_onnx, providers=["CPUExecutionProvider"])
    labels, probabilities = session.run(None, {"X": np.asarray(ROWS, dtype=np.float32)})
    body = response.json()
    assert body["outputs"]["labels"] == labels.tolist()
    assert np.allclose(body["outputs"]["probabilities"], probabilities)
    assert response.headers["x-mlgate-model"] == "iris"
    assert response.headers["x-mlgate-version"] == "1"
    assert response.headers["x-mlgate-degraded"] == "false"
    assert response.headers["x-request-id"]


def test_inputs_are_validated_against_the_schema_before_any_backend(
    gateway_client: TestClient, make_key: KeyFactory
) -> None:
    key = make_key("gateway:invoke")
    response = gateway_client.post(
        "/v1/routes/iris/predict", json={"inputs": [[1, 2, "x", 4]]}, headers=bearer(key)
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["errors"][0]["field"] == "inputs.0.2"
    missing = gateway_client.post("/v1/routes/iris/predict", json={"rows": []}, headers=bearer(key))
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "inputs"


def refresh(client: TestClient) -> None:
    """Pick up control-plane changes now instead of at the next refresh tick."""
    client.portal.call(client.app.state.gateway.refresh)  # type: ignore[union-attr,attr-defined]


def test_keys_are_checked_without_sql(gateway_client: TestClient, make_key: KeyFactory) -> None:
    path, body = "/v1/routes/iris/predict", {"inputs": ROWS}
    assert gateway_client.post(path, json=body).status_code == 401
    assert gateway_client.post(path, json=body, headers=bearer("mlg_x")).status_code == 401
    reader = make_key("registry:read")
    elsewhere = make_key("gateway:invoke", allowed_routes=["other"])
    refresh(gateway_client)
    assert gateway_client.post(path, json=body, headers=bearer(reader)).status_code == 403
    refused = gateway_client.post(path, json=body, headers=bearer(elsewhere))
    assert refused.status_code == 403
    assert "may not call route 'iris'" in refused.json()["detail"]


def test_unknown_route_is_404(gateway_client: TestClient, make_key: KeyFactory) -> None:
    key = make_key("gateway:invoke")
    response = gateway_client.post(
        "/v1/routes/nope/predict", json={"inputs": ROWS}, headers=bearer(key)
    )
    assert response.status_code == 404


def test_request_logs_hold_metadata_only(
    gateway_client: TestClient, make_key: KeyFactory, runtime: Runtime
) -> None:
    key = make_key("gateway:invoke")
    marked = [[5.1, 3.518273, 1.4, 0.2]]  # an input value no time or id can contain
    for _ in range(3):
        gateway_client.post("/v1/routes/iris/predict", json={"inputs": marked}, headers=bearer(key))
    gateway = gateway_client.app.state.gateway  # type: ignore[attr-defined]
    gateway_client.portal.call(gateway.log.flush)  # type: ignore[union-attr]
    with runtime.db.engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM request_logs")).mappings().all()
    assert len(rows) == 3
    assert {row["outcome"] for row in rows} == {"ok"}
    assert {row["version"] for row in rows} == {1}
    dump = " ".join(str(v) for row in rows for k, v in row.items() if k != "latency_ms")
    assert "3.518273" not in dump
    assert key not in dump


def test_metrics_need_a_key_and_count_requests(
    gateway_client: TestClient, make_key: KeyFactory
) -> None:
    key = make_key("gateway:invoke")
    gateway_client.post("/v1/routes/iris/predict", json={"inputs": ROWS}, headers=bearer(key))
    assert gateway_client.get("/metrics").status_code == 401
    scraper = make_key("metrics:read")
    refresh(gateway_client)
    metrics = gateway_client.get("/metrics", headers=bearer(scraper))
    assert metrics.status_code == 200
    assert (
        'mlgate_gateway_requests_total{outcome="ok",route="iris",target="iris@1"} 1.0'
        in metrics.text
    )
    assert 'mlgate_gateway_breaker_state{target="iris@1"} 0.0' in metrics.text


def test_route_rate_limit_answers_429_with_retry_after(
    runtime: Runtime, iris_onnx: bytes, make_key: KeyFactory
) -> None:
    world.served_model(runtime, "iris", iris_onnx)
    world.create_route(runtime, name="limited", model="iris", limits={"route_rate": "3/minute"})
    key = make_key("gateway:invoke")
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        codes = [
            client.post("/v1/routes/limited/predict", json={"inputs": ROWS}, headers=bearer(key))
            for _ in range(4)
        ]
    assert [c.status_code for c in codes] == [200, 200, 200, 429]
    assert int(codes[-1].headers["retry-after"]) >= 1


def test_the_subject_can_come_from_a_json_path_and_is_stored_as_a_pseudonym(
    runtime: Runtime, iris_onnx: bytes, make_key: KeyFactory
) -> None:
    world.served_model(runtime, "iris", iris_onnx)
    world.create_route(runtime, name="iris", model="iris", subject_path="$.customer.id")
    key = make_key("gateway:invoke")
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        body = {"inputs": ROWS, "customer": {"id": "cust-42"}}
        assert (
            client.post("/v1/routes/iris/predict", json=body, headers=bearer(key)).status_code
            == 200
        )
        gateway = client.app.state.gateway  # type: ignore[attr-defined]
        client.portal.call(gateway.log.flush)  # type: ignore[union-attr]
    with runtime.db.engine.connect() as connection:
        subjects = connection.execute(text("SELECT subject FROM request_logs")).scalars().all()
    assert len(subjects) == 1
    assert subjects[0] is not None
    assert "cust-42" not in subjects[0]


def test_a_bad_subject_path_is_refused_naming_the_field(
    runtime: Runtime, iris_onnx: bytes, make_key: KeyFactory
) -> None:
    world.served_model(runtime, "iris", iris_onnx)
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        response = client.post(
            "/api/v1/routes",
            json={"name": "iris", "model": "iris", "subject_path": "customer..id"},
            headers=bearer(make_key("routes:write")),
        )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "subject_path"


def test_a_route_patch_null_restores_the_default_and_an_invalid_result_is_422(
    gateway_client: TestClient, make_key: KeyFactory
) -> None:
    writer = bearer(make_key("routes:write"))
    changed = gateway_client.patch(
        "/api/v1/routes/iris",
        json={"retention_days": 7, "limits": {"route_rate": "5/second"}},
        headers=writer,
    )
    assert changed.status_code == 200, changed.text
    reset = gateway_client.patch(
        "/api/v1/routes/iris", json={"retention_days": None, "limits": None}, headers=writer
    )
    assert reset.status_code == 200, reset.text
    assert reset.json()["retention_days"] == 30
    assert reset.json()["limits"]["route_rate"] is None
    # Valid as a change, not as a route (at most 10 fallbacks): refused, the route unchanged.
    eleven = [{"model": "iris"}] * 11
    refused = gateway_client.patch(
        "/api/v1/routes/iris", json={"fallbacks": eleven}, headers=writer
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "fallbacks"
    shown = gateway_client.get("/api/v1/routes/iris", headers=bearer(make_key("routes:read")))
    assert shown.json()["fallbacks"] == []


def test_chat_on_a_route_without_an_openai_upstream_is_422_naming_the_model(
    gateway_client: TestClient, make_key: KeyFactory
) -> None:
    key = make_key("gateway:invoke")
    gateway_client.portal.call(gateway_client.app.state.gateway.refresh)  # type: ignore[attr-defined]
    response = gateway_client.post(
        "/v1/chat/completions",
        json={"model": "iris", "messages": [{"role": "user", "content": "hi"}]},
        headers=bearer(key),
    )
    assert response.status_code == 422, response.text  # was a 503: retrying never helps
    assert response.json()["errors"][0]["field"] == "model"
    assert "/v1/routes/iris/predict" in response.json()["detail"]
