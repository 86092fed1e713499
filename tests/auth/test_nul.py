"""Text with a NUL character, which PostgreSQL cannot store or compare: a 4xx, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import KeyFactory, bearer
from tests.registry.conftest import upload

NUL = "a\x00b"
REQUESTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/v1/models/a%00b", None),
    ("GET", "/api/v1/models?owner=a%00b", None),
    ("PATCH", "/api/v1/models/churn", {"owner": NUL}),
    ("POST", "/api/v1/models", {"name": "m2", "description": NUL}),
    ("GET", "/api/v1/keys/a%00b", None),
    ("POST", "/api/v1/keys", {"name": "k", "owner": NUL, "scopes": ["registry:read"]}),
    ("GET", "/api/v1/reviews/a%00b", None),
    ("GET", "/api/v1/reviews?model=a%00b", None),
    ("POST", "/api/v1/reviews", {"model": "churn", "version": 1, "comment": NUL}),
    ("GET", "/api/v1/deployments/churn/aliases/a%00b", None),
    ("POST", "/api/v1/webhooks", {"url": "https://hooks.example.com/x", "description": NUL}),
    ("DELETE", "/api/v1/webhooks/a%00b", None),
]


@pytest.mark.parametrize(
    ("method", "url", "body"), REQUESTS, ids=[f"{m} {u}" for m, u, _ in REQUESTS]
)
def test_nul_in_a_request_is_a_client_error(
    client: TestClient,
    make_key: KeyFactory,
    method: str,
    url: str,
    body: dict[str, Any] | None,
) -> None:
    admin = bearer(make_key("admin"))
    assert client.post("/api/v1/models", json={"name": "churn"}, headers=admin).status_code == 201
    assert upload(client, admin, "churn", [("model.bin", b"x")]).status_code == 201
    answer = client.request(method, url, json=body, headers=admin)
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        assert answer.headers["content-type"] == "application/problem+json"


def test_nul_in_version_metadata_is_a_client_error(
    client: TestClient, make_key: KeyFactory
) -> None:
    admin = bearer(make_key("admin"))
    assert client.post("/api/v1/models", json={"name": "churn"}, headers=admin).status_code == 201
    answer = upload(client, admin, "churn", [("model.bin", b"x")], {"description": NUL})
    assert answer.status_code < 500, answer.text
