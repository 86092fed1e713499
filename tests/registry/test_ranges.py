"""Artifact downloads answer one byte range (206), so a broken download resumes where it
stopped; what they cannot serve as a range they serve whole, and a range past the end is a 416."""

from __future__ import annotations

import hashlib
import os
import random

import pytest
from fastapi.testclient import TestClient

from mlgate.registry.blobstore import CHUNK
from mlgate.runtime import Runtime
from tests.registry.test_downloads import damage, register

DATA = random.Random(7).randbytes(1000)  # the same in every xdist worker: test ids hold it
SHA = hashlib.sha256(DATA).hexdigest()
PATH = "/api/v1/models/churn/versions/1/artifacts/model.bin"


@pytest.fixture
def registered(runtime: Runtime) -> None:
    register(runtime, {"model.bin": DATA})


@pytest.mark.parametrize(
    ("asked", "start", "end"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=900-", 900, 999),
        ("bytes=-100", 900, 999),
        ("bytes=990-5000", 990, 999),  # an end past the last byte means the last byte
        ("bytes=-5000", 0, 999),
        ("bytes=5-5", 5, 5),
        ("Bytes = 7-8 ,", 7, 8),  # the unit's case and list whitespace do not matter
    ],
)
def test_one_range_is_a_206_with_its_bytes(
    client: TestClient, writer: dict[str, str], registered: None, asked: str, start: int, end: int
) -> None:
    response = client.get(PATH, headers={**writer, "Range": asked})
    assert response.status_code == 206, response.text
    assert response.content == DATA[start : end + 1]
    assert response.headers["content-range"] == f"bytes {start}-{end}/{len(DATA)}"
    assert response.headers["content-length"] == str(end - start + 1)
    assert response.headers["etag"] == f'"{SHA}"'
    assert response.headers["x-content-sha256"] == SHA  # of the whole artifact


@pytest.mark.parametrize("asked", ["bytes=1000-", "bytes=5000-6000", "bytes=-0"])
def test_a_range_past_the_end_is_a_416_naming_the_size(
    client: TestClient, writer: dict[str, str], registered: None, asked: str
) -> None:
    response = client.get(PATH, headers={**writer, "Range": asked})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(DATA)}"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:mlgate:problem:range-not-satisfiable"
    assert "content-disposition" not in response.headers  # not saved as the model file


@pytest.mark.parametrize(
    "asked",
    [
        None,
        "bytes=0-1,5-6",  # several ranges: answered whole, as RFC 9110 allows
        "bytes=9-5",
        "items=0-5",
        "bytes=abc",
        "bytes=",
        "bytes=-",
        "bytes=0-" + "9" * 5000,
    ],
)
def test_no_range_or_one_it_does_not_serve_is_the_whole_artifact(
    client: TestClient, writer: dict[str, str], registered: None, asked: str | None
) -> None:
    headers = writer if asked is None else {**writer, "Range": asked}
    response = client.get(PATH, headers=headers)
    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-length"] == str(len(DATA))
    assert response.headers["etag"] == f'"{SHA}"'
    assert "content-range" not in response.headers


@pytest.mark.parametrize(
    ("validator", "status"),
    [
        (f'"{SHA}"', 206),
        ('"' + "0" * 64 + '"', 200),  # another artifact's bytes: start over
        (f'W/"{SHA}"', 200),  # a weak validator never matches for a range
        ("Wed, 21 Oct 2015 07:28:00 GMT", 200),  # no Last-Modified is sent, so no date matches
    ],
    ids=["same-etag", "other-etag", "weak-etag", "date"],
)
def test_if_range_gets_the_range_only_for_the_same_bytes(
    client: TestClient, writer: dict[str, str], registered: None, validator: str, status: int
) -> None:
    headers = {**writer, "Range": "bytes=10-19", "If-Range": validator}
    response = client.get(PATH, headers=headers)
    assert response.status_code == status
    assert response.content == (DATA[10:20] if status == 206 else DATA)


def test_an_interrupted_download_resumes_with_a_range(
    client: TestClient, writer: dict[str, str], runtime: Runtime
) -> None:
    big = os.urandom(3 * CHUNK + 17)
    register(runtime, {"model.bin": big})
    cut = CHUNK + 5  # what arrived before the connection broke
    got = bytearray(big[:cut])
    first = client.get(PATH, headers=writer)
    etag = first.headers["etag"]
    resumed = client.get(PATH, headers={**writer, "Range": f"bytes={cut}-", "If-Range": etag})
    assert resumed.status_code == 206
    assert resumed.headers["content-range"] == f"bytes {cut}-{len(big) - 1}/{len(big)}"
    got += resumed.content
    assert hashlib.sha256(got).hexdigest() == resumed.headers["x-content-sha256"]


def test_a_range_of_a_blob_of_the_wrong_size_is_a_500(
    client: TestClient, writer: dict[str, str], registered: None, runtime: Runtime
) -> None:
    """A range checks what it can: the blob is there and of the registered size."""
    damage(runtime, DATA, truncate=True)
    response = client.get(PATH, headers={**writer, "Range": "bytes=0-9"})
    assert response.status_code == 500
    assert "is damaged in the blob store" in response.json()["detail"]


def test_a_range_of_every_byte_is_checked_against_the_sha256(
    client: TestClient, writer: dict[str, str], registered: None, runtime: Runtime
) -> None:
    damage(runtime, DATA, at=500)
    whole = client.get(PATH, headers={**writer, "Range": "bytes=0-"})
    assert whole.status_code == 500
    assert "its bytes changed" in whole.json()["detail"]
    # A part cannot be checked against the digest of the whole: the client checks what it
    # assembles against X-Content-SHA256.
    part = client.get(PATH, headers={**writer, "Range": "bytes=0-99"})
    assert part.status_code == 206
    assert part.content == DATA[:100]


def test_the_openapi_document_names_the_range_answers(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/api/v1/models/{name}/versions/{version}/artifacts/{artifact}"]
    responses = operation["get"]["responses"]
    assert {"200", "206", "416"} <= set(responses)
    assert {p["name"] for p in operation["get"]["parameters"]} >= {"Range", "if-range"}
