"""Reviews and policies over HTTP with real keys: groups, scopes, 409s with reasons."""

from __future__ import annotations

from fastapi.testclient import TestClient

from mlgate.runtime import Runtime
from tests.approvals.conftest import VersionFactory, simple_policy
from tests.conftest import KeyFactory, bearer


def test_review_flow_over_http_with_separation_of_duties(
    client: TestClient, make_key: KeyFactory, make_version: VersionFactory
) -> None:
    name, number = make_version(input_schema=False)
    requester = bearer(
        make_key("approvals:request", "approvals:review", owner="rita", groups=("data",))
    )
    data = bearer(make_key("approvals:review", owner="dana", groups=("data",)))
    security = bearer(make_key("approvals:review", owner="sam", groups=("security",)))
    final = bearer(make_key("approvals:review", owner="avery"))

    created = client.post(
        "/api/v1/reviews",
        json={"model": name, "version": number, "comment": "v1"},
        headers=requester,
    )
    assert created.status_code == 201, created.text
    review = created.json()
    assert (review["state"], review["current_stage"], review["requester"]) == (
        "pending",
        "data-review",
        "rita",
    )
    rid = review["id"]
    own = client.post(f"/api/v1/reviews/{rid}/approve", json={"comment": "mine"}, headers=requester)
    assert own.status_code == 403
    blocked = client.post(f"/api/v1/reviews/{rid}/approve", json={"comment": "ok"}, headers=data)
    assert blocked.status_code == 409
    assert blocked.json()["failed_checks"][0]["check"] == "input_schema_declared"
    assert "input_schema_declared" in blocked.json()["detail"]
    no_comment = client.post(f"/api/v1/reviews/{rid}/approve", json={}, headers=data)
    assert no_comment.status_code == 422
    changes = client.post(
        f"/api/v1/reviews/{rid}/request-changes", json={"comment": "add a schema"}, headers=data
    )
    assert changes.json()["state"] == "needs_revision"
    again = client.post(
        f"/api/v1/reviews/{rid}/resubmit", json={"comment": "added"}, headers=requester
    )
    assert (again.json()["state"], again.json()["round"]) == ("pending", 2)
    queue = client.get("/api/v1/reviews/queue", headers=data).json()
    assert [r["id"] for r in queue["items"]] == [rid]
    assert client.get("/api/v1/reviews/queue", headers=security).json()["items"] == []
    shown = client.get(f"/api/v1/reviews/versions/{name}/{number}", headers=final).json()
    assert [d["kind"] for d in shown["decisions"]] == [
        "submitted",
        "changes_requested",
        "resubmitted",
    ]
    assert client.get(f"/api/v1/reviews/{rid}/gates", headers=final).json()[0]["passed"] is False
    reject = client.post(
        f"/api/v1/reviews/{rid}/reject",
        json={"comment": "wrong stage", "stage": "security-review"},
        headers=security,
    )
    assert reject.status_code == 409
    assert client.get(f"/api/v1/models/{name}/versions/{number}", headers=final).status_code == 403


def test_policies_are_versioned_data_and_only_admins_set_them(
    client: TestClient, make_key: KeyFactory, runtime: Runtime
) -> None:
    admin = bearer(make_key("admin"))
    reader = bearer(make_key("approvals:review"))
    builtin = client.get("/api/v1/policies/default", headers=reader).json()
    assert builtin["version"] == 0
    assert [s["name"] for s in builtin["document"]["stages"]] == [
        "data-review",
        "model-review",
        "fairness-review",
        "security-review",
        "compliance-review",
        "final-approval",
    ]
    document = simple_policy(("one", ["ml"], ["input_schema_declared"])).model_dump(mode="json")
    assert client.put("/api/v1/policies/default", json=document, headers=reader).status_code == 403
    first = client.put("/api/v1/policies/default", json=document, headers=admin)
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 1
    bad = dict(document, stages=[{"name": "x", "gates": ["no_such_check"]}])
    refused = client.put("/api/v1/policies/default", json=bad, headers=admin)
    assert refused.status_code == 422
    assert "no_such_check" in refused.text
    versions = client.get("/api/v1/policies/default/versions", headers=reader).json()
    assert [v["version"] for v in versions] == [0, 1]
    unknown = client.get("/api/v1/policies/no-such-model", headers=reader)
    assert unknown.status_code == 404
    checks = client.get("/api/v1/reviews/checks", headers=reader).json()
    assert {"card_completeness", "fairness_metrics_present", "input_schema_declared"} <= {
        c["name"] for c in checks
    }


def test_requester_cannot_approve_own_request_through_a_key_spelt_differently(
    client: TestClient, make_key: KeyFactory, make_version: VersionFactory
) -> None:
    """Separation of duties compares key owners: 'rita', ' rita ' and 'Rita' are one person."""
    name, number = make_version()
    admin = bearer(make_key("admin", owner="root"))
    requester = bearer(make_key("approvals:request", owner="rita"))
    rid = client.post(
        "/api/v1/reviews", json={"model": name, "version": number}, headers=requester
    ).json()["id"]
    reviewer = {"name": "review", "scopes": ["approvals:review"], "groups": ["data"]}
    padded = client.post("/api/v1/keys", json={**reviewer, "owner": " rita "}, headers=admin)
    assert padded.status_code == 201, padded.text
    assert padded.json()["owner"] == "rita"
    approve = client.post(
        f"/api/v1/reviews/{rid}/approve",
        json={"comment": "looks fine"},
        headers=bearer(padded.json()["key"]),
    )
    assert approve.status_code == 403, approve.text
    cased = client.post("/api/v1/keys", json={**reviewer, "owner": "Rita"}, headers=admin)
    assert cased.status_code == 409, cased.text
    assert "'rita'" in cased.json()["detail"]
