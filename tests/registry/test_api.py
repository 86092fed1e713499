"""The registry over HTTP on both databases: happy paths; bad input that leaves nothing behind."""

from __future__ import annotations

import hashlib

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from mlgate.registry.models import Artifact, Model, ModelVersion
from mlgate.runtime import Runtime
from tests.registry.conftest import blob_files, upload

SCHEMA = {"type": "object", "properties": {"x": {"type": "array"}}, "required": ["x"]}


def row_counts(runtime: Runtime) -> tuple[int, int, int]:
    with runtime.db.unit_of_work() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(table)) or 0
            for table in (Model, ModelVersion, Artifact)
        )


def create(
    client: TestClient, writer: dict[str, str], name: str = "churn", **extra: object
) -> None:
    response = client.post("/api/v1/models", json={"name": name, **extra}, headers=writer)
    assert response.status_code == 201, response.text


def test_register_versions_numbers_them_and_stores_identical_bytes_once(
    client: TestClient, writer: dict[str, str], runtime: Runtime
) -> None:
    create(client, writer)
    data = b"model-bytes" * 100
    first = upload(
        client,
        writer,
        "churn",
        [("model.onnx", data)],
        {"framework": "onnx", "input_schema": SCHEMA, "git_commit": "abc123"},
    )
    second = upload(client, writer, "churn", [("model.onnx", data), ("dir/vocab.txt", b"a b")])
    assert first.status_code == 201, first.text
    assert second.status_code == 201, second.text
    assert (first.json()["version"], second.json()["version"]) == (1, 2)
    artifact = first.json()["artifacts"][0]
    assert artifact == {
        "name": "model.onnx",
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
    }
    assert len(blob_files(runtime)) == 2  # model bytes once, vocab once
    shown = client.get("/api/v1/models/churn/versions/1", headers=writer).json()
    assert shown["input_schema"] == SCHEMA
    assert shown["git_commit"] == "abc123"
    assert shown["created_by"] == "alice"
    download = client.get("/api/v1/models/churn/versions/2/artifacts/dir/vocab.txt", headers=writer)
    assert download.content == b"a b"


def test_expected_sha256_that_matches_is_accepted(
    client: TestClient, writer: dict[str, str]
) -> None:
    create(client, writer)
    data = b"weights"
    response = upload(
        client,
        writer,
        "churn",
        [("w.bin", data)],
        {"artifact_sha256": {"w.bin": hashlib.sha256(data).hexdigest()}},
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    "name", ["../escape", "/etc/passwd", "a/../../b", "..", "C:evil", "a\\b", "a//b", "dir/"]
)
def test_names_that_escape_the_store_are_refused_and_leave_nothing(
    client: TestClient, writer: dict[str, str], runtime: Runtime, name: str
) -> None:
    create(client, writer)
    before = row_counts(runtime)
    response = upload(client, writer, "churn", [("ok.bin", b"fine"), (name, b"evil")])
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == "urn:mlgate:problem:invalid"
    assert problem["errors"][0]["field"] == "artifacts[1]"
    assert row_counts(runtime) == before
    assert blob_files(runtime) == []


def test_oversized_upload_is_413_and_leaves_nothing(
    client: TestClient, writer: dict[str, str], runtime: Runtime
) -> None:
    create(client, writer)
    limit = runtime.settings.max_upload_bytes
    response = upload(client, writer, "churn", [("big.bin", b"x" * (limit + 1))])
    assert response.status_code == 413
    assert response.json()["type"] == "urn:mlgate:problem:payload-too-large"
    assert row_counts(runtime) == (1, 0, 0)
    assert blob_files(runtime) == []


def test_oversized_artifact_inside_the_request_limit_is_413(
    client: TestClient, writer: dict[str, str], runtime: Runtime
) -> None:
    """The stream check: the second file pushes the blob write over the limit."""
    create(client, writer)
    half = runtime.settings.max_upload_bytes // 2
    response = upload(
        client, writer, "churn", [("a.bin", b"a" * half), ("b.bin", b"b" * (half - 4096))]
    )
    assert response.status_code == 201
    from mlgate.registry.blobstore import LocalBlobStore

    store = LocalBlobStore(runtime.settings.blob_dir)
    import io

    with pytest.raises(Exception, match="larger than the limit"):
        store.put(io.BytesIO(b"z" * 11), max_bytes=10)
    assert not any((runtime.settings.blob_dir / ".tmp").iterdir())


