"""An upload streams into the blob store: its bytes are written once, and a body that fails or
is cut off leaves no version, no blob and no temporary file."""

from __future__ import annotations

import hashlib
import json
import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from mlgate.app import create_app
from mlgate.auth.schemas import Principal
from mlgate.config import Settings
from mlgate.registry import service as registry
from mlgate.registry.schemas import ModelCreate
from mlgate.runtime import Runtime
from tests.integration.conftest import start_server, wait_until
from tests.registry.conftest import blob_files, upload

WRITER = Principal(name="w", scopes=frozenset({"registry:write"}))
ARTIFACT_BYTES = 8 * 1024 * 1024
BOUNDARY = "mlgate-test-boundary"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"max_upload_bytes": 4 * ARTIFACT_BYTES})


def written_bytes() -> int:
    """Bytes this process has passed to write() so far, to any file (Linux)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split(":")[1])
    raise AssertionError("no wchar in /proc/self/io")


def part(name: str, filename: str | None, data: bytes) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"


def post_raw(
    client: TestClient, writer: dict[str, str], body: bytes, *, params: str = ""
) -> httpx.Response:
    return client.post(
        "/api/v1/models/churn/versions",
        content=body,
        headers={**writer, "content-type": f"multipart/form-data; boundary={BOUNDARY}{params}"},
    )


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc/self/io")
def test_an_uploaded_artifact_is_written_to_disk_once(
    client: TestClient, writer: dict[str, str], runtime: Runtime
) -> None:
    # Starlette's form parser spooled each part to a temporary file, then the blob store wrote
    # it again: twice the disk traffic (and twice the time) for every large model.
    assert client.post("/api/v1/models", json={"name": "big"}, headers=writer).status_code == 201
    data = os.urandom(ARTIFACT_BYTES)
    before = written_bytes()
    response = upload(client, writer, "big", [("model.bin", data)])
    written = written_bytes() - before
    assert response.status_code == 201, response.text
    assert response.json()["artifacts"][0]["sha256"] == hashlib.sha256(data).hexdigest()
    assert ARTIFACT_BYTES <= written < 1.25 * ARTIFACT_BYTES, f"{written} bytes written"


def test_a_body_cut_before_its_closing_boundary_registers_nothing(
    client: TestClient, writer: dict[str, str], runtime: Runtime
) -> None:
    # The part that was still arriving was dropped, and the version registered without it.
    assert client.post("/api/v1/models", json={"name": "churn"}, headers=writer).status_code == 201
    body = part("metadata", None, b"{}") + part("artifact", "a.bin", b"first")
    body += f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="artifact"; '.encode()
    body += b'filename="b.bin"\r\n\r\nsecond, cut short'
    response = post_raw(client, writer, body)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "body"
    assert "closing boundary" in response.json()["detail"]
    assert client.get("/api/v1/models/churn", headers=writer).json()["latest_version"] == 0
    assert blob_files(runtime) == []


def test_metadata_given_twice_is_refused_not_one_of_them_chosen(
    client: TestClient, writer: dict[str, str], runtime: Runtime
) -> None:
    # The last one won, silently: its artifact_sha256 checks could replace the first one's.
    assert client.post("/api/v1/models", json={"name": "churn"}, headers=writer).status_code == 201
    expected = json.dumps({"artifact_sha256": {"m.bin": "0" * 64}}).encode()
    body = part("metadata", None, expected) + part("metadata", None, b"{}")
    body += part("artifact", "m.bin", b"weights") + f"--{BOUNDARY}--\r\n".encode()
    response = post_raw(client, writer, body)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "metadata"
    assert blob_files(runtime) == []


def test_artifacts_keep_their_order_and_other_parts_are_ignored(
    client: TestClient, writer: dict[str, str]
) -> None:
    assert client.post("/api/v1/models", json={"name": "churn"}, headers=writer).status_code == 201
    body = part("artifact", "b.bin", b"bee") + part("notes", "notes.txt", b"ignored")
    body += part("artifact", "a.bin", b"a" * 70_000) + part("metadata", None, b'{"framework": "x"}')
    response = post_raw(client, writer, body + f"--{BOUNDARY}--\r\n".encode())
    assert response.status_code == 201, response.text
    version = response.json()
    assert version["framework"] == "x"
    assert [(a["name"], a["size"]) for a in version["artifacts"]] == [
        ("b.bin", 3),
        ("a.bin", 70_000),
    ]


def test_a_client_that_goes_away_mid_upload_leaves_no_blob_behind(
    runtime: Runtime, writer: dict[str, str]
) -> None:
    """The first artifact is stored whole before the client vanishes during the second."""
    with runtime.db.unit_of_work() as session:
        registry.create_model(session, model_in=ModelCreate(name="churn"), actor=WRITER)
    data = os.urandom(3 * 1024 * 1024)
    sent = part("artifact", "a.bin", data)
    sent += f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="artifact"; '.encode()
    sent += b'filename="b.bin"\r\n\r\n' + os.urandom(2 * 1024 * 1024)
    live, thread = start_server(create_app(runtime=runtime))
    try:
        url = urlsplit(live.url)
        with socket.create_connection((url.hostname, url.port)) as sock:  # type: ignore[arg-type]
            head = (
                f"POST /api/v1/models/churn/versions HTTP/1.1\r\nHost: {url.netloc}\r\n"
                f"Authorization: {writer['Authorization']}\r\n"
                f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                f"Content-Length: {len(sent) + 4 * 1024 * 1024}\r\n\r\n"
            )
            sock.sendall(head.encode() + sent)
            stored = runtime.blobs.path(hashlib.sha256(data).hexdigest())
            wait_until(stored.exists, what="the first artifact to be stored")
        wait_until(lambda: blob_files(runtime) == [], what="the upload's blobs to be given back")
    finally:
        live.server.should_exit = True
        thread.join(timeout=10)
    with runtime.db.unit_of_work() as session:
        assert registry.get_model(session, name="churn").latest_version == 0


def test_an_artifact_part_without_a_filename_is_refused_not_dropped(
    client: TestClient, writer: dict[str, str], runtime: Runtime
) -> None:
    # `curl -F artifact=<model.onnx` sends the file as a text part: it was dropped and the
    # version registered without it, with a 201.
    assert client.post("/api/v1/models", json={"name": "churn"}, headers=writer).status_code == 201
    body = part("artifact", "real.bin", b"weights") + part("artifact", None, b"the second file")
    response = post_raw(client, writer, body + f"--{BOUNDARY}--\r\n".encode())
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["errors"][0]["field"] == "artifact"
    assert "no filename" in problem["detail"]
    assert "artifact=@" in problem["detail"]
    assert client.get("/api/v1/models/churn", headers=writer).json()["latest_version"] == 0
    assert blob_files(runtime) == []


def test_the_same_bytes_twice_in_a_refused_upload_leave_no_blob(
    client: TestClient, writer: dict[str, str], runtime: Runtime
) -> None:
    # Each part is stored as it ends; the second claimed the first one's blob, so the refused
    # upload left it behind for good.
    assert client.post("/api/v1/models", json={"name": "churn"}, headers=writer).status_code == 201
    data = os.urandom(100_000)
    body = part("artifact", "a.bin", data) + part("artifact", "b.bin", data)
    response = post_raw(
        client,
        writer,
        body + part("metadata", None, b"{bad") + b"--" + BOUNDARY.encode() + b"--\r\n",
    )
    assert response.status_code == 422, response.text
    assert blob_files(runtime) == []


@pytest.mark.parametrize(
    "charset", ["rot13", "hex", "base64", "zlib", "undefined", "idna", "bogus"]
)
def test_a_charset_that_is_not_a_character_set_is_ignored(
    client: TestClient, writer: dict[str, str], charset: str
) -> None:
    # Python's codecs of that name decode no text (LookupError, UnicodeError): each was a 500.
    assert client.post("/api/v1/models", json={"name": "churn"}, headers=writer).status_code == 201
    body = part("artifact", "модель.bin", b"weights") + f"--{BOUNDARY}--\r\n".encode()
    response = post_raw(client, writer, body, params=f"; charset={charset}")
    assert response.status_code == 201, response.text
    assert response.json()["artifacts"][0]["name"] == "модель.bin"  # read as UTF-8


def test_a_charset_that_is_a_character_set_decodes_the_names(
    client: TestClient, writer: dict[str, str]
) -> None:
    assert client.post("/api/v1/models", json={"name": "churn"}, headers=writer).status_code == 201
    body = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="artifact"; '.encode()
    body += 'filename="модель.bin"\r\n\r\nweights\r\n'.encode("koi8-r")
    response = post_raw(
        client, writer, body + f"--{BOUNDARY}--\r\n".encode(), params="; charset=koi8-r"
    )
    assert response.status_code == 201, response.text
    assert response.json()["artifacts"][0]["name"] == "модель.bin"
