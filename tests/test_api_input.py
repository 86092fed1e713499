"""Odd input anywhere in the API is a 4xx problem that names what is wrong, never a 500.

Each case here was a 500 once, found by fuzzing the OpenAPI document with schemathesis.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from mlgate.ids import MAX_NUMBER
from tests.conftest import KeyFactory, bearer

TOO_BIG = str(MAX_NUMBER + 1)


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("GET", f"/api/v1/models/churn/versions/{TOO_BIG}", "path.version"),
        ("POST", f"/api/v1/readiness/models/churn/versions/{'9' * 30}/assessments", "path.version"),
        ("GET", f"/api/v1/cards/churn/1/diff?to_revision={TOO_BIG}", "query.to_revision"),
        ("GET", f"/api/v1/audit?after_seq={'9' * 30}", "query.after_seq"),
        ("GET", f"/api/v1/models?offset={TOO_BIG}", "query.offset"),
    ],
)
def test_a_number_past_what_the_store_holds_is_422_naming_it(
    client: TestClient, make_key: KeyFactory, method: str, path: str, field: str
) -> None:
    key = make_key("admin")
    response = client.request(method, path, headers=bearer(key))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field]


@pytest.mark.parametrize("ref", ["²", "٣", "9" * 30])
def test_an_incident_ref_that_only_looks_like_a_number_is_404(
    client: TestClient, make_key: KeyFactory, ref: str
) -> None:
    response = client.post(
        f"/api/v1/incidents/{ref}/close", json={}, headers=bearer(make_key("incidents:write"))
    )
    assert response.status_code == 404, response.text
    assert response.json()["type"] == "urn:mlgate:problem:not-found"


def test_a_pinned_target_version_past_the_store_is_422_naming_it(
    client: TestClient, make_key: KeyFactory
) -> None:
    response = client.post(
        "/api/v1/routes",
        json={"name": "r", "model": "m", "primary": {"model": "m", "version": int(TOO_BIG)}},
        headers=bearer(make_key("routes:write")),
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["body.primary.version"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/api/v1/models", "GET, POST"),
        ("PUT", "/api/v1/models/churn/versions/1/artifacts/m.bin", "GET, HEAD"),
        ("POST", "/api/v1/routes/r", "DELETE, GET, PATCH"),
    ],
)
def test_a_405_names_every_method_served_at_the_path(
    client: TestClient, make_key: KeyFactory, method: str, path: str, allowed: str
) -> None:
    response = client.request(method, path, headers=bearer(make_key("admin")))
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allowed
    assert response.headers["content-type"] == "application/problem+json"