def test_wrong_expected_sha256_is_422_and_leaves_nothing(
    client: TestClient, writer: dict[str, str], runtime: Runtime
) -> None:
    create(client, writer)
    response = upload(
        client,
        writer,
        "churn",
        [("m.bin", b"real bytes")],
        {"artifact_sha256": {"m.bin": "0" * 64}},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "artifacts[0].sha256"
    assert row_counts(runtime) == (1, 0, 0)
    assert blob_files(runtime) == []


def test_unknown_model_is_404_and_leaves_nothing(
    client: TestClient, writer: dict[str, str], runtime: Runtime
) -> None:
    response = upload(client, writer, "ghost", [("m.bin", b"bytes")])
    assert response.status_code == 404
    assert "mlgate models create ghost" in response.json()["detail"]
    assert row_counts(runtime) == (0, 0, 0)
    assert blob_files(runtime) == []


@pytest.mark.parametrize("field", ["input_schema", "output_schema"])
@pytest.mark.parametrize(
    ("schema", "where"),
    [({"type": "no-such-type"}, ""), ({"$schema": ["x"]}, ".$schema")],  # the latter was a 500
)
def test_malformed_json_schema_is_422_naming_the_field(
    client: TestClient,
    writer: dict[str, str],
    runtime: Runtime,
    field: str,
    schema: dict[str, object],
    where: str,
) -> None:
    create(client, writer)
    response = upload(client, writer, "churn", [("m.bin", b"bytes")], {field: schema})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field + where
    assert row_counts(runtime) == (1, 0, 0)
    assert blob_files(runtime) == []


def test_duplicate_model_name_is_409(
    client: TestClient, writer: dict[str, str], runtime: Runtime
) -> None:
    create(client, writer)
    response = client.post("/api/v1/models", json={"name": "churn"}, headers=writer)
    assert response.status_code == 409
    assert response.json()["type"] == "urn:mlgate:problem:conflict"
    assert row_counts(runtime) == (1, 0, 0)


def test_duplicate_artifact_names_in_one_version_are_422(
    client: TestClient, writer: dict[str, str], runtime: Runtime
) -> None:
    create(client, writer)
    response = upload(client, writer, "churn", [("m.bin", b"one"), ("m.bin", b"two")])
    assert response.status_code == 422
    assert row_counts(runtime) == (1, 0, 0)
    assert blob_files(runtime) == []


@pytest.mark.parametrize("name", ["Upper", "-lead", "a" * 64, "sp ace", ""])
def test_invalid_model_names_are_422_naming_the_field(
    client: TestClient, writer: dict[str, str], name: str
) -> None:
    response = client.post("/api/v1/models", json={"name": name}, headers=writer)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.name"


def test_malformed_metadata_json_is_422(client: TestClient, writer: dict[str, str]) -> None:
    create(client, writer)
    response = client.post(
        "/api/v1/models/churn/versions",
        files=[("artifact", ("m", b"x"))],
        data={"metadata": "{not json"},
        headers=writer,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "metadata"


def test_list_filters_by_tag_and_owner_and_paginates(
    client: TestClient, writer: dict[str, str]
) -> None:
    for index in range(7):
        tags = ["fraud"] if index % 2 else ["churn"]
        create(client, writer, f"m{index}", tags=tags, owner="team-a" if index < 3 else "team-b")
    page = client.get("/api/v1/models", params={"tag": "fraud", "limit": 2}, headers=writer).json()
    assert page["total"] == 3
    assert [m["name"] for m in page["items"]] == ["m1", "m3"]
    page2 = client.get(
        "/api/v1/models", params={"tag": "fraud", "limit": 2, "offset": 2}, headers=writer
    ).json()
    assert [m["name"] for m in page2["items"]] == ["m5"]
    owned = client.get("/api/v1/models", params={"owner": "team-a"}, headers=writer).json()
    assert [m["name"] for m in owned["items"]] == ["m0", "m1", "m2"]


def test_artifacts_are_immutable(client: TestClient, writer: dict[str, str]) -> None:
    create(client, writer)
    upload(client, writer, "churn", [("m.bin", b"v1")])
    path = "/api/v1/models/churn/versions/1/artifacts/m.bin"
    for method in ("PUT", "PATCH", "DELETE"):
        assert client.request(method, path, headers=writer).status_code == 405


def test_a_name_with_a_hidden_character_is_refused_and_leaves_nothing(
    client: TestClient, writer: dict[str, str], runtime: Runtime
) -> None:
    # A reviewer reading "evil\u202egnp.exe" saw "evilexe.png".
    create(client, writer)
    response = upload(client, writer, "churn", [("ok.bin", b"fine"), ("evil\u202egnp.exe", b"x")])
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "artifacts[1]"
    assert "U+202E" in response.json()["detail"]
    assert row_counts(runtime) == (1, 0, 0)
    assert blob_files(runtime) == []


def test_an_invalid_version_says_which_field_is_wrong(
    client: TestClient, writer: dict[str, str]
) -> None:
    create(client, writer)
    response = upload(
        client, writer, "churn", [("m.bin", b"x")], {"artifact_sha256": {"other": "0" * 64}}
    )
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "the version is not valid: artifact_sha256.other: names no uploaded artifact"
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"owner": ""}, "body.owner"),  # left the model with no owner at all
        ({"owner": "team\u202ea"}, "body.owner"),
        ({"tags": ["fr\u0430ud"]}, "body.tags"),  # Cyrillic a: hidden from --tag fraud
    ],
)
def test_an_owner_or_tag_that_misleads_is_422(
    client: TestClient, writer: dict[str, str], change: dict[str, object], field: str
) -> None:
    create(client, writer, owner="team-a", tags=["fraud"])
    response = client.patch("/api/v1/models/churn", json=change, headers=writer)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field
    shown = client.get("/api/v1/models/churn", headers=writer).json()
    assert (shown["owner"], shown["tags"]) == ("team-a", ["fraud"])


