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


def set_secrets(runtime: Runtime, *teams: str) -> None:
    keys = PrivacyKeys(runtime)
    try:
        with runtime.db.unit_of_work() as session:
            for team in teams:
                privacy.set_secret(
                    session,
                    cipher=keys.cipher,
                    name=team,
                    secret_in=SecretSet(value=SecretStr(f"token-of-{team}-0123456789")),
                    actor=world.REQUESTER,
                )
    finally:
        keys.close()


def test_two_routes_to_one_version_on_one_server_each_send_their_own_secret(
    runtime: Runtime, make_key: KeyFactory
) -> None:
    set_secrets(runtime, "team-a", "team-b")
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


def test_a_route_whose_url_spells_another_routes_secret_does_not_get_it(
    runtime: Runtime, make_key: KeyFactory
) -> None:
    """Target names join their parts with '+': free text in a part must not forge another."""
    set_secrets(runtime, "team-b")
    key = make_key("gateway:invoke")
    with FaultyUpstream() as upstream:
        world.served_model(runtime, "echo", b"served elsewhere", framework="http", schema=None)
        routes = {
            "team-b": {"url": f"{upstream.url}/x", "secret": "team-b"},
            "look-alike": {"url": f"{upstream.url}/x+secret:team-b"},  # no secret of its own
        }
        for name, upstream_spec in routes.items():
            target = {"model": "echo", "upstream": upstream_spec}
            world.create_route(runtime, name=name, model="echo", primary=target)
        with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
            sent = {}
            for name in ("look-alike", "team-b"):
                answer = client.post(
                    f"/v1/routes/{name}/predict", json={"inputs": [1]}, headers=bearer(key)
                )
                assert answer.status_code == 200, answer.text
                sent[name] = upstream.last_headers.get("authorization")
    assert sent == {"look-alike": None, "team-b": "Bearer token-of-team-b-0123456789"}
