"""Routes that reach one model version on one server each get the upstream they were given."""

from __future__ import annotations

from fastapi.testclient import TestClient
from pydantic import SecretStr

from mlgate.app import create_app
from mlgate.privacy import service as privacy
from mlgate.privacy.keys import PrivacyKeys
from mlgate.privacy.schemas import SecretSet
from mlgate.runtime import Runtime
from tests.conftest import KeyFactory, bearer
from tests.faults.upstream import FaultyUpstream
from tests.integration import world


def test_two_routes_to_one_version_on_one_server_keep_their_own_protocols(
    runtime: Runtime, make_key: KeyFactory
) -> None:
    with FaultyUpstream() as upstream:
        world.upstream_route(runtime, "plain", upstream.url)
        world.create_route(
            runtime,
            name="scoring",
            model="echo",
            primary={"model": "echo", "upstream": {"url": upstream.url, "protocol": "mlflow"}},
        )
        key = make_key("gateway:invoke")
        with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
            for route in ("plain", "scoring"):
                answer = client.post(
                    f"/v1/routes/{route}/predict", json={"inputs": [1]}, headers=bearer(key)
                )
                assert answer.status_code == 200, answer.text
    assert upstream.received_on("/predict") == 1
    assert upstream.received_on("/invocations") == 1


def test_two_routes_to_one_version_on_one_server_each_send_their_own_secret(
    runtime: Runtime, make_key: KeyFactory
) -> None:
    keys = PrivacyKeys(runtime)
    try:
        with runtime.db.unit_of_work() as session:
            for team in ("team-a", "team-b"):
                privacy.set_secret(
                    session,
                    cipher=keys.cipher,
                    name=team,
                    secret_in=SecretSet(value=SecretStr(f"token-of-{team}-0123456789")),
                    actor=world.REQUESTER,
                )
    finally:
        keys.close()
    key = make_key("gateway:invoke")
    with FaultyUpstream() as upstream:
        world.served_model(runtime, "echo", b"served elsewhere", framework="http", schema=None)
        for team in ("team-a", "team-b"):
            upstream_spec = {"url": upstream.url, "secret": team}
            target = {"model": "echo", "upstream": upstream_spec}
            world.create_route(runtime, name=team, model="echo", primary=target)
        with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
            for team in ("team-a", "team-b"):
                answer = client.post(
                    f"/v1/routes/{team}/predict", json={"inputs": [1]}, headers=bearer(key)
                )
                assert answer.status_code == 200, answer.text
                sent = upstream.last_headers["authorization"]
                assert sent == f"Bearer token-of-{team}-0123456789"
