"""`mlgate serve` writes JSON lines on stderr, one access line per gateway request, no payloads."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import httpx
from sqlalchemy import text

from mlgate.runtime import Runtime
from tests.conftest import TEST_SECRET, KeyFactory, bearer
from tests.integration import world
from tests.integration.processes import MLGATE, free_port, wait_healthy

ROWS = [[5.1, 3.518273, 1.4, 0.2]]  # the second value is easy to spot in a log


def serve_and_call(
    runtime: Runtime, log: Path, key: str, route: str = "iris", **env: str
) -> tuple[list[httpx.Response], str]:
    """Start a gateway, call it twice (good key, bad key), stop it; its answers and its log."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = runtime.settings
    command = [
        MLGATE,
        "--database-url",
        settings.database_url,
        "--data-dir",
        str(settings.data_dir),
    ]
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [*command, "serve", "--role", "gateway", "--port", str(port)],
            env={**os.environ, "MLGATE_SECRET_KEY": TEST_SECRET, "MLGATE_LOG_LEVEL": "INFO", **env},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            wait_healthy(url, process)
            predict = f"{url}/v1/routes/{route}/predict"
            answers = [
                httpx.post(predict, json={"inputs": ROWS}, headers=bearer(key), timeout=10),
                httpx.post(predict, json={"inputs": ROWS}, headers=bearer("mlg_nope"), timeout=10),
            ]
        finally:
            process.send_signal(signal.SIGTERM)  # a clean stop: every line is written
            process.wait(timeout=20)
    return answers, log.read_text()


def test_each_gateway_request_gets_one_json_access_line_without_payload_or_key(
    runtime: Runtime, iris_onnx: bytes, make_key: KeyFactory, tmp_path: Path
) -> None:
    world.served_model(runtime, "iris", iris_onnx)
    world.create_route(runtime, name="iris", model="iris")
    key = make_key("gateway:invoke")
    answers, written = serve_and_call(runtime, tmp_path / "serve.log", key)
    assert [a.status_code for a in answers] == [200, 401]
    lines = [json.loads(line) for line in written.splitlines()]
    assert {line["level"] for line in lines} <= {"INFO", "WARNING", "ERROR"}
    assert any(line["logger"].startswith("uvicorn") for line in lines)  # one format for all
    assert not any(line["logger"].startswith("alembic") for line in lines)  # /readyz is quiet
    access = [line for line in lines if line["logger"] == "mlgate.access"]
    assert [line["status"] for line in access] == [200, 401]
    served, refused = access
    assert served["route"] == refused["route"] == "iris"
    assert (served["model"], served["version"], served["degraded"]) == ("iris", 1, "false")
    assert served["request_id"] == answers[0].headers["x-request-id"]
    assert served["latency_ms"] > 0
    with runtime.db.engine.connect() as connection:
        key_ids = set(connection.execute(text("SELECT id FROM api_keys")).scalars())
    assert served["key_id"] in key_ids
    assert refused["key_id"] is None
    assert refused["model"] is None
    assert key not in written
    assert "mlg_nope" not in written
    assert "3.518273" not in written  # an input value


def test_access_lines_can_be_turned_off_and_logs_can_be_text(
    runtime: Runtime, iris_onnx: bytes, make_key: KeyFactory, tmp_path: Path
) -> None:
    world.served_model(runtime, "iris", iris_onnx)
    world.create_route(runtime, name="iris", model="iris")
    key = make_key("gateway:invoke")
    answers, written = serve_and_call(
        runtime, tmp_path / "serve.log", key, MLGATE_ACCESS_LOG="false", MLGATE_LOG_FORMAT="text"
    )
    assert [a.status_code for a in answers] == [200, 401]
    assert " INFO uvicorn.error: " in written  # text lines: time, level, logger, message
    assert "mlgate.access" not in written


def test_a_path_cannot_add_lines_to_a_text_log(
    runtime: Runtime, iris_onnx: bytes, make_key: KeyFactory, tmp_path: Path
) -> None:
    world.served_model(runtime, "iris", iris_onnx)
    world.create_route(runtime, name="iris", model="iris")
    # CR LF, and U+2028 (a line break to splitlines), and a space: all kept inside one value.
    forged = "iris%E2%80%A8x%0D%0A2026-12-04 10:00:00,000 INFO mlgate.access: request FORGED"
    answers, written = serve_and_call(
        runtime,
        tmp_path / "serve.log",
        make_key("gateway:invoke"),
        forged,
        MLGATE_LOG_FORMAT="text",
    )
    assert [a.status_code for a in answers] == [404, 401]
    access = [line for line in written.splitlines() if "mlgate.access" in line]
    assert len(access) == 2, written
    quoted = 'path="/v1/routes/iris\\u2028x\\r\\n2026-12-04 10:00:00,000 INFO mlgate.access'
    assert all(quoted in line for line in access), access
