"""A version's metadata over HTTP: a text part or a file part, read alike; bad ones are 422."""

from __future__ import annotations

import hashlib
import json
import sys

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from mlgate.registry.models import ModelVersion
from mlgate.runtime import Runtime


def _versions(runtime: Runtime) -> int:
    with runtime.db.unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(ModelVersion)) or 0


def _register(
    client: TestClient, writer: dict[str, str], metadata: tuple[str, bytes, str] | str
) -> httpx.Response:
    parts: list[tuple[str, object]] = [("artifact", ("model.bin", b"weights"))]
    data: dict[str, str] = {}
    if isinstance(metadata, str):
        data["metadata"] = metadata
    else:
        parts.append(("metadata", metadata))
    return client.post("/api/v1/models/churn/versions", files=parts, data=data, headers=writer)


def test_metadata_sent_as_a_file_part_is_read_like_a_text_part(
    client: TestClient, writer: dict[str, str], runtime: Runtime
) -> None:
    # `curl -F metadata=@meta.json` sends a file part; it was ignored, and its checks with it.
    assert client.post("/api/v1/models", json={"name": "churn"}, headers=writer).status_code == 201
    wrong = json.dumps({"framework": "onnx", "artifact_sha256": {"model.bin": "0" * 64}})
    refused = _register(client, writer, ("meta.json", wrong.encode(), "application/json"))
    assert refused.status_code == 422
    assert "expected sha256" in refused.json()["detail"]
    assert _versions(runtime) == 0
    right = json.dumps(
        {
            "framework": "onnx",
            "description": "café",
            "artifact_sha256": {"model.bin": hashlib.sha256(b"weights").hexdigest()},
        }
    )
    registered = _register(client, writer, ("meta.json", right.encode(), "application/json"))
    assert registered.status_code == 201, registered.text
    assert (registered.json()["framework"], registered.json()["description"]) == ("onnx", "café")


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        (("meta.json", b"{not json", "application/json"), "not valid JSON"),
        (("meta.json", b'{"framework": "\xff"}', "application/json"), "not UTF-8"),
        ("[" * 100_000, "nested deeper"),
        (json.dumps({"input_schema": {"x": json.loads("[" * 500 + "]" * 500)}}), "nested deeper"),
        (("meta.json", b"[" * 100_000, "application/json"), "nested deeper"),
    ],
    ids=["file-not-json", "file-not-utf8", "deep-text", "deep-but-parseable", "deep-file"],
)
def test_bad_metadata_is_422_naming_metadata(
    client: TestClient,
    writer: dict[str, str],
    runtime: Runtime,
    metadata: tuple[str, bytes, str] | str,
    message: str,
) -> None:
    # Deep values were a 500: RecursionError while parsing, or stored and then unserializable.
    assert client.post("/api/v1/models", json={"name": "churn"}, headers=writer).status_code == 201
    response = _register(client, writer, metadata)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert [e["field"] for e in problem["errors"]] == ["metadata"]
    assert message in problem["detail"]
    assert _versions(runtime) == 0


@pytest.mark.parametrize("digest", ["", "  ", "abc", "g" * 64, "0" * 63])
def test_an_expected_digest_that_is_not_a_sha256_is_422_not_skipped(
    client: TestClient, writer: dict[str, str], runtime: Runtime, digest: str
) -> None:
    # An empty digest read as "no digest": the upload it named was registered unchecked.
    assert client.post("/api/v1/models", json={"name": "churn"}, headers=writer).status_code == 201
    response = _register(client, writer, json.dumps({"artifact_sha256": {"model.bin": digest}}))
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["metadata.artifact_sha256.model.bin"]
    assert "64 hexadecimal characters" in response.json()["errors"][0]["message"]
    assert _versions(runtime) == 0


def test_an_expected_digest_in_capitals_is_checked(
    client: TestClient, writer: dict[str, str]
) -> None:
    assert client.post("/api/v1/models", json={"name": "churn"}, headers=writer).status_code == 201
    digest = hashlib.sha256(b"weights").hexdigest().upper()
    response = _register(client, writer, json.dumps({"artifact_sha256": {"model.bin": digest}}))
    assert response.status_code == 201, response.text


def test_an_integer_longer_than_python_converts_is_422_naming_metadata(
    client: TestClient, writer: dict[str, str], runtime: Runtime
) -> None:
    # json.loads raised a plain ValueError (Python's 4,300-digit limit): a 500.
    assert client.post("/api/v1/models", json={"name": "churn"}, headers=writer).status_code == 201
    digits = sys.get_int_max_str_digits() + 1
    response = _register(client, writer, '{"description": "x", "trainer": ' + "9" * digits + "}")
    assert response.status_code == 422, response.text
    problem = response.json()
    assert [e["field"] for e in problem["errors"]] == ["metadata"]
    assert f"longer than {digits - 1} digits" in problem["detail"]
    assert _versions(runtime) == 0


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_number_json_cannot_hold_is_422_naming_metadata(
    client: TestClient, writer: dict[str, str], runtime: Runtime, number: str
) -> None:
    # Python's json reads them: PostgreSQL then refused the row (a 500), SQLite stored null.
    assert client.post("/api/v1/models", json={"name": "churn"}, headers=writer).status_code == 201
    response = _register(client, writer, '{"input_schema": {"default": ' + number + "}}")
    assert response.status_code == 422, response.text
    problem = response.json()
    assert [e["field"] for e in problem["errors"]] == ["metadata"]
    assert number in problem["detail"]
    assert _versions(runtime) == 0
