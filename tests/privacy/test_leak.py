"""No plaintext secret anywhere: logs, problem responses, database rows, key store, data dir.

The test stores an upstream secret, issues API keys, configures a master key, then drives
errors, debug logging and a failing upstream that answers 500 with every header it received
(the secret included), and finally searches everything mlgate wrote.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import MetaData, create_engine, select
from sqlalchemy.engine import make_url

from mlgate.app import create_app
from mlgate.config import Settings
from mlgate.runtime import Runtime
from tests.conftest import TEST_SECRET, KeyFactory, bearer
from tests.privacy.conftest import flush_logs, refresh, serve_upstream_route
from tests.privacy.upstream import EchoUpstream

MASTER = os.urandom(32).hex()
UPSTREAM_SECRET = "tok-" + os.urandom(16).hex()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"master_key": SecretStr(MASTER)})


def _rows(url: str) -> Iterator[tuple[str, Any]]:
    engine = create_engine(url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        with engine.connect() as connection:
            for table in metadata.sorted_tables:
                for row in connection.execute(select(table)):
                    for value in row:
                        yield table.name, value
    finally:
        engine.dispose()


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode()


def _files(*roots: Path) -> Iterator[Path]:
    for root in roots:
        if root.is_file():
            yield root
        elif root.exists():
            yield from (p for p in root.rglob("*") if p.is_file())


def test_no_plaintext_secret_in_logs_answers_rows_or_files(
    runtime: Runtime,
    make_key: KeyFactory,
    failing: EchoUpstream,
    echo: EchoUpstream,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    privacy_key = make_key("privacy:admin")
    invoke_key = make_key("gateway:invoke")
    reader_key = make_key("registry:read")
    answers: list[str] = []
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:

        def keep(response: Any) -> Any:
            answers.append(response.text + repr(dict(response.headers)))
            return response

        stored = keep(
            client.put(
                "/api/v1/secrets/upstream-token",
                json={"value": UPSTREAM_SECRET, "description": "model server"},
                headers=bearer(privacy_key),
            )
        )
        assert stored.status_code == 200, stored.text
        bad_name = keep(
            client.put(
                "/api/v1/secrets/Bad%20Name",
                json={"value": UPSTREAM_SECRET},
                headers=bearer(privacy_key),
            )
        )
        assert bad_name.status_code == 422
        extra = keep(
            client.put(
                "/api/v1/secrets/other",
                json={"value": UPSTREAM_SECRET, "oops": UPSTREAM_SECRET},
                headers=bearer(privacy_key),
            )
        )
        assert extra.status_code == 422
        forbidden = keep(
            client.put(
                "/api/v1/secrets/other",
                json={"value": UPSTREAM_SECRET},
                headers=bearer(reader_key),
            )
        )
        assert forbidden.status_code == 403
        as_key = keep(client.get("/api/v1/secrets", headers=bearer(UPSTREAM_SECRET)))
        assert as_key.status_code == 401
        listed = keep(client.get("/api/v1/secrets", headers=bearer(privacy_key)))
        assert listed.json()[0]["name"] == "upstream-token"

        serve_upstream_route(
            runtime,
            route="leaky",
            model="leaky-m",
            url=failing.url,
            secret="upstream-token",
            log_mode="redacted",
        )
        serve_upstream_route(
            runtime,
            route="fine",
            model="fine-m",
            url=echo.url,
            secret="upstream-token",
            log_mode="full",
        )
        refresh(client)
        body = {"inputs": [{"text": "contact jane@example.com"}]}
        down = keep(
            client.post(
                "/v1/routes/leaky/predict",
                json=body,
                headers={**bearer(invoke_key), "X-MLGate-Subject": "jane"},
            )
        )
        assert down.status_code == 503
        up = keep(
            client.post(
                "/v1/routes/fine/predict",
                json=body,
                headers={**bearer(invoke_key), "X-MLGate-Subject": "jane"},
            )
        )
        assert up.status_code == 200, up.text
        assert failing.seen_headers[0]["Authorization"] == f"Bearer {UPSTREAM_SECRET}"
        assert echo.seen_headers[0]["Authorization"] == f"Bearer {UPSTREAM_SECRET}"

        chatty = logging.getLogger("mlgate.test.leak")
        chatty.debug("upstream header %s", f"Bearer {UPSTREAM_SECRET}")
        chatty.debug(
            "raw token=%s master=%s", UPSTREAM_SECRET, MASTER, extra={"tok": UPSTREAM_SECRET}
        )
        try:
            raise RuntimeError(f"upstream refused {UPSTREAM_SECRET} with key {invoke_key}")
        except RuntimeError:
            chatty.exception("call failed")
        flush_logs(client)

    secrets = {
        "upstream secret": UPSTREAM_SECRET,
        "master key": MASTER,
        "server secret": TEST_SECRET,
        "privacy key": privacy_key,
        "invoke key": invoke_key,
        "reader key": reader_key,
    }
    assert any("[REDACTED]" in r.getMessage() for r in caplog.records)
    access_lines = capsys.readouterr().err  # the gateway's access lines go to stderr
    assert '"logger":"mlgate.access"' in access_lines
    logged = [r.getMessage() + str(r.exc_text) + repr(r.__dict__) for r in caplog.records] + [
        caplog.text,
        access_lines,
    ]
    settings = runtime.settings
    rows = [(f"main:{t}", _as_bytes(v)) for t, v in _rows(settings.database_url)]
    rows += [(f"keystore:{t}", _as_bytes(v)) for t, v in _rows(settings.keystore_database_url)]
    assert any(t == "main:request_payloads" for t, _ in rows)
    assert any(t == "keystore:subject_keys" for t, _ in rows)
    roots = [settings.data_dir]
    if settings.is_sqlite:
        database = Path(str(make_url(settings.database_url).database))
        roots += list(database.parent.glob(database.name + "*"))
    files = {str(p): p.read_bytes() for p in _files(*roots)}
    assert any(name.endswith("keystore.db") for name in files)
    for label, value in secrets.items():
        assert not [line for line in logged if value in line], f"{label} in a log line"
        assert not [a for a in answers if value in a], f"{label} in an answer"
        assert not [t for t, raw in rows if value.encode() in raw], f"{label} in a row"
        assert not [n for n, raw in files.items() if value.encode() in raw], f"{label} in a file"
