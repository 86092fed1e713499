"""Incidents over HTTP: scopes, the whole lifecycle, and postmortem rendering."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from mlgate.app import create_app
from mlgate.auth.schemas import Principal
from mlgate.clock import utcnow
from mlgate.config import Settings
from mlgate.ids import NAME_RULE
from mlgate.incidents import service
from mlgate.incidents.schemas import IncidentCreate, Severity
from mlgate.runtime import Runtime
from mlgate.store.database import Database
from tests.conftest import KeyFactory, bearer


def test_incident_lifecycle_over_http(
    client: TestClient, make_key: KeyFactory, churn_route: str
) -> None:
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


@pytest.mark.parametrize("name", ["Bad Name With Spaces!!", "a" * 100], ids=["spaces", "too-long"])
def test_a_runbook_named_in_the_path_follows_the_name_rule(
    client: TestClient, make_key: KeyFactory, name: str
) -> None:
    writer = bearer(make_key("incidents:read", "incidents:write"))
    runbook = {"name": "ok-name", "title": "Churn", "body": "# Restart", "routes": ["churn"]}
    refused = client.put(f"/api/v1/incidents/runbooks/{name}", json=runbook, headers=writer)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["errors"] == [{"field": "path.name", "message": NAME_RULE}]
    assert client.get("/api/v1/incidents/runbooks", headers=writer).json() == []
    saved = client.put("/api/v1/incidents/runbooks/churn-restart", json=runbook, headers=writer)
    assert saved.status_code == 200, saved.text
    assert saved.json()["name"] == "churn-restart"  # the path names the runbook


@pytest.fixture
def strict_client(settings: Settings) -> Iterator[TestClient]:
    """A server whose incidents need a postmortem after 10 minutes instead of 60."""
    runtime = Runtime.from_settings(settings.model_copy(update={"incident_postmortem_minutes": 10}))
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        yield client
    runtime.close()


def test_every_incident_answer_applies_the_servers_postmortem_threshold(
    strict_client: TestClient, make_key: KeyFactory, db: Database, admin: Principal
) -> None:
    with db.unit_of_work() as session:
        number = service.open_incident(
            session,
            incident_in=IncidentCreate(title="Slow", severity=Severity.SEV4),
            actor=admin,
            threshold_minutes=60,
            now=utcnow() - timedelta(minutes=30),
        ).number
    writer = bearer(make_key("incidents:read", "incidents:write"))
    base = f"/api/v1/incidents/{number}"
    answers = {
        "update": strict_client.patch(base, json={"summary": "s"}, headers=writer),
        "handover": strict_client.post(f"{base}/handover", json={"to": "bob"}, headers=writer),
        "note": strict_client.post(f"{base}/notes", json={"text": "n"}, headers=writer),
        "postmortem": strict_client.put(f"{base}/postmortem", json={"lucky": "l"}, headers=writer),
        "show": strict_client.get(base, headers=writer),
    }
    listed = strict_client.get("/api/v1/incidents", headers=writer)
    draft = strict_client.get(f"{base}/postmortem", headers=writer)
    for name, answer in answers.items():
        assert answer.status_code == 200, (name, answer.text)
        assert answer.json()["postmortem_reasons"] == ["lasted longer than 10 minutes"], name
    assert listed.json()[0]["postmortem_required"] is True
    assert draft.json()["required_because"] == ["lasted longer than 10 minutes"]
    assert strict_client.post(f"{base}/close", json={}, headers=writer).status_code == 409
