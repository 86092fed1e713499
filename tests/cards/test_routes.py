"""Cards over HTTP: routing of the diff paths, what a diff answer says, what an export omits."""

from __future__ import annotations

import io
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mlgate.auth.schemas import Principal
from mlgate.registry import service as registry
from mlgate.registry.schemas import ModelCreate, VersionCreate
from mlgate.runtime import Runtime
from tests.cards.conftest import full_card_data
from tests.conftest import KeyFactory, bearer

OWNER = Principal(name="olga", scopes=frozenset({"admin"}))


@pytest.fixture
def headers(runtime: Runtime, make_key: KeyFactory) -> dict[str, str]:
    """Keys for a registered ``churn@1``, which has no card yet."""
    with runtime.db.unit_of_work() as session:
        registry.create_model(session, model_in=ModelCreate(name="churn"), actor=OWNER)
        registry.register_version(
            session,
            blobs=runtime.blobs,
            model_name="churn",
            version_in=VersionCreate(),
            uploads=[registry.ArtifactUpload(name="m.bin", stream=io.BytesIO(b"weights"))],
            max_bytes=1024,
            actor=OWNER,
        )
    return bearer(make_key("registry:write", "registry:read"))


def _revise(client: TestClient, headers: dict[str, str], *versions: str) -> None:
    for name in versions:
        card = full_card_data()
        card["model_details"]["version"] = name
        response = client.put("/api/v1/cards/churn/1", json={"card": card}, headers=headers)
        assert response.status_code == 200, response.text


@pytest.mark.parametrize("method", ["PUT", "POST", "DELETE", "PATCH"])
def test_a_wrong_method_on_the_diff_path_is_405_naming_get(
    client: TestClient, headers: dict[str, str], method: str
) -> None:
    # PUT was a 422 about a version called "diff": the path matched PUT /{model}/{version}.
    response = client.request(method, "/api/v1/cards/churn/diff", headers=headers)
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == "GET"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:mlgate:problem:http-405"


def test_the_card_paths_still_serve_their_methods(
    client: TestClient, headers: dict[str, str]
) -> None:
    _revise(client, headers, "1.0")
    assert client.get("/api/v1/cards/churn/1", headers=headers).status_code == 200
    wrong = client.delete("/api/v1/cards/churn/1", headers=headers)
    assert (wrong.status_code, wrong.headers["allow"]) == (405, "GET, PUT")
    too_big = client.get(f"/api/v1/cards/churn/{'9' * 30}", headers=headers)
    assert too_big.status_code == 422
    assert [e["field"] for e in too_big.json()["errors"]] == ["path.version"]


@pytest.mark.parametrize(
    ("query", "summary"),
    [
        ("", "from churn@1 card revision 2 to churn@1 card revision 3: 1 field changed"),
        (
            "?from_revision=2&to_revision=2",
            "churn@1 card revision 2 compared with itself: no changes",
        ),
        (
            "?from_revision=3&to_revision=1",
            "from churn@1 card revision 3 to churn@1 card revision 1: 1 field changed",
        ),
    ],
)
def test_a_diff_says_which_revisions_it_compares_and_what_changed(
    client: TestClient, headers: dict[str, str], query: str, summary: str
) -> None:
    _revise(client, headers, "1.0", "1.1", "1.2")
    response = client.get(f"/api/v1/cards/churn/1/diff{query}", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["summary"].startswith(summary)


@pytest.mark.parametrize(
    ("query", "status", "detail"),
    [
        # It said "has a single revision" of a card with three.
        (
            "?to_revision=1",
            409,
            "revision 1 is the first of the card of churn@1; nothing before it to diff against:"
            " give the revision to compare it with",
        ),
        ("?from_revision=9", 404, "the card of churn@1 has no revision 9; it has revisions 1 to 3"),
    ],
)
def test_a_diff_that_cannot_be_made_says_why(
    client: TestClient, headers: dict[str, str], query: str, status: int, detail: str
) -> None:
    _revise(client, headers, "1.0", "1.1", "1.2")
    response = client.get(f"/api/v1/cards/churn/1/diff{query}", headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["detail"] == detail


def test_a_single_revision_has_nothing_to_diff(client: TestClient, headers: dict[str, str]) -> None:
    _revise(client, headers, "1.0")
    response = client.get("/api/v1/cards/churn/1/diff", headers=headers)
    assert response.status_code == 409
    assert response.json()["detail"] == "the card of churn@1 has a single revision; nothing to diff"


def _export(client: TestClient, headers: dict[str, str], format: str) -> Any:
    response = client.get(f"/api/v1/cards/churn/1/export?format={format}", headers=headers)
    assert response.status_code == 200, response.text
    return response


def test_an_mct_export_names_the_fields_it_leaves_out(
    client: TestClient, headers: dict[str, str]
) -> None:
    _revise(client, headers, "1.0")
    omitted = _export(client, headers, "mct").headers["x-card-omitted"].split(", ")
    assert "intended_use.out_of_scope_uses" in omitted
    assert "quantitative_analyses.fairness_metrics.value" in omitted
    assert "model_details.licenses" not in omitted
    for lossless in ("json", "huggingface"):
        assert "x-card-omitted" not in _export(client, headers, lossless).headers
