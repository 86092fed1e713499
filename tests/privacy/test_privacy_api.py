"""/api/v1/privacy and /api/v1/secrets over HTTP: privacy:admin scope, problem+json, no values."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import KeyFactory, bearer

VALUE = "model-server-token-" + "z" * 20


def test_secrets_api_stores_lists_and_deletes_without_showing_values(
    client: TestClient, make_key: KeyFactory
) -> None:
    key = make_key("privacy:admin")
    stored = client.put("/api/v1/secrets/llm", json={"value": VALUE}, headers=bearer(key))
    assert stored.status_code == 200
    assert VALUE not in stored.text
    assert stored.json()["name"] == "llm"
    shown = client.get("/api/v1/secrets/llm", headers=bearer(key))
    assert VALUE not in shown.text
    assert client.delete("/api/v1/secrets/llm", headers=bearer(key)).status_code == 200
    missing = client.get("/api/v1/secrets/llm", headers=bearer(key))
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


def test_admin_implies_privacy_admin_and_other_scopes_are_refused(
    client: TestClient, make_key: KeyFactory
) -> None:
    admin = make_key("admin")
    assert client.get("/api/v1/privacy/holds", headers=bearer(admin)).status_code == 200
    other = make_key("routes:write")
    refused = client.get("/api/v1/privacy/holds", headers=bearer(other))
    assert refused.status_code == 403


def test_holds_purge_and_subject_requests_over_http(
    client: TestClient, make_key: KeyFactory
) -> None:
    key = make_key("privacy:admin")
    held = client.post(
        "/api/v1/privacy/holds",
        json={"kind": "subject", "target": "erin@example.com", "reason": "case 9"},
        headers=bearer(key),
    )
    assert held.status_code == 201
    assert "erin" not in held.text
    blocked = client.post(
        "/api/v1/privacy/subjects/erase",
        json={"subject": "erin@example.com", "confirm": "erin@example.com"},
        headers=bearer(key),
    )
    assert blocked.status_code == 409
    assert blocked.json()["type"] == "urn:mlgate:problem:conflict"
    unconfirmed = client.post(
        "/api/v1/privacy/subjects/erase",
        json={"subject": "frank", "confirm": "frnak"},
        headers=bearer(key),
    )
    assert unconfirmed.status_code == 422
    erased = client.post(
        "/api/v1/privacy/subjects/erase",
        json={"subject": "frank", "confirm": "frank", "dry_run": True},
        headers=bearer(key),
    )
    assert erased.status_code == 200
    assert erased.json()["dry_run"] is True
    exported = client.post(
        "/api/v1/privacy/subjects/export", json={"subject": "frank"}, headers=bearer(key)
    )
    assert exported.json()["records"] == []
    assert (
        client.delete(f"/api/v1/privacy/holds/{held.json()['id']}", headers=bearer(key)).status_code
        == 200
    )
    purged = client.post("/api/v1/privacy/purge?dry_run=true", headers=bearer(key))
    assert purged.status_code == 200
    assert purged.json()["dry_run"] is True


def test_a_blank_subject_is_refused_naming_the_field(
    client: TestClient, make_key: KeyFactory
) -> None:
    key = make_key("privacy:admin")
    for path, body in [
        ("/api/v1/privacy/subjects/erase", {"subject": " ", "confirm": " "}),
        ("/api/v1/privacy/subjects/export", {"subject": "\t"}),
        ("/api/v1/privacy/holds", {"kind": "subject", "target": "  ", "reason": "case 9"}),
    ]:
        answer = client.post(path, json=body, headers=bearer(key))
        assert answer.status_code == 422, (path, answer.text)
        assert answer.json()["errors"][0]["field"] in ("subject", "target")
