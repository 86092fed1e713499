"""The drift report over HTTP refuses rules it cannot apply, with a problem naming the field."""

from __future__ import annotations

from fastapi.testclient import TestClient

from mlgate.runtime import Runtime
from tests.conftest import KeyFactory, bearer
from tests.integration import world


def test_an_infinite_threshold_is_refused(
    client: TestClient, runtime: Runtime, make_key: KeyFactory
) -> None:
    world.upstream_route(runtime, "iris", "http://127.0.0.1:9/", model="iris")
    reader = bearer(make_key("routes:read"))

    for path, threshold in (("drift", "inf"), ("drift.html", "1e999")):
        answer = client.get(
            f"/api/v1/routes/iris/{path}", params={"threshold": threshold}, headers=reader
        )
        assert answer.status_code == 422, (path, answer.text)
        assert answer.json()["errors"][0]["field"] == "threshold"
