"""Two gateway processes sharing Redis: one combined rate limit; one replica dies, one serves."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from mlgate.runtime import Runtime
from tests.conftest import TEST_SECRET, KeyFactory, bearer
from tests.integration import world
from tests.integration.processes import MLGATE, free_port, wait_healthy

ROWS = [[5.1, 3.5, 1.4, 0.2]]


@pytest.fixture
def replicas(
    runtime: Runtime, iris_onnx: bytes
) -> Iterator[list[tuple[str, subprocess.Popen[bytes]]]]:
    world.served_model(runtime, "iris", iris_onnx)
    world.create_route(runtime, name="limited", model="iris", limits={"route_rate": "60/minute"})
    world.create_route(runtime, name="free", model="iris")
    env = {
        **os.environ,
        "MLGATE_SECRET_KEY": TEST_SECRET,
        "MLGATE_REDIS_URL": "redis://127.0.0.1:6379/0",
        "MLGATE_REDIS_PREFIX": f"test-{uuid.uuid4().hex[:8]}",
        "MLGATE_LOG_LEVEL": "WARNING",
    }
    started = []
    for _ in range(2):
        port = free_port()
        process = subprocess.Popen(
            [
                MLGATE,
                "--database-url",
                runtime.settings.database_url,
                "--data-dir",
                str(runtime.settings.data_dir),
                "serve",
                "--role",
                "gateway",
                "--port",
                str(port),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        started.append((f"http://127.0.0.1:{port}", process))
    try:
        for url, process in started:
            wait_healthy(url, process)
        yield started
    finally:
        for _, process in started:
            process.kill()
            process.wait(timeout=10)


def test_two_replicas_hold_one_combined_rate_limit(
    replicas: list[tuple[str, subprocess.Popen[bytes]]], make_key: KeyFactory
) -> None:
    key = make_key("gateway:invoke")
    urls = [url for url, _ in replicas] * 75  # 150 requests, alternating replicas

    def call(url: str) -> int:
        response = httpx.post(
            f"{url}/v1/routes/limited/predict",
            json={"inputs": ROWS},
            headers=bearer(key),
            timeout=10,
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(call, urls))
    allowed = codes.count(200)
    assert codes.count(200) + codes.count(429) == len(codes)
    assert 57 <= allowed <= 63  # one limit of 60/minute across both replicas, within 5%


def test_killing_one_replica_leaves_the_other_serving(
    replicas: list[tuple[str, subprocess.Popen[bytes]]], make_key: KeyFactory
) -> None:
    key = make_key("gateway:invoke")
    (doomed_url, doomed), (survivor_url, _) = replicas
    with httpx.Client(headers=bearer(key), timeout=10) as http:
        for url in (doomed_url, survivor_url):
            assert (
                http.post(f"{url}/v1/routes/free/predict", json={"inputs": ROWS}).status_code == 200
            )
        with ThreadPoolExecutor(max_workers=4) as pool:
            survivor_calls = [
                pool.submit(
                    http.post, f"{survivor_url}/v1/routes/free/predict", json={"inputs": ROWS}
                )
                for _ in range(100)
            ]
            doomed.send_signal(signal.SIGKILL)
            doomed.wait(timeout=10)
            after = [
                http.post(f"{survivor_url}/v1/routes/free/predict", json={"inputs": ROWS})
                for _ in range(20)
            ]
            codes = [f.result().status_code for f in survivor_calls] + [
                r.status_code for r in after
            ]
    assert codes == [200] * 120
    with pytest.raises(httpx.TransportError):
        httpx.post(f"{doomed_url}/v1/routes/free/predict", json={"inputs": ROWS}, timeout=2)
