"""Keys used on the gateway show when they were last used; the hot path writes no SQL."""

from __future__ import annotations

from fastapi.testclient import TestClient

from mlgate.app import create_app
from mlgate.runtime import Runtime
from tests.conftest import KeyFactory, bearer
from tests.faults.upstream import FaultyUpstream
from tests.integration import world


def test_a_key_used_on_the_gateway_gets_its_last_used_time(
    runtime: Runtime, make_key: KeyFactory
) -> None:
    admin, used, idle = make_key("admin"), make_key("gateway:invoke"), make_key("gateway:invoke")
    with FaultyUpstream() as upstream:
        world.upstream_route(runtime, "echo", upstream.url)
        with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
            for _ in range(3):
                answer = client.post(
                    "/v1/routes/echo/predict", json={"inputs": [1]}, headers=bearer(used)
                )
                assert answer.status_code == 200
            gateway = client.app.state.gateway  # type: ignore[attr-defined]
            client.portal.call(gateway.report_key_use)  # what the refresher does every second
            keys = {
                k["lookup"]: k for k in client.get("/api/v1/keys", headers=bearer(admin)).json()
            }
    assert keys[used[4:12]]["last_used_at"] is not None
    assert keys[idle[4:12]]["last_used_at"] is None
