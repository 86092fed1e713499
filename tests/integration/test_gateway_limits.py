"""Rate limits over HTTP: the key's limit first, each refusal counted under the limit that fired;
and limits or subject headers the gateway could not honour are refused when a route is written."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from mlgate.app import create_app
from mlgate.runtime import Runtime
from tests.conftest import KeyFactory, bearer
from tests.faults.upstream import FaultyUpstream
from tests.integration import world

PREDICT = "/v1/routes/echo/predict"


@pytest.fixture
def upstream() -> Iterator[FaultyUpstream]:
    with FaultyUpstream() as started:
        yield started


def rate_limited(client: TestClient, key: str) -> dict[str, float]:
    """mlgate_gateway_rate_limited_total of route echo, by the label ``limit``."""
    text = client.get("/metrics", headers=bearer(key)).text
    counted = {}
    for limit in ("key", "route"):
        prefix = f'mlgate_gateway_rate_limited_total{{limit="{limit}",route="echo"}} '
        counted[limit] = sum(
            float(line.removeprefix(prefix))
            for line in text.splitlines()
            if line.startswith(prefix)
        )
    return counted


def test_a_request_its_keys_limit_refuses_leaves_the_routes_limit_to_other_keys(
    runtime: Runtime, upstream: FaultyUpstream, make_key: KeyFactory
) -> None:
    world.upstream_route(
        runtime, "echo", upstream.url, limits={"route_rate": "3/minute", "key_rate": "2/minute"}
    )
    noisy, quiet = make_key("gateway:invoke"), make_key("gateway:invoke")
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        answers = [
            client.post(PREDICT, json={"inputs": [i]}, headers=bearer(noisy)) for i in range(4)
        ]
        first = client.post(PREDICT, json={"inputs": [0]}, headers=bearer(quiet))
        second = client.post(PREDICT, json={"inputs": [0]}, headers=bearer(quiet))
        counted = rate_limited(client, make_key("metrics:read"))
    assert [a.status_code for a in answers] == [200, 200, 429, 429]
    assert all("this key's rate limit 2/minute" in a.json()["detail"] for a in answers[2:])
    assert first.status_code == 200  # before: 429, the noisy key had used up the route
    assert second.status_code == 429
    assert "the route's rate limit 3/minute" in second.json()["detail"]
    assert int(second.headers["retry-after"]) >= 1
    assert counted == {"key": 2.0, "route": 1.0}  # before: every 429 counted as limit="key"
    assert upstream.received == 3


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"limits": {"route_rate": "2/minute;1000/second"}}, "body.limits.route_rate"),
        ({"limits": {"key_rate": "2/minute,1000/second"}}, "body.limits.key_rate"),
        ({"subject_header": "X-Kunde-€"}, "body.subject_header"),
    ],
)
def test_a_route_the_gateway_could_not_honour_is_a_422_naming_the_field(
    runtime: Runtime, make_key: KeyFactory, change: dict[str, object], field: str
) -> None:
    world.served_model(runtime, "echo", b"served elsewhere", framework="http", schema=None)
    spec = {
        "name": "echo",
        "model": "echo",
        "primary": {"model": "echo", "upstream": {"url": "http://127.0.0.1:9"}},
        **change,
    }
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        response = client.post("/api/v1/routes", json=spec, headers=bearer(make_key("admin")))
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]
