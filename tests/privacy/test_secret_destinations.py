"""Where a stored secret goes is decided by whoever owns the secrets, not by route writers.

The gateway sends a target's secret to its upstream as a bearer token, so pointing a route at
one's own server would read the secret. A review found that a key with only routes:write could.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from mlgate.auth.schemas import Principal
from mlgate.gateway.schemas import public_url
from mlgate.privacy import service
from mlgate.privacy.keys import PrivacyKeys
from mlgate.privacy.schemas import SecretSet
from mlgate.runtime import Runtime
from tests.conftest import KeyFactory, bearer
from tests.integration import world

TRUSTED = "http://127.0.0.1:9/llm"
ELSEWHERE = "http://127.0.0.1:8/collect"


@pytest.fixture
def served(runtime: Runtime, keys: PrivacyKeys, admin: Principal) -> None:
    world.served_model(runtime, "llm", b"served elsewhere", framework="http", schema=None)
    with runtime.db.unit_of_work() as session:
        service.set_secret(
            session,
            cipher=keys.cipher,
            name="llm-token",
            secret_in=SecretSet(value=SecretStr("t" * 32)),
            actor=admin,
        )


def _route(url: str, secret: str | None = "llm-token", **extra: Any) -> dict[str, Any]:
    upstream = {"url": url} | ({"secret": secret} if secret else {})
    return {
        "name": "chat",
        "model": "llm",
        "primary": {"model": "llm", "upstream": upstream},
    } | extra


@pytest.mark.usefixtures("served")
def test_only_privacy_admin_may_send_a_secret_to_an_upstream(
    client: TestClient, make_key: KeyFactory
) -> None:
    writer = bearer(make_key("routes:write"))
    refused = client.post("/api/v1/routes", json=_route(ELSEWHERE), headers=writer)
    assert refused.status_code == 403, refused.text
    assert "privacy:admin" in refused.json()["detail"]
    assert client.get("/api/v1/routes/chat", headers=writer).status_code == 404  # nothing written

    owner = bearer(make_key("routes:write", "privacy:admin"))
    assert client.post("/api/v1/routes", json=_route(TRUSTED), headers=owner).status_code == 201


@pytest.mark.usefixtures("served")
def test_a_route_writer_keeps_a_secret_where_it_goes_but_cannot_move_it(
    client: TestClient, make_key: KeyFactory
) -> None:
    owner = bearer(make_key("routes:write", "privacy:admin"))
    assert client.post("/api/v1/routes", json=_route(TRUSTED), headers=owner).status_code == 201
    writer = bearer(make_key("routes:write"))
    tuned = client.patch(
        "/api/v1/routes/chat", json={"resilience": {"deadline_ms": 900}}, headers=writer
    )
    assert tuned.status_code == 200, tuned.text
    for moved in (
        {"fallbacks": [_route(ELSEWHERE)["primary"]]},
        {"canary": {"target": _route(ELSEWHERE)["primary"], "percent": 1}},
    ):
        answer = client.patch("/api/v1/routes/chat", json=moved, headers=writer)
        assert answer.status_code == 403, (moved, answer.text)
    route = client.get("/api/v1/routes/chat", headers=writer).json()
    assert (route["fallbacks"], route["canary"]) == ([], None)  # nothing written
    unsecret = _route(ELSEWHERE, secret=None)["primary"]
    dropped = client.patch("/api/v1/routes/chat", json={"fallbacks": [unsecret]}, headers=writer)
    assert dropped.status_code == 200, dropped.text


@pytest.mark.usefixtures("served")
def test_credentials_in_an_upstream_url_are_refused_naming_the_field(
    client: TestClient, make_key: KeyFactory
) -> None:
    owner = bearer(make_key("routes:write", "privacy:admin"))
    answer = client.post(
        "/api/v1/routes", json=_route("http://svc:pa55@127.0.0.1:9/llm", None), headers=owner
    )
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["body.primary.upstream.url"]


def test_a_query_is_shown_as_a_digest_that_keeps_urls_apart() -> None:
    shown = public_url("https://llm.internal:8443/v1?api_key=topsecret123")
    assert shown.startswith("https://llm.internal:8443/v1?")
    assert "topsecret" not in shown
    assert shown != public_url("https://llm.internal:8443/v1?api_key=other")
    assert public_url("https://llm.internal/v1") == "https://llm.internal/v1"


@pytest.mark.usefixtures("served")
def test_readyz_and_metrics_never_show_a_query_token(
    client: TestClient, make_key: KeyFactory, runtime: Runtime
) -> None:
    owner = bearer(make_key("routes:write", "privacy:admin"))
    route = _route("http://127.0.0.1:9/llm?api_key=topsecret123", None)
    assert client.post("/api/v1/routes", json=route, headers=owner).status_code == 201
    client.portal.call(client.app.state.gateway.refresh)  # type: ignore[attr-defined]
    app_key = make_key("gateway:invoke")
    client.post("/v1/routes/chat/predict", json={"inputs": [1]}, headers=bearer(app_key))
    ready = client.get("/readyz").text
    assert "127.0.0.1:9/llm?" in ready
    assert "topsecret" not in ready
    metrics = client.get("/metrics", headers=bearer(make_key("admin"))).text
    assert "127.0.0.1:9/llm?" in metrics
    assert "topsecret" not in metrics
