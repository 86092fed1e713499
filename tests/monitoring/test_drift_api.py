"""The drift report over HTTP refuses rules it cannot apply, with a problem naming the field."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

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


def test_a_report_is_read_while_another_connection_holds_the_write_lock(
    client: TestClient, runtime: Runtime, make_key: KeyFactory, db_url: str
) -> None:
    """A report over weeks of rows takes seconds: it must not hold SQLite's write lock (which
    would stall the gateways' count flushes), nor wait for it; nor does checking a key used in
    the last minute."""
    if not db_url.startswith("sqlite"):
        pytest.skip("on PostgreSQL no transaction takes a write lock to read")
    world.upstream_route(runtime, "iris", "http://127.0.0.1:9/", model="iris")
    reader = bearer(make_key("routes:read"))
    assert client.get("/api/v1/routes/iris/drift", headers=reader).status_code == 200  # key used
    answers: list[int] = []
    answered = threading.Event()

    def ask() -> None:
        for path in ("drift", "drift.html"):
            answers.append(client.get(f"/api/v1/routes/iris/{path}", headers=reader).status_code)
        answered.set()

    with runtime.db.unit_of_work() as holder:
        holder.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: the write lock, until the block ends
        asker = threading.Thread(target=ask)
        asker.start()
        answered_in_time = answered.wait(10)  # a report waiting for the lock waits 30 s
    asker.join()
    assert answered_in_time
    assert answers == [200, 200]
