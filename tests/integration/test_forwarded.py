"""`mlgate serve` behind a TLS proxy: forwarded headers are believed only from listed proxies."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from mlgate.runtime import Runtime
from tests.conftest import TEST_SECRET, KeyFactory
from tests.integration.processes import MLGATE, free_port, wait_healthy

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # no store involved


def store_options(runtime: Runtime) -> list[str]:
    settings = runtime.settings
    return [MLGATE, "--database-url", settings.database_url, "--data-dir", str(settings.data_dir)]


@contextmanager
def serving(runtime: Runtime, **env: str) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [*store_options(runtime), "serve", "--port", str(port)],
        env={**os.environ, "MLGATE_SECRET_KEY": TEST_SECRET, "MLGATE_LOG_LEVEL": "WARNING", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)


def sign_in_cookie(url: str, key: str, **headers: str) -> str:
    answer = httpx.post(
        f"{url}/ui/login",
        data={"key": key},
        headers={"Sec-Fetch-Site": "same-origin", **headers},
        timeout=10,
    )
    assert answer.status_code == 303, answer.text
    return answer.headers["set-cookie"]


def test_the_web_cookie_is_secure_when_a_believed_proxy_says_https(
    runtime: Runtime, make_key: KeyFactory
) -> None:
    key = make_key("registry:read")
    with serving(runtime) as url:  # by default the proxy on this host is believed
        assert "secure" in sign_in_cookie(url, key, **{"X-Forwarded-Proto": "https"}).lower()
        assert "secure" not in sign_in_cookie(url, key).lower()
    with serving(runtime, MLGATE_FORWARDED_ALLOW_IPS="10.9.9.9") as url:  # another proxy
        assert "secure" not in sign_in_cookie(url, key, **{"X-Forwarded-Proto": "https"}).lower()


def test_a_proxy_list_that_is_no_address_stops_serve_with_one_line(runtime: Runtime) -> None:
    done = subprocess.run(
        [*store_options(runtime), "serve", "--port", str(free_port())],
        env={**os.environ, "MLGATE_SECRET_KEY": TEST_SECRET, "MLGATE_FORWARDED_ALLOW_IPS": "proxy"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: setting forwarded_allow_ips (MLGATE_FORWARDED_ALLOW_IPS")
    assert "'proxy' is not an address or a network" in done.stderr
    assert "Traceback" not in done.stderr
