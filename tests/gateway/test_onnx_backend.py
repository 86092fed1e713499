"""The in-process ONNX backend: integrity check, inputs and outputs, inference off the loop."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from skl2onnx import to_onnx
from sklearn.linear_model import LogisticRegression

from mlgate.errors import Conflict, Invalid
from mlgate.gateway.backends import InferenceRequest
from mlgate.gateway.backends.onnx import OnnxBackend

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def classifier() -> LogisticRegression:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(300, 4)).astype(np.float32)
    labels = (features[:, 0] + features[:, 1] > 0).astype(np.int64) + 2 * (features[:, 2] > 1)
    return LogisticRegression(max_iter=500).fit(features, labels)


@pytest.fixture(scope="module")
def model_file(classifier: LogisticRegression, tmp_path_factory: pytest.TempPathFactory) -> Path:
    onnx_model = to_onnx(
        classifier,
        np.zeros((1, 4), dtype=np.float32),
        options={id(classifier): {"zipmap": False}},
        target_opset=17,
    )
    path = tmp_path_factory.mktemp("models") / "clf.onnx"
    path.write_bytes(onnx_model.SerializeToString())
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
async def backend(model_file: Path, anyio_backend: str) -> AsyncIterator[OnnxBackend]:
    loaded = await OnnxBackend.load("clf", path=model_file, expected_sha256=sha256(model_file))
    yield loaded
    loaded.close()


async def test_answers_labels_and_probabilities_like_the_original_model(
    backend: OnnxBackend, classifier: LogisticRegression
) -> None:
    rows = [[0.5, 0.5, 2.0, 0.0], [-1.0, -1.0, 0.0, 0.0], [0.1, -0.2, 0.3, 0.4]]
    result = await backend.infer(InferenceRequest(rows), timeout=5)
    expected = np.asarray(rows, dtype=np.float32)
    assert result.outputs["labels"] == classifier.predict(expected).tolist()
    assert np.allclose(
        result.outputs["probabilities"], classifier.predict_proba(expected), atol=1e-5
    )
    assert set(result.outputs) == {"labels", "probabilities"}


async def test_a_single_row_is_accepted(backend: OnnxBackend) -> None:
    result = await backend.infer(InferenceRequest([0.0, 0.0, 0.0, 0.0]), timeout=5)
    assert len(result.outputs["labels"]) == 1


async def test_inference_runs_off_the_event_loop_thread(model_file: Path) -> None:
    seen: list[str] = []
    loaded = await OnnxBackend.load("clf", path=model_file, expected_sha256=sha256(model_file))
    try:
        original = loaded._session  # the real onnxruntime session, observed not replaced

        class Observed:
            def run(self, names: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
                seen.append(threading.current_thread().name)
                return list(original.run(names, feeds))

        loaded._session = Observed()
        await loaded.infer(InferenceRequest([[0.0] * 4]), timeout=5)
    finally:
        loaded.close()
    assert seen
    assert seen[0].startswith("onnx-clf")
    assert seen[0] != threading.current_thread().name


async def test_refuses_a_file_whose_sha256_does_not_match(
    model_file: Path, anyio_backend: str
) -> None:
    with pytest.raises(Conflict, match="refusing to load"):
        await OnnxBackend.load("clf", path=model_file, expected_sha256="0" * 64)


@pytest.mark.parametrize(
    "inputs",
    [[[1.0, 2.0]], [["a", "b", "c", "d"]], [], [[[1.0] * 4]], "rows"],
)
async def test_malformed_inputs_are_invalid(backend: OnnxBackend, inputs: object) -> None:
    with pytest.raises(Invalid):
        await backend.infer(InferenceRequest(inputs), timeout=5)
