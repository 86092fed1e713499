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


def test_a_reference_at_floats_limit_is_stored_and_read_back(
    client: TestClient, runtime: Runtime, make_key: KeyFactory
) -> None:
    world.register(runtime, "amounts", b"artifact", framework="http", schema=None)
    values = ["1e308", "-1e308"] * 50 + ["1" + "0" * 400]  # the last: an integer JSON allows
    body = '{"columns": ["amount"], "rows": [' + ", ".join(f"[{v}]" for v in values) + "]}"
    path = "/api/v1/models/amounts/versions/1/drift-reference"

    put = client.put(
        path,
        content=body,
        headers={**bearer(make_key("registry:write")), "Content-Type": "application/json"},
    )
    got = client.get(path, headers=bearer(make_key("registry:read")))

    assert put.status_code == 200, put.text
    assert got.status_code == 200, got.text
    (amount,) = got.json()["features"]
    assert amount["kind"] == "numeric"
    assert (amount["min"], amount["max"], amount["mean"]) == (-1e308, 1e308, 0.0)
    assert amount["reference"][-1] == 1  # the integer beyond float's range: missing
