"""The in-process ONNX backend: integrity check, inputs and outputs, inference off the loop.

Everything goes through the public API (``OnnxBackend.load``, ``infer``, ``close``). Timing
tests use a model that is slow on purpose and compare what they see with inference times they
measure themselves, never with fixed durations, so they hold on a loaded 2-core machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlgate.errors import Conflict, Invalid
from mlgate.gateway.backends import InferenceRequest
from mlgate.gateway.backends.onnx import OnnxBackend
from mlgate.gateway.resilience.failures import ConnectFailure, TimeoutFailure

pytestmark = pytest.mark.anyio

# Inputs the backend must refuse before they reach the model (it expects rows of 4 numbers).
MALFORMED_INPUTS = [
    pytest.param([[1.0, 2.0]], id="wrong-width"),
    pytest.param([["a", "b", "c", "d"]], id="words"),
    pytest.param([[None, None, None, None]], id="nulls"),
    pytest.param([["1", "2", "3", "4"]], id="numbers-as-strings"),
    pytest.param([[True, False, True, False]], id="booleans"),
    pytest.param([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0]], id="ragged"),
    pytest.param([], id="empty"),
    pytest.param([[[1.0] * 4]], id="three-dimensional"),
    pytest.param({"x": [1.0, 2.0, 3.0, 4.0]}, id="object"),
    pytest.param("rows", id="string"),
    pytest.param(None, id="null"),
    pytest.param([[1e39, 0.0, 0.0, 0.0]], id="beyond-float32"),
]

# Named inputs the two-input model (a float "age" and a string "city") must refuse: the field
# each refusal names, and what its message says.
MALFORMED_NAMED_INPUTS = [
    pytest.param({"age": [[30.0]]}, "inputs", "missing 'city'", id="missing-input"),
    pytest.param(
        {"age": [[30.0]], "city": [["north"]], "town": [["x"]]},
        "inputs",
        "unknown 'town'",
        id="unknown-input",
    ),
    pytest.param(
        {"age": [[30.0], [50.0]], "city": [["north"]]},
        "inputs.city",
        "has 1 rows but inputs.age has 2",
        id="row-count-mismatch",
    ),
    pytest.param(
        {"age": [["30"]], "city": [["north"]]}, "inputs.age", "rows of numbers", id="age-as-text"
    ),
    pytest.param(
        {"age": [[None]], "city": [["north"]]}, "inputs.age", "rows of numbers", id="null-age"
    ),
    pytest.param(
        {"age": [[1e39]], "city": [["north"]]}, "inputs.age", "32-bit floats", id="huge-age"
    ),
    pytest.param(
        {"age": [[30.0, 1.0]], "city": [["north"]]},
        "inputs.age",
        "each row must have 1 numbers, not 2",
        id="wrong-width",
    ),
    pytest.param(
        {"age": [[30.0]], "city": [[1]]}, "inputs.city", "rows of strings", id="number-as-city"
    ),
    pytest.param(
        {"age": [[30.0], [50.0]], "city": [["north"], [1]]},
        "inputs.city",
        "rows of strings",
        id="strings-and-numbers",
    ),
    pytest.param(
        {"age": [[30.0]], "city": [[None]]}, "inputs.city", "rows of strings", id="null-city"
    ),
    pytest.param({"age": [[30.0]], "city": []}, "inputs.city", "non-empty", id="empty-city"),
    pytest.param({"age": [[30.0]], "city": "north"}, "inputs.city", "rows", id="bare-string"),
    pytest.param([[30.0, "north"]], "inputs", "object keyed by input name", id="rows"),
]

# Rows the integer model (3 int64 counts) must refuse.
MALFORMED_COUNTS = [
    pytest.param([[1.5, 2, 3]], id="fraction"),
    pytest.param([[1.0, 2.0, 3.0]], id="floats"),
    pytest.param([[True, False, True]], id="booleans"),
    pytest.param([["1", "2", "3"]], id="numbers-as-strings"),
    pytest.param([[1, 2]], id="wrong-width"),
]

# How long one call of the slow model should take at least: far above the scheduling noise of
# a busy machine (a few milliseconds), short enough to keep the tests quick.
SLOW_CALL_SECONDS = 0.1


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def direct_session(path: Path) -> ort.InferenceSession:
    """The same model run straight through onnxruntime, to compare answers with."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


