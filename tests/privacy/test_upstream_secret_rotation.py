"""A rotated upstream secret reaches the gateway's calls at its next refresh, without a restart."""

from __future__ import annotations

from fastapi.testclient import TestClient
from pydantic import SecretStr

from mlgate.app import create_app
from mlgate.auth.schemas import Principal
from mlgate.privacy import service
from mlgate.privacy.keys import PrivacyKeys
from mlgate.privacy.schemas import SecretSet
from mlgate.runtime import Runtime
from tests.conftest import KeyFactory, bearer
from tests.privacy.conftest import refresh, serve_upstream_route
from tests.privacy.upstream import EchoUpstream

OLD, NEW = "old-token-" + "a" * 24, "new-token-" + "b" * 24


def _set(runtime: Runtime, keys: PrivacyKeys, admin: Principal, value: str) -> None:
    with runtime.db.unit_of_work() as session:
        service.set_secret(
            session,
            cipher=keys.cipher,
            name="llm-token",
            secret_in=SecretSet(value=SecretStr(value)),
            actor=admin,
        )


def test_the_next_call_after_a_rotation_carries_the_new_secret(
    runtime: Runtime,
    keys: PrivacyKeys,
    admin: Principal,
    echo: EchoUpstream,
    make_key: KeyFactory,
) -> None:
    _set(runtime, keys, admin, OLD)
    serve_upstream_route(runtime, route="llm", model="llm", url=echo.url, secret="llm-token")
    key = make_key("gateway:invoke")
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:

        def call() -> str:
            answer = client.post(
                "/v1/routes/llm/predict", json={"inputs": [1]}, headers=bearer(key)
            )
            assert answer.status_code == 200, answer.text
            return echo.seen_headers[-1]["Authorization"]

        assert call() == f"Bearer {OLD}"
        _set(runtime, keys, admin, NEW)
        refresh(client)  # what the refresher does within a second of the audit head moving
        assert call() == f"Bearer {NEW}"
        refresh(client)  # nothing changed: the backend is kept
        assert call() == f"Bearer {NEW}"
