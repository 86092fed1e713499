"""The in-process scikit-learn backend: skops only, allowlisted types, sklearn's own answers.

Everything goes through the public API (``SklearnBackend.load``, ``infer``, ``close``) with real
models trained here and saved with skops.
"""

from __future__ import annotations

import asyncio
import hashlib
import pickle
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlgate.errors import Conflict, Invalid, MlgateError
from mlgate.gateway.backends import InferenceRequest
from mlgate.gateway.backends.sklearn_model import SklearnBackend

pytestmark = pytest.mark.anyio

FEATURES, LABELS = load_iris(return_X_y=True)
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]

Loader = Callable[[bytes], Awaitable[SklearnBackend]]


class Doubler:
    """A model whose class skops does not know: loading it would import this module."""

    def predict(self, rows: Any) -> Any:
        return np.asarray(rows) * 2


class Shell:
    """What a hostile pickle does when it is loaded: run something (here, create a file)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


@pytest.fixture
async def load(tmp_path: Path) -> AsyncIterator[Loader]:
    loaded: list[SklearnBackend] = []

    async def loader(content: bytes) -> SklearnBackend:
        path = tmp_path / f"model-{len(loaded)}.skops"
        path.write_bytes(content)
        backend = await SklearnBackend.load(
            "model@1", path=path, expected_sha256=hashlib.sha256(content).hexdigest()
        )
        loaded.append(backend)
        return backend

    yield loader
    for backend in loaded:
        backend.close()


async def infer(backend: SklearnBackend, inputs: Any) -> dict[str, Any]:
    result = await backend.infer(InferenceRequest(inputs=inputs), timeout=10)
    outputs: dict[str, Any] = result.outputs
    return outputs


async def test_a_classifier_answers_what_scikit_learn_answers(load: Loader) -> None:
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(FEATURES, LABELS)
    outputs = await infer(await load(sio.dumps(model)), ROWS)
    assert outputs["labels"] == model.predict(np.asarray(ROWS)).tolist()
    assert np.allclose(outputs["probabilities"], model.predict_proba(np.asarray(ROWS)))


async def test_one_row_alone_is_one_prediction(load: Loader) -> None:
    model = LogisticRegression(max_iter=500).fit(FEATURES, LABELS)
    outputs = await infer(await load(sio.dumps(model)), ROWS[1])
    assert outputs["labels"] == model.predict(np.asarray([ROWS[1]])).tolist()


async def test_tree_ensembles_load_through_the_scanner_allowlist(load: Loader) -> None:
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(FEATURES, LABELS)
    content = sio.dumps(model)
    assert "sklearn.tree._tree.Tree" in sio.get_untrusted_types(data=content)
    outputs = await infer(await load(content), ROWS)
    assert outputs["labels"] == model.predict(np.asarray(ROWS)).tolist()
    assert np.allclose(outputs["probabilities"], model.predict_proba(np.asarray(ROWS)))


async def test_a_regressor_answers_predictions(load: Loader) -> None:
    features, target = load_diabetes(return_X_y=True)
    model = LinearRegression().fit(features, target)
    outputs = await infer(await load(sio.dumps(model)), features[:2].tolist())
    assert set(outputs) == {"predictions"}
    assert np.allclose(outputs["predictions"], model.predict(features[:2]))


def _categorical_model() -> Pipeline:
    rows = np.array([["north", 1.0], ["south", 3.0], ["north", 2.0], ["east", 5.0]], dtype=object)
    encode = ColumnTransformer([("city", OneHotEncoder(), [0]), ("size", "passthrough", [1])])
    return Pipeline([("encode", encode), ("fit", LogisticRegression())]).fit(rows, [0, 1, 0, 1])


async def test_rows_mixing_strings_and_numbers_reach_a_categorical_pipeline(load: Loader) -> None:
    model = _categorical_model()
    rows = [["south", 4.0], ["north", 1.5]]
    outputs = await infer(await load(sio.dumps(model)), rows)
    assert outputs["labels"] == model.predict(np.asarray(rows, dtype=object)).tolist()


async def test_what_the_model_itself_refuses_is_the_callers_422(load: Loader) -> None:
    backend = await load(sio.dumps(_categorical_model()))
    with pytest.raises(Invalid) as unknown:
        await infer(backend, [["west", 1.0]])
    assert unknown.value.errors[0].field == "inputs"
    assert "the model refused them" in unknown.value.errors[0].message
    numeric = await load(sio.dumps(LogisticRegression(max_iter=500).fit(FEATURES, LABELS)))
    with pytest.raises(Invalid):
        await infer(numeric, [["a", "b", "c", "d"]])


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        pytest.param([[1.0, 2.0]], "each row must have 4 values, not 2", id="wrong-width"),
        pytest.param([[None, 1.0, 2.0, 3.0]], "rows of numbers or strings", id="null"),
        pytest.param([[True, 1.0, 2.0, 3.0]], "rows of numbers or strings", id="boolean"),
        pytest.param([[1.0, 2.0, 3.0, 4.0], [1.0]], "rows of numbers or strings", id="ragged"),
        pytest.param([[[1.0] * 4]], "rows of numbers or strings", id="three-dimensional"),
        pytest.param([], "rows of numbers or strings", id="empty"),
        pytest.param({"x": [1.0, 2.0, 3.0, 4.0]}, "no named inputs", id="named"),
        pytest.param([[10**400, 0, 0, 0]], "64-bit floats", id="beyond-float64"),
    ],
)
async def test_malformed_inputs_are_refused_before_the_model_runs(
    load: Loader, inputs: Any, message: str
) -> None:
    backend = await load(sio.dumps(LogisticRegression(max_iter=500).fit(FEATURES, LABELS)))
    with pytest.raises(Invalid) as refused:
        await infer(backend, inputs)
    assert refused.value.errors[0].field == "inputs"
    assert message in refused.value.errors[0].message


async def test_a_file_that_is_not_the_approved_artifact_is_refused(tmp_path: Path) -> None:
    content = sio.dumps(LogisticRegression(max_iter=500).fit(FEATURES, LABELS))
    path = tmp_path / "model.skops"
    path.write_bytes(content)
    with pytest.raises(Conflict, match="refusing to load"):
        await SklearnBackend.load(
            "m@1", path=path, expected_sha256=hashlib.sha256(b"x").hexdigest()
        )


async def test_a_pickle_is_never_unpickled(load: Loader, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps(Shell(marker)))  # what loading it would do
    assert marker.exists()
    marker.unlink()
    for content in (pickle.dumps(Shell(marker)), pickle.dumps(LogisticRegression())):
        with pytest.raises(MlgateError, match="not a skops file"):
            await load(content)
    assert not marker.exists()


async def test_a_type_outside_the_allowlist_is_refused_and_named(load: Loader) -> None:
    content = sio.dumps(Doubler())
    with pytest.raises(MlgateError) as refused:
        await load(content)
    assert f"'{Doubler.__module__}.Doubler'" in refused.value.detail
    assert "convert the model to ONNX" in refused.value.detail


async def test_an_object_that_cannot_predict_is_refused(load: Loader) -> None:
    with pytest.raises(MlgateError, match="not a model"):
        await load(sio.dumps(StandardScaler().fit(FEATURES)))


async def test_calls_made_together_each_get_their_own_answer_or_refusal(load: Loader) -> None:
    model = _categorical_model()
    backend = await load(sio.dumps(model))
    await infer(backend, [["north", 1.0]])  # measured once, later calls may run together
    rows = [[["south", 4.0]], [["west", 1.0]], [["north", 1.5], ["east", 2.0]]] * 3
    results = await asyncio.gather(*(infer(backend, r) for r in rows), return_exceptions=True)
    for sent, result in zip(rows, results, strict=True):
        if sent[0][0] == "west":  # a category the model never saw: that caller's 422 only
            assert isinstance(result, Invalid)
        else:
            assert isinstance(result, dict)
            assert result["labels"] == model.predict(np.asarray(sent, dtype=object)).tolist()
