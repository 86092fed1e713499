"""The audit log over HTTP: verify against a head recorded earlier, outside the store."""

from __future__ import annotations

from fastapi.testclient import TestClient

from mlgate.runtime import Runtime
from tests.audit.tampering import cut_off_the_end
from tests.conftest import KeyFactory, bearer


def test_verify_finds_entries_cut_off_the_end_given_the_head_recorded_earlier(
    client: TestClient, make_key: KeyFactory, runtime: Runtime
) -> None:
    for _ in range(3):
        make_key("registry:read")  # each key issued is an audit entry
    key = make_key("audit:read")
    recorded = client.get("/api/v1/audit/verify", headers=bearer(key)).json()
    assert recorded["ok"]
    keep = recorded["head_seq"] - 2
    cut_off_the_end(runtime.db, keep=keep)

    alone = client.get("/api/v1/audit/verify", headers=bearer(key)).json()
    assert alone["ok"]  # the chain alone cannot tell
    against = client.get(
        "/api/v1/audit/verify",
        params={"seq": recorded["head_seq"], "hash": recorded["head_hash"]},
        headers=bearer(key),
    ).json()
    assert against["ok"] is False
    assert against["first_broken_seq"] == keep + 1
    assert "cut off" in against["reason"]


def test_verify_wants_both_parts_of_a_recorded_head(
    client: TestClient, make_key: KeyFactory
) -> None:
    key = make_key("audit:read")
    for params in ({"seq": 1}, {"hash": "a" * 64}, {"seq": 1, "hash": "not-a-hash"}):
        answer = client.get("/api/v1/audit/verify", params=params, headers=bearer(key))
        assert answer.status_code == 422, params
        assert answer.headers["content-type"] == "application/problem+json"
