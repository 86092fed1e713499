"""The client endpoints keep the API's contract although they are served before FastAPI."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from mlgate.app import create_app
from mlgate.auth.keys import generate_key
from mlgate.runtime import Runtime
from tests.conftest import KeyFactory, bearer
from tests.faults.upstream import FaultyUpstream
from tests.integration import world

PREDICT = "/v1/routes/echo/predict"


@pytest.fixture
def gateway(runtime: Runtime) -> Iterator[tuple[TestClient, FaultyUpstream]]:
    with FaultyUpstream() as upstream:
        world.upstream_route(runtime, "echo", upstream.url, limits={"max_body_bytes": 1024})
        with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
            yield client, upstream


def test_an_answer_carries_a_new_request_id_or_the_callers_safe_one(
    gateway: tuple[TestClient, FaultyUpstream], make_key: KeyFactory
) -> None:
    client, _ = gateway
    key = make_key("gateway:invoke")
    fresh = client.post(PREDICT, json={"inputs": [1]}, headers=bearer(key))
    assert fresh.status_code == 200
    assert len(fresh.headers["x-request-id"]) == 26
    mine = client.post(
        PREDICT, json={"inputs": [1]}, headers={**bearer(key), "X-Request-Id": "trace-42"}
    )
    assert mine.headers["x-request-id"] == "trace-42"
    unsafe = client.post(
        PREDICT, json={"inputs": [1]}, headers={**bearer(key), "X-Request-Id": "a b<c>"}
    )
    assert unsafe.headers["x-request-id"] != "a b<c>"


def test_other_methods_get_a_405_problem_naming_post(
    gateway: tuple[TestClient, FaultyUpstream], make_key: KeyFactory
) -> None:
    client, upstream = gateway
    response = client.get(PREDICT, headers=bearer(make_key("gateway:invoke")))
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:mlgate:problem:http-405"
    assert upstream.received == 0


def test_a_body_over_the_routes_limit_is_a_413_and_never_reaches_the_model(
    gateway: tuple[TestClient, FaultyUpstream], make_key: KeyFactory
) -> None:
    client, upstream = gateway
    key = make_key("gateway:invoke")
    declared = client.post(PREDICT, json={"inputs": ["x" * 2000]}, headers=bearer(key))

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"inputs": ["'
        for _ in range(20):
            yield b"y" * 100
        yield b'"]}'

    streamed = client.post(
        PREDICT, content=chunks(), headers={**bearer(key), "Content-Type": "application/json"}
    )
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json()["type"] == "urn:mlgate:problem:payload-too-large"
        assert response.headers["x-request-id"]
    assert upstream.received == 0


def test_a_chat_body_over_its_routes_limit_is_a_413_once_the_body_names_the_route(
    gateway: tuple[TestClient, FaultyUpstream], make_key: KeyFactory
) -> None:
    client, upstream = gateway
    key = make_key("gateway:invoke")
    chat = {"model": "echo", "messages": [{"role": "user", "content": "x" * 2000}]}
    over = client.post("/v1/chat/completions", json=chat, headers=bearer(key))
    assert over.status_code == 413, over.text  # the route's 1,024 bytes, not the default 10 MiB
    assert over.json()["type"] == "urn:mlgate:problem:payload-too-large"
    chat["messages"] = [{"role": "user", "content": "x"}]
    within = client.post("/v1/chat/completions", json=chat, headers=bearer(key))
    assert within.status_code == 422  # read and routed: echo has no OpenAI-compatible upstream
    assert upstream.received == 0


def test_a_body_that_is_not_json_is_a_422_naming_the_body(
    gateway: tuple[TestClient, FaultyUpstream], make_key: KeyFactory
) -> None:
    client, upstream = gateway
    response = client.post(
        PREDICT,
        content=b"{not json",
        headers={**bearer(make_key("gateway:invoke")), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body"
    assert upstream.received == 0


@pytest.mark.parametrize("parameters", ["abc", 5, [["a", 1]], [], True])
def test_parameters_that_are_not_an_object_are_a_422_naming_them(
    gateway: tuple[TestClient, FaultyUpstream], make_key: KeyFactory, parameters: object
) -> None:
    client, upstream = gateway
    response = client.post(
        PREDICT,
        json={"inputs": [1], "parameters": parameters},
        headers=bearer(make_key("gateway:invoke")),
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["parameters"]
    assert upstream.received == 0


def test_a_missing_key_is_refused_before_the_body_is_read(
    gateway: tuple[TestClient, FaultyUpstream],
) -> None:
    client, upstream = gateway
    response = client.post(PREDICT, content=b"{not json")
    assert response.status_code == 401
    assert response.json()["type"] == "urn:mlgate:problem:unauthorized"
    assert upstream.received == 0


def test_a_refused_key_is_told_whether_it_is_malformed_or_unknown(
    gateway: tuple[TestClient, FaultyUpstream], make_key: KeyFactory
) -> None:
    client, upstream = gateway
    key = make_key("gateway:invoke")
    body, checksum = key.rsplit("_", 1)
    typo = f"{body[:-1]}{'b' if body[-1] == 'a' else 'a'}_{checksum}"  # checksum now wrong
    presented = {
        "typo": typo,
        "garbage": "not-a-key",
        "longer": key + "x",
        "unknown": generate_key().value,  # well formed, issued by nobody
    }
    details = {}
    for name, value in presented.items():
        response = client.post(PREDICT, json={"inputs": [1]}, headers=bearer(value))
        assert response.status_code == 401, name
        details[name] = response.json()["detail"]
    for name in ("typo", "garbage", "longer"):
        assert "malformed" in details[name], details
    assert "not known" in details["unknown"]
    assert client.post(PREDICT, json={"inputs": [1]}, headers=bearer(key)).status_code == 200
    assert upstream.received == 1


def test_paths_that_only_look_like_client_endpoints_go_to_the_api(
    gateway: tuple[TestClient, FaultyUpstream], make_key: KeyFactory
) -> None:
    client, _ = gateway
    key = make_key("gateway:invoke")
    for path in ("/v1/routes//predict", "/v1/routes/a/b/predict", "/v1/routes/echo/predictx"):
        response = client.post(path, json={"inputs": [1]}, headers=bearer(key))
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"


def test_the_openapi_document_describes_the_client_endpoints(
    gateway: tuple[TestClient, FaultyUpstream],
) -> None:
    client, _ = gateway
    spec = client.get("/openapi.json").json()
    predict = spec["paths"]["/v1/routes/{route}/predict"]["post"]
    body = predict["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body == "#/components/schemas/PredictRequest"
    assert "inputs" in spec["components"]["schemas"]["PredictRequest"]["required"]
    assert {"200", "401", "403", "422", "503"} <= set(predict["responses"])
    chat = spec["paths"]["/v1/chat/completions"]["post"]
    assert "text/event-stream" in chat["responses"]["200"]["content"]


def test_the_request_log_carries_the_request_id_the_caller_saw(
    gateway: tuple[TestClient, FaultyUpstream], make_key: KeyFactory, runtime: Runtime
) -> None:
    client, _ = gateway
    headers = {**bearer(make_key("gateway:invoke")), "X-Request-Id": "trace-77"}
    answer = client.post(PREDICT, json={"inputs": [1]}, headers=headers)
    assert answer.headers["x-request-id"] == "trace-77"
    client.portal.call(client.app.state.gateway.log.flush)  # type: ignore[attr-defined]
    with runtime.db.engine.connect() as connection:
        logged = connection.execute(text("SELECT request_id FROM request_logs")).scalars().all()
    assert logged == ["trace-77"]


def test_inputs_nested_too_deep_for_the_upstream_protocol_are_a_422_not_a_500(
    runtime: Runtime, make_key: KeyFactory
) -> None:
    with FaultyUpstream() as upstream:
        target = {"model": "echo", "upstream": {"url": upstream.url, "protocol": "kserve"}}
        world.served_model(runtime, "echo", b"served elsewhere", framework="http", schema=None)
        world.create_route(runtime, name="kserve", model="echo", primary=target)
        deep = b'{"inputs": ' + b"[" * 1020 + b"]" * 1020 + b"}"  # within orjson's limit
        with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
            response = client.post(
                "/v1/routes/kserve/predict",
                content=deep,
                headers={**bearer(make_key("gateway:invoke")), "Content-Type": "application/json"},
            )
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["inputs"]
    assert upstream.received == 0
