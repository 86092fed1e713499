"""`mlgate demo` leaves a newcomer with a reviewed, deployed, callable model."""

from __future__ import annotations

import json
import stat

from fastapi.testclient import TestClient

from mlgate.app import create_app
from mlgate.auth.schemas import Principal
from mlgate.demo import seed_demo
from mlgate.registry import service as registry
from mlgate.runtime import Runtime
from tests.conftest import bearer


def test_demo_seeds_once_and_its_route_answers(runtime: Runtime) -> None:
    operator = Principal(name="local:newcomer", scopes=frozenset({"admin"}))
    first = seed_demo(runtime, actor=operator)
    again = seed_demo(runtime, actor=operator)
    assert first.created
    assert not again.created
    assert stat.S_IMODE(first.keys_file.stat().st_mode) == 0o600
    reviewers = json.loads(first.keys_file.read_text())
    assert len({entry["owner"] for entry in reviewers.values()}) == 7  # six stages + the app
    with runtime.db.unit_of_work() as session:
        versions = registry.list_versions(session, model_name="iris-demo").items
    assert {v.version: v.status for v in versions} == {1: "approved", 2: "approved"}
    app_key = first.app_key_file.read_text().strip()
    with TestClient(create_app(runtime=runtime)) as client:
        response = client.post(
            "/v1/routes/iris/predict",
            json={"inputs": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]},
            headers=bearer(app_key),
        )
    assert response.status_code == 200, response.text
    assert response.json()["outputs"]["labels"] == [0, 2]
    assert response.headers["x-mlgate-version"] == "2"
