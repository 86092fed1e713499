"""An upload over the wire is spooled to disk as it arrives, however many artifacts it holds."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import httpx
import pytest

from mlgate.app import create_app
from mlgate.config import Settings
from mlgate.runtime import Runtime
from tests.integration.conftest import start_server

FILES = 120
FILE_BYTES = 512 * 1024  # each under Starlette's 1 MiB in-memory spool
BOUNDARY = "mlgate-test-boundary"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"max_upload_bytes": 2 * FILES * FILE_BYTES})


def _body() -> Iterator[bytes]:
    for index in range(FILES):
        yield (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="artifact"; '
            f'filename="shard-{index:03}.bin"\r\n\r\n'
        ).encode()
        for _ in range(FILE_BYTES // (64 * 1024)):
            yield index.to_bytes(4, "big") + bytes(64 * 1024 - 4)
        yield b"\r\n"
    yield f"--{BOUNDARY}--\r\n".encode()


def test_many_small_artifacts_are_not_held_in_memory(
    runtime: Runtime, writer: dict[str, str]
) -> None:
    # 120 files of 512 KiB each stayed in memory until the request ended (60 MiB here; 1,000
    # files of just under 1 MiB held about 1 GB in a server).
    live, thread = start_server(create_app(runtime=runtime))
    try:
        with httpx.Client(base_url=live.url, headers=writer, timeout=120) as http:
            assert http.post("/api/v1/models", json={"name": "shards"}).status_code == 201
            tracemalloc.start()
            try:
                response = http.post(
                    "/api/v1/models/shards/versions",
                    content=_body(),
                    headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"},
                )
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    finally:
        live.server.should_exit = True
        thread.join(timeout=10)
    assert response.status_code == 201, response.text
    assert len(response.json()["artifacts"]) == FILES
    assert peak < FILES * FILE_BYTES // 4, f"peak {peak} bytes traced during the upload"
