"""API keys over HTTP: rotation's limits are a 409 or a 422 that says why, never a 500."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from mlgate.auth.models import ApiKey
from mlgate.auth.schemas import MAX_GRACE_SECONDS
from mlgate.clock import utcnow
from mlgate.runtime import Runtime
from tests.conftest import KeyFactory, bearer


def _new_key(client: TestClient, admin: dict[str, str]) -> str:
    body = {"name": "ci", "owner": "bob", "scopes": ["registry:read"]}
    created = client.post("/api/v1/keys", json=body, headers=admin)
    assert created.status_code == 201, created.text
    key_id: str = created.json()["id"]
    return key_id


@pytest.mark.parametrize("grace", [MAX_GRACE_SECONDS + 1, 10**12])
def test_a_grace_period_beyond_ten_years_is_422_naming_the_field(
    client: TestClient, make_key: KeyFactory, grace: int
) -> None:
    # 10**12 seconds overflowed the date arithmetic: a 500.
    admin = bearer(make_key("admin"))
    key_id = _new_key(client, admin)
    response = client.post(
        f"/api/v1/keys/{key_id}/rotate", json={"grace_seconds": grace}, headers=admin
    )
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["body.grace_seconds"]
    longest = client.post(
        f"/api/v1/keys/{key_id}/rotate", json={"grace_seconds": MAX_GRACE_SECONDS}, headers=admin
    )
    assert longest.status_code == 201, longest.text


def test_rotating_an_expired_key_is_409_saying_how_to_get_a_new_one(
    client: TestClient, make_key: KeyFactory, runtime: Runtime
) -> None:
    admin = bearer(make_key("admin"))
    key_id = _new_key(client, admin)
    with runtime.db.unit_of_work() as session:  # expired a second ago, without waiting for it
        row = session.get(ApiKey, key_id)
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
    response = client.post(f"/api/v1/keys/{key_id}/rotate", json={}, headers=admin)
    assert response.status_code == 409, response.text
    problem = response.json()
    assert problem["type"] == "urn:mlgate:problem:conflict"
    assert "expired" in problem["detail"]
    assert "`mlgate keys create`" in problem["detail"]
    listed = client.get("/api/v1/keys", headers=admin).json()
    assert [k["id"] for k in listed if k["owner"] == "bob"] == [key_id]  # no successor issued
