"""Cards over HTTP: routing of the diff paths, what a diff answer says, what an export omits
and what an import does not hold."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mlgate.auth.schemas import Principal
from mlgate.cards.revisions import CardRevisionRead
from mlgate.registry import service as registry
from mlgate.registry.schemas import ModelCreate, VersionCreate
from mlgate.runtime import Runtime
from tests.cards.conftest import full_card_data
from tests.cards.test_mct_import import TOOLKIT_CARD, TOOLKIT_CARD_NOT_IMPORTED
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


def _import(client: TestClient, headers: dict[str, str], format: str, content: str) -> Any:
    body = {"format": format, "content": content}
    return client.post("/api/v1/cards/churn/1/import", json=body, headers=headers)


def test_an_mct_import_names_what_the_card_does_not_hold_in_a_header(
    client: TestClient, headers: dict[str, str]
) -> None:
    response = _import(client, headers, "mct", json.dumps(TOOLKIT_CARD))
    assert response.status_code == 200, response.text
    assert response.headers["x-card-not-imported"] == ", ".join(TOOLKIT_CARD_NOT_IMPORTED)
    body = response.json()
    assert body.keys() == CardRevisionRead.model_fields.keys() | {"not_imported", "notes"}
    assert body["not_imported"] == TOOLKIT_CARD_NOT_IMPORTED  # the header's list, whole
    spec = client.get("/openapi.json").json()
    documented = spec["paths"]["/api/v1/cards/{model}/{version}/import"]["post"]["responses"]
    assert "X-Card-Not-Imported" in documented["200"]["headers"]


def test_a_reimported_export_and_a_card_json_name_nothing_not_imported(
    client: TestClient, headers: dict[str, str]
) -> None:
    imported = _import(client, headers, "json", json.dumps(full_card_data()))
    assert imported.status_code == 200, imported.text
    assert "x-card-not-imported" not in imported.headers
    exported = _export(client, headers, "mct").text
    reimported = _import(client, headers, "mct", exported)
    assert reimported.status_code == 200, reimported.text
    assert "x-card-not-imported" not in reimported.headers
    document = json.loads(exported)
    document["model_details"]["overview"] = "changed"
    document["model_details"]["documentation"] = "added"
    changed = _import(client, headers, "mct", json.dumps(document))
    assert changed.headers["x-card-not-imported"] == "model_details.documentation"


def test_an_ambiguous_mct_date_imports_without_a_date_and_is_named(
    client: TestClient, headers: dict[str, str]
) -> None:
    document = {"model_details": {"name": "churn", "version": {"name": "1", "date": "03/04/2020"}}}
    response = _import(client, headers, "mct", json.dumps(document))
    assert response.status_code == 200, response.text
    assert response.headers["x-card-not-imported"] == "model_details.version.date"
    assert response.json()["card"]["model_details"]["date"] is None
    assert response.json()["not_imported"] == ["model_details.version.date"]
    assert "03/04/2020" in response.json()["notes"]["model_details.version.date"]  # and why
    us = {"model_details": {"name": "churn", "version": {"name": "2", "date": "08/28/2020"}}}
    response = _import(client, headers, "mct", json.dumps(us))
    assert response.status_code == 200, response.text
    assert response.json()["card"]["model_details"]["date"] == "2020-08-28"
    assert "x-card-not-imported" not in response.headers


def test_a_type_error_in_a_field_read_is_still_a_422_naming_it(
    client: TestClient, headers: dict[str, str]
) -> None:
    document = json.loads(json.dumps(TOOLKIT_CARD))
    document["quantitative_analysis"]["performance_metrics"][0]["value"] = "high"
    response = _import(client, headers, "mct", json.dumps(document))
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [
        "quantitative_analysis.performance_metrics[0].value"
    ]
    assert client.get("/api/v1/cards/churn/1", headers=headers).status_code == 404
    # Fixed, the same card imports and names what it does not hold.
    document["quantitative_analysis"]["performance_metrics"][0]["value"] = 0.8
    response = _import(client, headers, "mct", json.dumps(document))
    assert response.headers["x-card-not-imported"] == ", ".join(TOOLKIT_CARD_NOT_IMPORTED)


def test_a_long_not_imported_list_is_cut_so_the_header_stays_readable(
    client: TestClient, headers: dict[str, str]
) -> None:
    document = {"model_details": {"name": "churn", **{f"key_{i}": i for i in range(2_000)}}}
    response = _import(client, headers, "mct", json.dumps(document))
    assert response.status_code == 200, response.text
    listed = response.headers["x-card-not-imported"]
    assert len(listed) <= 4_000
    shown = listed.split(", ")
    assert shown[:2] == ["model_details.key_0", "model_details.key_1"]
    assert shown[-1] == f"and {2_000 - len(shown) + 1} more"
