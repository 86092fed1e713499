"""Incidents over HTTP: scopes, the whole lifecycle, and postmortem rendering."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import KeyFactory, bearer


def test_incident_lifecycle_over_http(client: TestClient, make_key: KeyFactory) -> None:
    reader = bearer(make_key("incidents:read"))
    writer = bearer(make_key("incidents:write", owner="sre"))
    body = {"title": "5xx on churn", "severity": "SEV2", "affected_routes": ["churn"]}
    assert client.post("/api/v1/incidents", json=body, headers=reader).status_code == 403
    assert client.get("/api/v1/incidents").status_code == 401
    created = client.post("/api/v1/incidents", json=body, headers=writer)
    assert created.status_code == 201, created.text
    number = created.json()["number"]
    runbook = {"name": "churn", "title": "Churn", "body": "# Restart", "routes": ["churn"]}
    assert (
        client.put("/api/v1/incidents/runbooks/churn", json=runbook, headers=writer).status_code
        == 200
    )
    shown = client.get(f"/api/v1/incidents/INC-{number}", headers=reader).json()
    assert shown["commander"] == "sre"
    assert [r["name"] for r in shown["runbooks"]] == ["churn"]
    assert (
        client.post(
            f"/api/v1/incidents/{number}/handover", json={"to": "amy"}, headers=writer
        ).status_code
        == 200
    )
    task = client.post(
        f"/api/v1/incidents/{number}/tasks", json={"title": "fix", "owner": "amy"}, headers=writer
    )
    assert task.status_code == 201
    assert (
        client.patch(
            f"/api/v1/incidents/{number}",
            json={"status": "stable", "user_impact": True},
            headers=writer,
        ).status_code
        == 200
    )
    refused = client.post(f"/api/v1/incidents/{number}/close", json={}, headers=writer)
    assert refused.status_code == 409
    assert refused.json()["type"].endswith(":conflict")
    fields = {"summary": "s", "root_causes": "r", "resolution": "rolled back"}
    assert (
        client.put(
            f"/api/v1/incidents/{number}/postmortem", json=fields, headers=writer
        ).status_code
        == 200
    )
    closed = client.post(f"/api/v1/incidents/{number}/close", json={"note": "done"}, headers=writer)
    assert closed.status_code == 200
    assert closed.json()["status"] == "closed"
    html = client.get(f"/api/v1/incidents/{number}/postmortem?format=html", headers=reader)
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    assert "rolled back" in html.text
    md = client.get(f"/api/v1/incidents/{number}/postmortem?format=markdown", headers=reader)
    assert md.text.startswith(f"# Postmortem: INC-{number}")
    listed = client.get("/api/v1/incidents?open=true", headers=reader).json()
    assert listed == []
    assert client.get("/api/v1/incidents/999", headers=reader).status_code == 404
