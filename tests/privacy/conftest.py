"""Fixtures for the privacy integration tests: keys, loopback upstreams, a served echo route."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mlgate.cli.main import run
from mlgate.gateway.schemas import TargetSpec, Upstream
from mlgate.privacy.keys import PrivacyKeys
from mlgate.runtime import Runtime
from tests.integration import world
from tests.privacy.upstream import EchoUpstream


@pytest.fixture
def keys(runtime: Runtime) -> Iterator[PrivacyKeys]:
    privacy = PrivacyKeys(runtime)
    yield privacy
    privacy.close()


@pytest.fixture
def echo() -> Iterator[EchoUpstream]:
    with EchoUpstream() as upstream:
        yield upstream


@pytest.fixture
def failing() -> Iterator[EchoUpstream]:
    with EchoUpstream(fail=True) as upstream:
        yield upstream


def serve_upstream_route(
    runtime: Runtime, *, route: str, model: str, url: str, secret: str | None = None, **spec: Any
) -> None:
    """An approved model served by an HTTP upstream, behind route ``route``."""
    version = world.register(runtime, model, b"not a real model", schema=None)
    world.approve(runtime, model, version)
    world.deploy(runtime, model, version)
    target = TargetSpec(model=model, upstream=Upstream(url=url, secret=secret))
    world.create_route(runtime, name=route, model=model, primary=target, **spec)


def refresh(client: TestClient) -> None:
    client.portal.call(client.app.state.gateway.refresh)  # type: ignore[attr-defined]


def flush_logs(client: TestClient) -> None:
    client.portal.call(client.app.state.gateway.log.flush)  # type: ignore[attr-defined]


@dataclass
class CliResult:
    code: int
    out: str
    err: str


CliRunner = Callable[..., CliResult]


@pytest.fixture
def cli(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> CliRunner:
    """The real ``mlgate`` entry point against this test's store and data dir."""
    data_dir = tmp_path / "data"
    from tests.conftest import TEST_SECRET

    monkeypatch.setenv("MLGATE_SECRET_KEY", TEST_SECRET)

    def invoke(*args: str, stdin: str | None = None) -> CliResult:
        capsys.readouterr()
        if stdin is not None:
            import io

            monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = run(["--database-url", db_url, "--data-dir", str(data_dir), *args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return invoke
