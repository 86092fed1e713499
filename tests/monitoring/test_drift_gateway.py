"""What the gateway serves in the shapes its in-process backends take is what drift counts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sklearn.datasets import load_iris

from mlgate.app import create_app
from mlgate.monitoring import service as monitoring
from mlgate.monitoring.collector import DriftCollector
from mlgate.monitoring.schemas import DriftReferenceCreate
from mlgate.runtime import Runtime
from tests.conftest import KeyFactory, bearer
from tests.faults.upstream import FaultyUpstream
from tests.integration import world

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
IRIS = load_iris().data


@pytest.fixture(scope="module")
def iris_onnx() -> bytes:
    """A logistic regression on iris whose one input, ``X``, takes rows or one row."""
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=500).fit(IRIS, load_iris().target)
    options = {id(model): {"zipmap": False}}
    return to_onnx(model, IRIS[:1].astype("float32"), options=options).SerializeToString()


@pytest.fixture
def gateway(runtime: Runtime, iris_onnx: bytes) -> Iterator[TestClient]:
    """Route ``iris`` serving the model in-process, with no input schema of its own."""
    world.served_model(runtime, "iris", iris_onnx, schema=None)
    world.create_route(runtime, name="iris", model="iris")
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        yield client


def test_one_row_flat_or_as_a_named_tensor_is_counted_as_served(
    gateway: TestClient, make_key: KeyFactory
) -> None:
    reference = {"columns": FEATURES, "rows": IRIS.tolist(), "bins": 5}
    put = gateway.put(
        "/api/v1/models/iris/versions/1/drift-reference",
        json=reference,
        headers=bearer(make_key("registry:write")),
    )
    assert put.status_code == 200, put.text
    app = gateway.app.state.gateway  # type: ignore[attr-defined]
    gateway.portal.call(app.refresh)  # type: ignore[union-attr]
    caller = bearer(make_key("gateway:invoke"))
    for index, row in enumerate(IRIS.tolist()):
        inputs = row if index % 2 else {"X": [row]}  # [5.1, ...] or {"X": [[5.1, ...]]}
        answer = gateway.post("/v1/routes/iris/predict", json={"inputs": inputs}, headers=caller)
        assert answer.status_code == 200, answer.text
    gateway.portal.call(app.drift.flush)  # type: ignore[union-attr]

    report = gateway.get("/api/v1/routes/iris/drift", headers=bearer(make_key("routes:read")))

    assert report.status_code == 200, report.text
    (target,) = report.json()["targets"]
    assert (target["rows"], target["requests"], target["unreadable"]) == (150, 150, 0)
    assert target["status"] == "no_drift"  # the reference itself, served a row at a time
    assert all(f["psi"] == 0.0 for f in target["features"])


def test_a_request_costs_the_drift_queue_the_body_it_came_in(
    runtime: Runtime, make_key: KeyFactory
) -> None:
    """What a served body holds beyond the reference's features is held until the flush too."""
    with FaultyUpstream() as upstream:
        world.upstream_route(runtime, "echo", upstream.url)
        with runtime.db.unit_of_work() as session:
            monitoring.set_reference(
                session,
                model_name="echo",
                version=1,
                reference_in=DriftReferenceCreate(
                    columns=["a"], rows=[[float(i)] for i in range(100)]
                ),
                actor=world.REQUESTER,
            )
        with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
            app = client.app.state.gateway  # type: ignore[attr-defined]
            client.portal.call(app.refresh)  # type: ignore[union-attr]
            app.drift = DriftCollector(runtime.db, capacity=10_000)  # values; 2,000,000 served
            caller = bearer(make_key("gateway:invoke"))
            junk = {f"z{i}": 0 for i in range(50_000)}  # 600 kB: no feature, never counted
            # The small one first: an empty queue takes a request of any cost.
            for inputs in ([{"a": 3.0}], [{"a": 1.0}, {"a": 2.0, **junk}]):
                answer = client.post(
                    "/v1/routes/echo/predict", json={"inputs": inputs}, headers=caller
                )
                assert answer.status_code == 200, answer.text
            client.portal.call(app.drift.flush)  # type: ignore[union-attr]
            report = client.get(
                "/api/v1/routes/echo/drift", headers=bearer(make_key("routes:read"))
            )

    assert app.drift.dropped == 1
    (target,) = report.json()["targets"]
    assert (target["requests"], target["rows"]) == (1, 1)