def test_an_owner_with_an_emoji_is_kept_and_a_hidden_character_is_named(
    client: TestClient, writer: dict[str, str]
) -> None:
    # VS16 after the heart was refused as "the invisible or reordering character U+FE0F".
    create(client, writer, owner="Zo\u00eb \u2764\ufe0f team")
    shown = client.get("/api/v1/models/churn", headers=writer).json()
    assert shown["owner"] == "Zo\u00eb \u2764\ufe0f team"
    response = client.patch("/api/v1/models/churn", json={"owner": "team\ue000"}, headers=writer)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["message"].endswith(
        "contains the private-use character U+E000, which each font draws as it likes; remove it"
    )


def test_a_name_with_a_look_alike_letter_is_422_naming_the_artifact(
    client: TestClient, writer: dict[str, str], runtime: Runtime
) -> None:
    # "mod\u0435l.onnx" (Cyrillic e) sat beside "model.onnx" and read the same to a reviewer.
    create(client, writer)
    response = upload(client, writer, "churn", [("model.onnx", b"a"), ("mod\u0435l.onnx", b"b")])
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["errors"][0]["field"] == "artifacts[1]"
    assert "U+0435 CYRILLIC SMALL LETTER IE" in problem["detail"]
    assert row_counts(runtime) == (1, 0, 0)
    assert blob_files(runtime) == []


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("\u217fodel.onnx", "U+217F SMALL ROMAN NUMERAL ONE THOUSAND"),  # reads as model.onnx
        ("model\u3164.onnx", "U+3164 HANGUL FILLER"),  # drawn as nothing
    ],
)
def test_a_name_with_a_compatibility_or_filler_character_is_a_422_problem(
    client: TestClient, writer: dict[str, str], runtime: Runtime, name: str, shown: str
) -> None:
    create(client, writer)
    response = upload(client, writer, "churn", [("model.onnx", b"a"), (name, b"b")])
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["errors"][0]["field"] == "artifacts[1]"
    assert shown in problem["errors"][0]["message"]
    assert row_counts(runtime) == (1, 0, 0)
    assert blob_files(runtime) == []
