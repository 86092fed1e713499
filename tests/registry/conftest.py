"""Registry fixtures: a writer key and a helper to upload a version over HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from mlgate.runtime import Runtime
from tests.cli.conftest import cli  # noqa: F401  (the `mlgate` entry point, in-process)
from tests.conftest import KeyFactory, bearer


@pytest.fixture
def writer(make_key: KeyFactory) -> dict[str, str]:
    return bearer(make_key("registry:write"))


def upload(
    client: TestClient,
    headers: dict[str, str],
    model: str,
    files: list[tuple[str, bytes]],
    metadata: dict[str, Any] | None = None,
) -> httpx.Response:
    parts: list[tuple[str, Any]] = [("artifact", (name, data)) for name, data in files]
    return client.post(
        f"/api/v1/models/{model}/versions",
        files=parts,
        data={"metadata": json.dumps(metadata or {})},
        headers=headers,
    )


def blob_files(runtime: Runtime) -> list[Path]:
    root = runtime.settings.blob_dir
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
