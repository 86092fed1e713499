"""/api/v1/readiness over HTTP: scopes, reports in three formats, attestations, debt, maturity."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from mlgate.auth.schemas import Principal
from mlgate.runtime import Runtime
from tests.conftest import KeyFactory, bearer
from tests.readiness.world import World

BASE = "/api/v1/readiness"
VERSION = f"{BASE}/models/churn/versions/1"


@pytest.fixture
def world(runtime: Runtime, admin: Principal) -> World:
    world = World(runtime, admin)
    world.version("churn")
    return world


def test_a_reader_gets_reports_but_cannot_attest(
    world: World, client: TestClient, make_key: KeyFactory
) -> None:
    reader = bearer(make_key("readiness:read"))
    report = client.get(f"{VERSION}/report", headers=reader)
    assert report.status_code == 200, report.text
    assert report.json()["ml_test_score"]["final"] == 0.0
    html = client.get(f"{VERSION}/report", params={"format": "html"}, headers=reader)
    assert html.headers["content-type"].startswith("text/html")
    assert "<html" in html.text.lower()
    markdown = client.get(f"{VERSION}/report", params={"format": "md"}, headers=reader)
    assert markdown.headers["content-type"].startswith("text/markdown")
    refused = client.post(f"{VERSION}/attestations", json={"item_id": "model-1"}, headers=reader)
    assert refused.status_code == 403
    assert client.get(f"{VERSION}/report").status_code == 401


def test_a_writer_attests_records_and_opens_debt(
    world: World, client: TestClient, make_key: KeyFactory
) -> None:
    writer = bearer(make_key("readiness:write", owner="carol"))
    made = client.post(
        f"{VERSION}/attestations",
        json={"item_id": "model-1", "note": "https://wiki/reviews/42"},
        headers=writer,
    )
    assert made.status_code == 201, made.text
    assert made.json()["attested_by"] == "carol"
    assert made.json()["valid"] is True
    listed = client.get(f"{VERSION}/attestations", headers=writer).json()
    assert [a["item_id"] for a in listed] == ["model-1"]
    unknown = client.post(f"{VERSION}/attestations", json={"item_id": "zzz"}, headers=writer)
    assert unknown.status_code == 422
    assert unknown.json()["type"] == "urn:mlgate:problem:invalid"
    recorded = client.post(f"{VERSION}/assessments", headers=writer)
    assert recorded.status_code == 201
    assert recorded.json()["ml_test_score"]["sections"][1]["score"] == 0.5
    snapshots = client.get(f"{BASE}/models/churn/assessments", headers=writer).json()
    assert [(s["version"], s["final"]) for s in snapshots] == [(1, 0.0)]
    opened = client.post(f"{VERSION}/debt", json={"owner": "ml"}, headers=writer)
    assert opened.status_code == 201
    assert len(opened.json()) == 36
    first = client.get(f"{BASE}/debt", headers=writer).json()[0]
    closed = client.post(f"{BASE}/debt/{first['id']}/close", json={}, headers=writer)
    assert closed.json()["status"] == "resolved"
    assert len(client.get(f"{BASE}/debt", headers=writer).json()) == 35
    maturity = client.get(f"{BASE}/maturity", headers=writer).json()
    assert maturity["level"] == 0
    facts = client.get(f"{VERSION}/facts", headers=writer).json()
    assert facts["card"]["input_schema_declared"] is True
    assert client.get(f"{BASE}/models/nope/versions/1/report", headers=writer).status_code == 404
