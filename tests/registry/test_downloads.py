"""Artifact downloads: the bytes served are the bytes registered, or no whole artifact at all."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from mlgate.app import create_app
from mlgate.auth.schemas import Principal
from mlgate.registry import service as registry
from mlgate.registry.blobstore import CHUNK
from mlgate.registry.schemas import ModelCreate, VersionCreate
from mlgate.runtime import Runtime
from tests.integration.conftest import LiveServer, start_server

WRITER = Principal(name="w", scopes=frozenset({"registry:write"}))


def register(runtime: Runtime, files: dict[str, bytes], model: str = "churn") -> None:
    with runtime.db.unit_of_work() as session:
        if model not in {m.name for m in registry.list_models(session).items}:
            registry.create_model(session, model_in=ModelCreate(name=model), actor=WRITER)
        registry.register_version(
            session,
            blobs=runtime.blobs,
            model_name=model,
            version_in=VersionCreate(),
            uploads=[registry.ArtifactUpload(n, io.BytesIO(d)) for n, d in files.items()],
            max_bytes=16 * CHUNK,
            actor=WRITER,
        )


def damage(runtime: Runtime, data: bytes, *, at: int = 0, truncate: bool = False) -> Path:
    """Change the stored blob of ``data`` on disk, as bit rot or a careless operator would."""
    path = runtime.blobs.path(hashlib.sha256(data).hexdigest())
    os.chmod(path, 0o644)
    with path.open("r+b") as handle:
        if truncate:
            handle.truncate(len(data) - 1)
        else:
            handle.seek(at)
            handle.write(bytes([data[at] ^ 0xFF]))
    return path


@pytest.fixture
def live(runtime: Runtime) -> Iterator[LiveServer]:
    server, thread = start_server(create_app(runtime=runtime))
    yield server
    server.server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.parametrize("truncate", [False, True], ids=["bit-flip", "truncated"])
def test_a_damaged_small_blob_is_a_500_problem_not_its_bytes(
    client: TestClient, writer: dict[str, str], runtime: Runtime, truncate: bool
) -> None:
    data = b"weights " * 100
    register(runtime, {"model.bin": data})
    damage(runtime, data, at=10, truncate=truncate)
    response = client.get("/api/v1/models/churn/versions/1/artifacts/model.bin", headers=writer)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "'model.bin' of churn@1 is damaged in the blob store" in response.json()["detail"]


@pytest.mark.parametrize("asked", [None, "bytes=0-", "bytes=10-20"], ids=["whole", "all", "part"])
def test_head_on_a_damaged_small_blob_answers_what_get_does(
    client: TestClient, writer: dict[str, str], runtime: Runtime, asked: str | None
) -> None:
    # HEAD said 200 with the registered size and sha256 where GET said 500: a client checked
    # with HEAD, then could not download. A part is not checked, by HEAD or GET (span's doc).
    data = b"weights " * 100
    register(runtime, {"model.bin": data})
    damage(runtime, data, at=3)  # the same size, other bytes
    path = "/api/v1/models/churn/versions/1/artifacts/model.bin"
    headers = {**writer, **({"Range": asked} if asked else {})}
    got = client.get(path, headers=headers)
    head = client.head(path, headers=headers)
    assert head.status_code == got.status_code == (206 if asked == "bytes=10-20" else 500)


def test_a_large_damaged_blob_is_cut_off_before_its_last_byte(
    live: LiveServer, writer: dict[str, str], runtime: Runtime
) -> None:
    """Past the first chunk the status is sent already: the connection breaks instead, so a
    client never holds the whole damaged file as if it were the artifact. HEAD cannot tell
    without reading it all, and answers the 200 GET sends."""
    data = os.urandom(3 * CHUNK + 17)
    register(runtime, {"model.bin": data})
    damage(runtime, data, at=2 * CHUNK + 5)
    received = bytearray()
    with httpx.Client(base_url=live.url, headers=writer) as http:
        head = http.head("/api/v1/models/churn/versions/1/artifacts/model.bin")
    assert head.status_code == 200

    def download() -> None:
        path = "/api/v1/models/churn/versions/1/artifacts/model.bin"
        with httpx.Client(base_url=live.url, headers=writer) as http, http.stream("GET", path) as r:
            assert r.status_code == 200
            for chunk in r.iter_raw():
                received.extend(chunk)

    with pytest.raises(httpx.RemoteProtocolError):
        download()
    assert 0 < len(received) < len(data)


def test_a_blob_missing_from_disk_is_a_server_error_not_a_404(
    client: TestClient, writer: dict[str, str], runtime: Runtime
) -> None:
    # A 404 told clients the artifact does not exist; the registry says it does.
    data = b"weights"
    register(runtime, {"model.bin": data})
    runtime.blobs.path(hashlib.sha256(data).hexdigest()).unlink()
    response = client.get("/api/v1/models/churn/versions/1/artifacts/model.bin", headers=writer)
    assert response.status_code == 500
    assert "'model.bin' of churn@1 is missing from the blob store" in response.json()["detail"]


def test_registering_the_same_bytes_again_repairs_a_damaged_blob(
    client: TestClient, writer: dict[str, str], runtime: Runtime
) -> None:
    data = b"weights " * 100
    register(runtime, {"model.bin": data})
    damage(runtime, data, at=3)
    register(runtime, {"model.bin": data})  # deduplicated: it used to keep the damaged copy
    for version in (1, 2):
        response = client.get(
            f"/api/v1/models/churn/versions/{version}/artifacts/model.bin", headers=writer
        )
        assert response.status_code == 200
        assert response.content == data


@pytest.mark.parametrize(
    ("name", "disposition"),
    [
        ("model.onnx", "attachment; filename=\"model.onnx\"; filename*=UTF-8''model.onnx"),
        ("dir/vocab.txt", "attachment; filename=\"vocab.txt\"; filename*=UTF-8''vocab.txt"),
        (
            'q"uote;x=1.bin',
            "attachment; filename=\"q_uote;x=1.bin\"; filename*=UTF-8''q%22uote%3Bx%3D1.bin",
        ),
        (
            "modèle 模型.onnx",
            'attachment; filename="mod_le __.onnx"; '
            "filename*=UTF-8''mod%C3%A8le%20%E6%A8%A1%E5%9E%8B.onnx",
        ),
    ],
)
def test_a_download_names_its_file_safely(
    client: TestClient, writer: dict[str, str], runtime: Runtime, name: str, disposition: str
) -> None:
    """RFC 6266: an ASCII fallback with nothing that could end the quoted string, and the exact
    name as RFC 8187 ``filename*`` (a name can hold no CR or LF: registration refuses those)."""
    register(runtime, {name: b"bytes"})
    response = client.get(f"/api/v1/models/churn/versions/1/artifacts/{name}", headers=writer)
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"] == disposition


HEADERS = (
    "content-length",
    "content-type",
    "content-range",
    "accept-ranges",
    "etag",
    "x-content-sha256",
    "content-disposition",
)


@pytest.mark.parametrize("asked", [None, "bytes=100-", "bytes=-0"], ids=["whole", "206", "416"])
def test_head_answers_what_get_would_without_the_body(
    live: LiveServer, writer: dict[str, str], runtime: Runtime, asked: str | None
) -> None:
    # HEAD was a 405: a client could not learn an artifact's size and sha256 without it.
    data = os.urandom(2 * CHUNK + 17)
    register(runtime, {"dir/model.bin": data})
    path = "/api/v1/models/churn/versions/1/artifacts/dir/model.bin"
    headers = {**writer, **({"Range": asked} if asked else {})}
    with httpx.Client(base_url=live.url, headers=headers) as http:
        got = http.get(path)
        head = http.head(path)
    assert head.status_code == got.status_code == {None: 200, "bytes=100-": 206}.get(asked, 416)
    assert head.content == b""
    assert {h: head.headers.get(h) for h in HEADERS} == {h: got.headers.get(h) for h in HEADERS}
    if asked is None:
        assert head.headers["content-length"] == str(len(data))
        assert head.headers["x-content-sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc/self/io")
def test_head_reads_none_of_the_artifact(
    client: TestClient, writer: dict[str, str], runtime: Runtime
) -> None:
    data = os.urandom(8 * CHUNK)
    register(runtime, {"model.bin": data})
    before = _read_bytes()
    response = client.head("/api/v1/models/churn/versions/1/artifacts/model.bin", headers=writer)
    read = _read_bytes() - before
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(data))
    assert read < CHUNK, f"{read} bytes read"


def _read_bytes() -> int:
    """Bytes this process has read so far, from any file or socket (Linux)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split(":")[1])
    raise AssertionError("no rchar in /proc/self/io")
