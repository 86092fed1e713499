"""A real mlgate server on an ephemeral loopback port, for tests that go over the wire."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mlgate.app import create_app
from mlgate.runtime import Runtime
from mlgate.server import server_config


@dataclass
class LiveServer:
    url: str
    server: uvicorn.Server


def wait_until(condition: object, *, timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``condition()`` until true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.01)


def start_server(app: FastAPI) -> tuple[LiveServer, threading.Thread]:
    # mlgate serve's own settings (its HTTP protocol included), on a free port.
    config = server_config(app, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, what="uvicorn to start")
    port = server.servers[0].sockets[0].getsockname()[1]
    return LiveServer(url=f"http://127.0.0.1:{port}", server=server), thread


@pytest.fixture
def live_server(runtime: Runtime) -> Iterator[LiveServer]:
    live, thread = start_server(create_app(runtime=runtime))
    yield live
    live.server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def iris_onnx() -> bytes:
    """A logistic regression on iris (ships with scikit-learn), converted with skl2onnx."""
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    features, labels = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(features, labels)
    onnx_model = to_onnx(
        model, features[:1].astype("float32"), options={id(model): {"zipmap": False}}
    )
    return onnx_model.SerializeToString()


@pytest.fixture
def gateway_client(runtime: Runtime, iris_onnx: bytes) -> Iterator[TestClient]:
    """Route ``iris`` serving ``iris_onnx`` (approved, deployed) in-process, over the app."""
    from tests.integration import world

    world.served_model(runtime, "iris", iris_onnx)
    world.create_route(runtime, name="iris", model="iris")
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        yield client
