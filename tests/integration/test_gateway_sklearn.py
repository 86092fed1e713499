"""The gateway serving scikit-learn models in-process from skops files, on both databases."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest
import skops.io as sio
from fastapi.testclient import TestClient
from httpx import Response
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier

from mlgate.app import create_app
from mlgate.runtime import Runtime
from tests.conftest import KeyFactory, bearer
from tests.integration import world

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


@pytest.fixture(scope="module")
def forest() -> RandomForestClassifier:
    features, labels = load_iris(return_X_y=True)
    return RandomForestClassifier(n_estimators=10, random_state=0).fit(features, labels)


def predict_and_check(runtime: Runtime, key: str) -> tuple[Response, dict[str, Any]]:
    """One prediction through route 'flowers', and /readyz's answer after it."""
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        response = client.post(
            "/v1/routes/flowers/predict", json={"inputs": ROWS}, headers=bearer(key)
        )
        ready: dict[str, Any] = client.get("/readyz").json()
    return response, ready


def test_an_approved_skops_model_is_served_and_answers_like_scikit_learn(
    runtime: Runtime, make_key: KeyFactory, forest: RandomForestClassifier
) -> None:
    world.served_model(
        runtime, "flowers", sio.dumps(forest), framework="sklearn", artifact_name="model.skops"
    )
    world.create_route(runtime, name="flowers", model="flowers")
    response, ready = predict_and_check(runtime, make_key("gateway:invoke"))
    assert response.status_code == 200, response.text
    outputs = response.json()["outputs"]
    assert outputs["labels"] == forest.predict(np.asarray(ROWS)).tolist()
    assert np.allclose(outputs["probabilities"], forest.predict_proba(np.asarray(ROWS)))
    assert response.headers["x-mlgate-model"] == "flowers"
    assert response.headers["x-mlgate-version"] == "1"
    assert ready["refused_targets"] == []


def test_a_pickled_sklearn_version_is_never_loaded_and_its_fallback_serves(
    runtime: Runtime, make_key: KeyFactory, forest: RandomForestClassifier, iris_onnx: bytes
) -> None:
    pickled = world.served_model(
        runtime, "flowers", pickle.dumps(forest), framework="sklearn", artifact_name="model.pkl"
    )
    fallback = world.register(runtime, "flowers", iris_onnx)
    world.approve(runtime, "flowers", fallback)
    world.create_route(
        runtime,
        name="flowers",
        model="flowers",
        fallbacks=[{"model": "flowers", "version": fallback}],
    )
    response, ready = predict_and_check(runtime, make_key("gateway:invoke"))
    assert response.status_code == 200, response.text
    assert response.headers["x-mlgate-version"] == str(fallback)
    assert ready["refused_targets"] == [f"flowers@{pickled}"]