async def load(path: Path, name: str, *, threads: int = 2) -> OnnxBackend:
    return await OnnxBackend.load(name, path=path, expected_sha256=sha256(path), threads=threads)


async def timed_infer(backend: OnnxBackend, inputs: Any) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    result = await backend.infer(InferenceRequest(inputs), timeout=60)
    return result.outputs, time.perf_counter() - started


def runner_threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(f"model-{name}-")]


@contextlib.asynccontextmanager
async def serving(path: Path, name: str) -> AsyncIterator[OnnxBackend]:
    loaded = await load(path, name)
    try:
        yield loaded
    finally:
        loaded.close()


def save(onnx_model: Any, directory: Path, name: str) -> Path:
    path = directory / f"{name}.onnx"
    path.write_bytes(onnx_model.SerializeToString())
    return path


@dataclass(frozen=True)
class Converted:
    """A scikit-learn model and its ONNX conversion, to compare the backend's answers with."""

    estimator: Any
    path: Path


def tabular_rows(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Ages (float32) and cities (strings), one column each, as the two-input model takes."""
    rng = np.random.default_rng(seed)
    ages = rng.normal(40, 10, size=(rows, 1)).astype(np.float32)
    cities = rng.choice(["north", "south", "east"], size=(rows, 1)).astype(object)
    return ages, cities


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


@pytest.fixture(scope="module")
def regression_features() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 10, size=(100, 3))


@pytest.fixture(scope="module")
def double_model(
    regression_features: np.ndarray, tmp_path_factory: pytest.TempPathFactory
) -> Converted:
    """A regression that takes float64 (skl2onnx's DoubleTensorType)."""
    features = regression_features + 0.25
    regression = LinearRegression().fit(features, features @ [1.0, 2.0, -1.0])
    onnx_model = to_onnx(regression, features[:1], target_opset=17)
    return Converted(regression, save(onnx_model, tmp_path_factory.mktemp("models"), "double"))


@pytest.fixture(scope="module")
def int_model(
    regression_features: np.ndarray, tmp_path_factory: pytest.TempPathFactory
) -> Converted:
    """A regression that takes 3 int64 counts (skl2onnx's Int64TensorType) named ``counts``."""
    regression = LinearRegression().fit(regression_features, regression_features @ [1.0, 2.0, -1.0])
    onnx_model = to_onnx(
        regression, initial_types=[("counts", Int64TensorType([None, 3]))], target_opset=17
    )
    return Converted(regression, save(onnx_model, tmp_path_factory.mktemp("models"), "int"))


@pytest.fixture(scope="module")
def string_model(tmp_path_factory: pytest.TempPathFactory) -> Converted:
    """A classifier of one string column (skl2onnx's StringTensorType), one-hot encoded."""
    _, cities = tabular_rows(200, seed=2)
    pipeline = Pipeline([("encode", OneHotEncoder()), ("classify", LogisticRegression())])
    pipeline.fit(cities, cities[:, 0] == "south")
    onnx_model = to_onnx(
        pipeline,
        initial_types=[("city", StringTensorType([None, 1]))],
        options={id(pipeline[-1]): {"zipmap": False}},
        target_opset=17,
    )
    return Converted(pipeline, save(onnx_model, tmp_path_factory.mktemp("models"), "city"))


@pytest.fixture(scope="module")
def tabular_model(tmp_path_factory: pytest.TempPathFactory) -> Converted:
    """A pipeline with two named inputs, a float ``age`` scaled and a string ``city`` encoded."""
    ages, cities = tabular_rows(300, seed=4)
    labels = (ages[:, 0] > 40) ^ (cities[:, 0] == "south")
    pipeline = Pipeline(
        [
            (
                "prepare",
                ColumnTransformer([("age", StandardScaler(), [0]), ("city", OneHotEncoder(), [1])]),
            ),
            ("classify", LogisticRegression()),
        ]
    )
    pipeline.fit(np.hstack([ages, cities]), labels)
    onnx_model = to_onnx(
        pipeline,
        initial_types=[("age", FloatTensorType([None, 1])), ("city", StringTensorType([None, 1]))],
        options={id(pipeline[-1]): {"zipmap": False}},
        target_opset=17,
    )
    return Converted(pipeline, save(onnx_model, tmp_path_factory.mktemp("models"), "tabular"))


@pytest.fixture
async def backend(model_file: Path, anyio_backend: str) -> AsyncIterator[OnnxBackend]:
    loaded = await load(model_file, "clf")
    yield loaded
    loaded.close()


def slow_model_bytes(copies: int, *, width: int = 256, layers: int = 8) -> bytes:
    """A model whose every call costs ``copies`` passes through a chain of dense layers.

    Each input row is copied ``copies`` times (``Tile``) before the chain and the copies are
    averaged after it, so the answer has one number per row and the cost grows with
    ``copies`` while requests stay small.
    """
    rng = np.random.default_rng(7)
    initializers = [numpy_helper.from_array(np.array([copies, 1], dtype=np.int64), "copies")]
    initializers.append(numpy_helper.from_array(np.array([copies, -1], dtype=np.int64), "grid"))
    nodes = [helper.make_node("Tile", ["features", "copies"], ["h0"])]
    sizes = [4] + [width] * layers
    for i in range(layers):
        weight = rng.normal(size=(sizes[i], sizes[i + 1])) / np.sqrt(sizes[i])
        initializers.append(numpy_helper.from_array(weight.astype(np.float32), f"w{i}"))
        nodes.append(helper.make_node("MatMul", [f"h{i}", f"w{i}"], [f"m{i}"]))
        nodes.append(helper.make_node("Tanh", [f"m{i}"], [f"h{i + 1}"]))
    nodes += [
        helper.make_node("ReduceMean", [f"h{layers}"], ["per_copy"], axes=[1], keepdims=0),
        helper.make_node("Reshape", ["per_copy", "grid"], ["by_copy"]),
        helper.make_node("ReduceMean", ["by_copy"], ["score"], axes=[0], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "slow",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["rows", 4])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["rows"])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    serialized: bytes = model.SerializeToString()
    return serialized


@dataclass(frozen=True)
class SlowModel:
    path: Path
    rows: list[list[float]]
    session: ort.InferenceSession

    def expected(self, rows: list[list[float]]) -> np.ndarray:
        (score,) = self.session.run(["score"], {"features": np.asarray(rows, dtype=np.float32)})
        return np.asarray(score)


@pytest.fixture(scope="module")
def slow_model(tmp_path_factory: pytest.TempPathFactory) -> SlowModel:
    """A model that takes at least ``SLOW_CALL_SECONDS`` per call of ``rows`` on this machine."""
    rows = np.random.default_rng(3).normal(size=(4, 4)).astype(np.float32)
    path = tmp_path_factory.mktemp("models") / "slow.onnx"
    copies = 256
    for _ in range(12):  # each turn doubles the work: from 256 copies to at most 2**20
        path.write_bytes(slow_model_bytes(copies))
        session = direct_session(path)
        session.run(["score"], {"features": rows})  # the first run also allocates
        started = time.perf_counter()
        session.run(["score"], {"features": rows})
        if time.perf_counter() - started >= SLOW_CALL_SECONDS:
            break
        copies *= 2
    return SlowModel(path=path, rows=rows.tolist(), session=session)


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


async def test_a_single_input_model_also_takes_its_input_by_name(backend: OnnxBackend) -> None:
    rows = [[0.5, 0.5, 2.0, 0.0], [-1.0, -1.0, 0.0, 0.0]]
    by_rows = await backend.infer(InferenceRequest(rows), timeout=5)
    by_name = await backend.infer(InferenceRequest({"X": rows}), timeout=5)
    assert by_name.outputs == by_rows.outputs


async def test_a_double_input_model_answers_like_the_original_model(
    double_model: Converted, anyio_backend: str
) -> None:
    rows = [[0.1, 2.000001, 3.5], [7.25, 0.0, 1e-9]]
    async with serving(double_model.path, "double") as loaded:
        result = await loaded.infer(InferenceRequest(rows), timeout=5)
    # Sent as float64: float32 would lose the sixth decimal of 2.000001.
    expected = double_model.estimator.predict(np.asarray(rows))
    assert np.allclose(np.ravel(result.outputs["variable"]), expected, rtol=1e-12, atol=0)


async def test_an_int64_input_model_answers_like_the_original_model(
    int_model: Converted, anyio_backend: str
) -> None:
    rows = [[1, 2, 3], [9, 0, 4]]
    async with serving(int_model.path, "int") as loaded:
        by_rows = await loaded.infer(InferenceRequest(rows), timeout=5)
        by_name = await loaded.infer(InferenceRequest({"counts": rows}), timeout=5)
    expected = int_model.estimator.predict(np.asarray(rows))
    assert np.allclose(np.ravel(by_rows.outputs["variable"]), expected, atol=1e-4)
    assert by_name.outputs == by_rows.outputs


@pytest.mark.parametrize("rows", MALFORMED_COUNTS)
async def test_an_int64_input_refuses_what_is_not_rows_of_integers(
    int_model: Converted, anyio_backend: str, rows: object
) -> None:
    async with serving(int_model.path, "int-refusing") as loaded:
        with pytest.raises(Invalid) as by_rows:
            await loaded.infer(InferenceRequest(rows), timeout=5)
        with pytest.raises(Invalid, match="integers") as by_name:
            await loaded.infer(InferenceRequest({"counts": rows}), timeout=5)
    assert [error.field for error in by_rows.value.errors] == ["inputs"]
    assert [error.field for error in by_name.value.errors] == ["inputs.counts"]


async def test_a_string_input_model_takes_rows_of_strings(
    string_model: Converted, anyio_backend: str
) -> None:
    rows = [["south"], ["north"], ["east"]]
    async with serving(string_model.path, "city") as loaded:
        result = await loaded.infer(InferenceRequest(rows), timeout=5)
        one_row = await loaded.infer(InferenceRequest(["south"]), timeout=5)
    expected = string_model.estimator.predict_proba(np.asarray(rows, dtype=object))
    assert np.allclose(result.outputs["probabilities"], expected, atol=1e-5)
    assert one_row.outputs["labels"] == result.outputs["labels"][:1]


async def test_a_two_input_model_answers_by_name_like_the_original_model(
    tabular_model: Converted, anyio_backend: str
) -> None:
    ages, cities = tabular_rows(20, seed=9)
    inputs = {"city": cities.tolist(), "age": ages.tolist()}  # any order of names
    async with serving(tabular_model.path, "tabular") as loaded:
        result = await loaded.infer(InferenceRequest(inputs), timeout=5)
    table = np.hstack([ages, cities])
    assert result.outputs["labels"] == tabular_model.estimator.predict(table).tolist()
    assert np.allclose(
        result.outputs["probabilities"], tabular_model.estimator.predict_proba(table), atol=1e-5
    )


@pytest.mark.parametrize(("inputs", "field", "says"), MALFORMED_NAMED_INPUTS)
async def test_malformed_named_inputs_are_invalid_and_name_their_field(
    tabular_model: Converted, anyio_backend: str, inputs: object, field: str, says: str
) -> None:
    async with serving(tabular_model.path, "tabular-refusing") as loaded:
        with pytest.raises(Invalid) as refused:
            await loaded.infer(InferenceRequest(inputs), timeout=5)
    assert [error.field for error in refused.value.errors] == [field]
    assert says in refused.value.errors[0].message


async def test_refuses_a_file_whose_sha256_does_not_match(
    model_file: Path, anyio_backend: str
) -> None:
    with pytest.raises(Conflict, match="refusing to load"):
        await OnnxBackend.load("clf", path=model_file, expected_sha256="0" * 64)


@pytest.mark.parametrize("inputs", MALFORMED_INPUTS)
async def test_malformed_inputs_are_invalid_and_name_the_inputs_field(
    backend: OnnxBackend, inputs: object
) -> None:
    with pytest.raises(Invalid) as refused:
        await backend.infer(InferenceRequest(inputs), timeout=5)
    assert [error.field for error in refused.value.errors] == ["inputs"]


async def test_malformed_inputs_are_refused_without_waiting_for_a_busy_model(
    slow_model: SlowModel, anyio_backend: str
) -> None:
    loaded = await load(slow_model.path, "slow-busy", threads=1)
    try:
        # Tasks start in the order they are created: the slow call holds the only runner
        # thread before any malformed call is made; one that went to the model would queue
        # behind it.
        busy = asyncio.create_task(loaded.infer(InferenceRequest(slow_model.rows), timeout=60))
        refusals = await asyncio.gather(
            *(loaded.infer(InferenceRequest(p.values[0]), timeout=60) for p in MALFORMED_INPUTS),
            return_exceptions=True,
        )
        assert not busy.done()
        for refusal in refusals:
            assert isinstance(refusal, Invalid)
            assert [error.field for error in refusal.errors] == ["inputs"]
        result = await busy
    finally:
        loaded.close()
    assert np.allclose(result.outputs["score"], slow_model.expected(slow_model.rows))


async def test_the_event_loop_stays_responsive_while_inferences_run(
    slow_model: SlowModel, anyio_backend: str
) -> None:
    calls = 4
    loaded = await load(slow_model.path, "slow-heartbeat", threads=1)
    lags: list[float] = []
    finished = asyncio.Event()

    async def heartbeat() -> None:
        """Ticks every millisecond and records how late each tick comes back."""
        deadline = time.perf_counter() + 60
        while not finished.is_set() and time.perf_counter() < deadline:
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append(time.perf_counter() - before - 0.001)

    try:
        await timed_infer(loaded, slow_model.rows)  # the first call also allocates
        beating = asyncio.create_task(heartbeat())
        started = time.perf_counter()
        try:
            await asyncio.gather(
                *(loaded.infer(InferenceRequest(slow_model.rows), timeout=60) for _ in range(calls))
            )
        finally:
            finished.set()
        in_flight = time.perf_counter() - started
        await beating
    finally:
        loaded.close()
    # One runner thread runs the calls one after another, so each took about in_flight/calls.
    # Had one run on the loop, a tick would have waited at least that long.
    one_call = in_flight / calls
    assert max(lags) < one_call / 2, f"loop stalled {max(lags):.3f}s; one call {one_call:.3f}s"
    assert len(lags) >= 20, f"only {len(lags)} ticks in {in_flight:.3f}s"


async def test_each_answer_is_handed_back_when_its_own_inference_ends(
    slow_model: SlowModel, anyio_backend: str
) -> None:
    calls = 4
    loaded = await load(slow_model.path, "slow-order", threads=1)
    arrivals: list[float] = []

    async def call() -> None:
        await loaded.infer(InferenceRequest(slow_model.rows), timeout=60)
        arrivals.append(time.perf_counter() - started)

    try:
        await timed_infer(loaded, slow_model.rows)  # the first call also allocates
        started = time.perf_counter()
        await asyncio.gather(*(call() for _ in range(calls)))
    finally:
        loaded.close()
    # One runner thread runs the calls one after another, so answers come about one inference
    # apart; an answer held back until later calls finish arrives together with theirs.
    one_call = arrivals[-1] / calls
    gaps = [later - earlier for earlier, later in pairwise(arrivals)]
    assert min(gaps) > one_call / 3, f"answers arrived at {arrivals}"


async def test_many_concurrent_calls_each_get_their_own_answer(
    backend: OnnxBackend, model_file: Path
) -> None:
    rng = np.random.default_rng(11)
    requests = [rng.normal(size=(1 + i % 3, 4)).astype(np.float32) for i in range(200)]
    results = await asyncio.gather(
        *(backend.infer(InferenceRequest(rows.tolist()), timeout=30) for rows in requests)
    )
    session = direct_session(model_file)
    for rows, result in zip(requests, results, strict=True):
        labels, probabilities = session.run(["label", "probabilities"], {"X": rows})
        assert result.outputs["labels"] == labels.tolist()
        assert np.allclose(result.outputs["probabilities"], probabilities, atol=1e-6)


async def test_a_call_past_its_timeout_fails_fast_and_later_calls_still_get_their_answers(
    slow_model: SlowModel, anyio_backend: str
) -> None:
    loaded = await load(slow_model.path, "slow-timeout", threads=1)
    try:
        _, one_call = await timed_infer(loaded, slow_model.rows)
        # Four times the rows take about four calls' time; the caller gives up after half a
        # call, long before the answer could come even if the machine got much faster.
        timeout = one_call / 2
        started = time.perf_counter()
        with pytest.raises(TimeoutFailure):
            await loaded.infer(InferenceRequest(slow_model.rows * 4), timeout=timeout)
        waited = time.perf_counter() - started
        later_rows = [[-row[0], row[1], 2 * row[2], row[3]] for row in slow_model.rows[:3]]
        later, _ = await timed_infer(loaded, later_rows)
    finally:
        loaded.close()
    assert timeout * 0.9 <= waited < timeout + one_call, f"gave up after {waited:.3f}s"
    assert np.allclose(later["score"], slow_model.expected(later_rows))


async def test_close_stops_the_runner_threads(model_file: Path, anyio_backend: str) -> None:
    loaded = await load(model_file, "clf-closing", threads=3)
    await loaded.infer(InferenceRequest([[0.0] * 4]), timeout=5)
    threads = runner_threads("clf-closing")
    assert len(threads) == 3
    loaded.close()
    deadline = time.monotonic() + 10
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    assert runner_threads("clf-closing") == []


async def test_calls_already_made_when_closing_still_get_their_answers(
    model_file: Path, anyio_backend: str
) -> None:
    loaded = await load(model_file, "clf-draining")
    rng = np.random.default_rng(5)
    requests = [rng.normal(size=(2, 4)).astype(np.float32) for _ in range(50)]
    calls = [
        asyncio.create_task(loaded.infer(InferenceRequest(rows.tolist()), timeout=10))
        for rows in requests
    ]
    # Scheduled after the calls' first steps, so every call has handed over its job by then.
    asyncio.get_running_loop().call_soon(loaded.close)
    results = await asyncio.gather(*calls)
    session = direct_session(model_file)
    for rows, result in zip(requests, results, strict=True):
        (labels,) = session.run(["label"], {"X": rows})
        assert result.outputs["labels"] == labels.tolist()


async def test_a_call_to_a_closed_backend_fails_at_once_and_may_be_retried(
    model_file: Path,
) -> None:
    backend = await load(model_file, "closed")
    backend.close()
    started = time.monotonic()
    with pytest.raises(ConnectFailure) as caught:
        await backend.infer(InferenceRequest([[5.1, 3.5, 1.4, 0.2]]), timeout=30)
    assert caught.value.retryable
    assert time.monotonic() - started < 1.0
