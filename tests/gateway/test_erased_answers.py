"""An erasure reaches the answers a gateway keeps for its ``cached`` degradation mode.

The erasure runs from other handles on the store (its own ``Runtime`` and key store), as the
control plane or ``mlgate privacy erase`` on another host would: the gateway learns of it by
polling the store, as a gateway-only replica does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mlgate.app import create_app
from mlgate.auth.schemas import Principal
from mlgate.privacy import service
from mlgate.privacy.keys import PrivacyKeys
from mlgate.runtime import Runtime
from tests.conftest import KeyFactory, bearer
from tests.faults.upstream import FaultyUpstream, Status
from tests.integration import world
from tests.integration.conftest import wait_until

ALICE = "alice@example.com"
BOB = "bob-4711"


@pytest.fixture
def upstream() -> Iterator[FaultyUpstream]:
    with FaultyUpstream() as server:
        yield server


def _predict(client: TestClient, key: str, value: int, subject: str) -> Any:
    headers = {**bearer(key), "X-MLGate-Subject": subject}
    return client.post("/v1/routes/echo/predict", json={"inputs": [value]}, headers=headers)


def test_an_erasure_drops_the_subjects_cached_answers_and_keeps_the_others(
    runtime: Runtime,
    upstream: FaultyUpstream,
    make_key: KeyFactory,
    control: tuple[Runtime, PrivacyKeys],
) -> None:
    world.upstream_route(
        runtime,
        "echo",
        upstream.url,
        degradation={"mode": "cached", "cache_ttl_seconds": 3600},
        resilience={"deadline_ms": 300, "attempt_timeout_ms": 100, "max_attempts": 1},
    )
    key = make_key("gateway:invoke")
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        assert _predict(client, key, 1, ALICE).status_code == 200
        assert _predict(client, key, 2, BOB).status_code == 200
        upstream.fault = Status(503)
        cached = _predict(client, key, 1, ALICE)
        assert (cached.status_code, cached.headers["x-mlgate-degraded"]) == (200, "cached")

        service.erase_job(*control, subject=ALICE, actor=Principal("dpo"), dry_run=False)

        wait_until(
            lambda: _predict(client, key, 1, ALICE).status_code == 503,
            what="the erased subject's cached answer to be dropped",
        )
        kept = _predict(client, key, 2, BOB)
    assert (kept.status_code, kept.headers["x-mlgate-degraded"]) == (200, "cached")
    assert kept.json()["outputs"] == [2]
