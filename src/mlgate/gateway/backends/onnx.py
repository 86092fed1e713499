"""Models run in-process with onnxruntime, loaded only when the artifact's sha256 matches.

Inputs come as rows (``[[...], ...]``) for a model with one input, or, for any model, as an
object keyed by input name (``{"age": [[...]], "city": [[...]]}``, MLflow's and KServe v2's
named tensors). Each becomes one array of the type its input declares (float32, float64,
integers, bool or strings), refused with ``Invalid`` naming the field before the model runs.

Overhead per call is kept to converting JSON into one array per input, one ``session.run``
on the backend's own threads (``inprocess.Runners``: never the event loop, never anyio's default
pool that sync routes share) and ``tolist()`` on the answer; the session, its input converters
and output names are built once. Calls that wait together run as one ``session.run`` when the
model has a free batch dimension; their answers can then differ from one-row runs in the last
bits of a float (up to 3e-7 on the demo model's float32 probabilities, measured).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from mlgate.errors import Invalid, MlgateError
from mlgate.gateway.backends.base import InferenceRequest, InferenceResult
from mlgate.gateway.backends.inprocess import Runners, read_verified

__all__ = ["OnnxBackend"]

_OUTPUT_NAMES = {"label": "labels", "output_label": "labels", "probabilities": "probabilities"}

_Array = np.ndarray[Any, np.dtype[Any]]

# The ONNX tensor types JSON can carry, as the numpy types onnxruntime takes for them.
_DTYPES: dict[str, np.dtype[Any]] = {
    f"tensor({onnx_name})": np.dtype(numpy_name)
    for onnx_name, numpy_name in [
        ("float", "float32"),
        ("double", "float64"),
        ("int8", "int8"),
        ("int16", "int16"),
        ("int32", "int32"),
        ("int64", "int64"),
        ("uint8", "uint8"),
        ("uint16", "uint16"),
        ("uint32", "uint32"),
        ("uint64", "uint64"),
        ("bool", "bool"),
        ("string", "object"),
    ]
}
# For each kind of input: the kinds of parsed JSON it takes, and what to call its values.
_ACCEPTED = {"f": "iuf", "i": "iu", "u": "iu", "b": "b", "O": "O"}
_NOUNS = {"f": "numbers", "i": "integers", "u": "integers", "b": "booleans", "O": "strings"}


@dataclass(frozen=True, slots=True)
class _Input:
    """One input of the model: its name, the numpy type it takes and its row width, if fixed."""

    name: str
    dtype: np.dtype[Any]
    width: int | None

    @classmethod
    def of(cls, node: ort.NodeArg, model: str) -> _Input:
        dtype = _DTYPES.get(node.type)
        if dtype is None:
            raise MlgateError(
                f"{model}: input '{node.name}' takes {node.type}, which JSON cannot carry; "
                "serve the model through an upstream model server"
            )
        width = node.shape[1] if len(node.shape) > 1 else None
        return cls(node.name, dtype, width if isinstance(width, int) else None)

    def rows(self, value: Any, field: str) -> _Array:
        """``value`` (rows, or one row) as this input's array, or Invalid naming ``field``."""
        kind = self.dtype.kind
        try:
            array = np.asarray(value, dtype=object if kind == "O" else None)
        except (TypeError, ValueError):
            raise Invalid.field(field, f"must be a list of rows of {_NOUNS[kind]}") from None
        # Only values of the input's own kind: a cast would turn null into NaN and "1" or true
        # into 1.0 (or 1 into "1"), and the model would answer for values nobody sent.
        if array.dtype.kind not in _ACCEPTED[kind] or (
            kind == "O" and not all(isinstance(item, str) for item in array.flat)
        ):
            raise Invalid.field(field, f"must be a list of rows of {_NOUNS[kind]}")
        if array.ndim == 1:
            array = array.reshape(1, -1)
        if array.ndim != 2 or array.size == 0:
            raise Invalid.field(field, f"must be a non-empty list of rows of {_NOUNS[kind]}")
        if self.width is not None and array.shape[1] != self.width:
            raise Invalid.field(
                field, f"each row must have {self.width} {_NOUNS[kind]}, not {array.shape[1]}"
            )
        if kind == "f":
            with np.errstate(over="ignore"):  # JSON has no inf or NaN: any here is an overflow
                array = array.astype(self.dtype, copy=False)
            if not np.isfinite(array).all():
                limit = np.finfo(self.dtype).max
                raise Invalid.field(
                    field,
                    f"numbers must fit in {self.dtype.itemsize * 8}-bit floats "
                    f"(about ±{limit:.1e})",
                )
        elif kind in "iu" and array.dtype != self.dtype:
            limits = np.iinfo(self.dtype)
            if array.min() < limits.min or array.max() > limits.max:
                raise Invalid.field(
                    field, f"integers must fit in {self.dtype} ({limits.min} to {limits.max})"
                )
            array = array.astype(self.dtype)
        return array


class OnnxBackend:
    """One ONNX model in this process; build it with :meth:`load`."""

    __slots__ = ("_inputs", "_only_input", "_output_names", "_runners", "_session", "name")

    def __init__(self, name: str, session: ort.InferenceSession, threads: int = 2):
        if threads < 1:
            raise ValueError("an in-process model needs at least one thread")
        self.name = name
        self._session = session
        self._inputs = {node.name: _Input.of(node, name) for node in session.get_inputs()}
        # Rows without names are for a model with one input only: the common case, kept short.
        self._only_input = next(iter(self._inputs.values())) if len(self._inputs) == 1 else None
        self._output_names: list[str] = [output.name for output in session.get_outputs()]
        # Calls that wait together run as one inference when every input and output has a
        # free first (batch) dimension, as skl2onnx's models do; rows never affect each other.
        together = self._run_together if _batchable(session) else None
        self._runners = Runners(name, threads, self._run, together)

    @classmethod
    async def load(
        cls,
        name: str,
        *,
        path: Path,
        expected_sha256: str,
        threads: int = 2,
        intra_op_threads: int = 1,
    ) -> OnnxBackend:
        """Verify and load a model off the event loop; ``threads`` bounds parallel inferences."""
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"onnx-load-{name}") as pool:
            content = await loop.run_in_executor(pool, read_verified, path, expected_sha256)
            options = ort.SessionOptions()
            # Parallelism comes from the backend's threads; one op thread each avoids
            # oversubscribing cores when several requests run at once.
            options.intra_op_num_threads = intra_op_threads
            options.inter_op_num_threads = 1
            session = await loop.run_in_executor(
                pool,
                lambda: ort.InferenceSession(
                    content, sess_options=options, providers=["CPUExecutionProvider"]
                ),
            )
        return cls(name, session, threads)

    def close(self) -> None:
        self._runners.stop()

    def _feeds(self, inputs: Any) -> dict[str, _Array]:
        """The model's feeds from rows (one input) or an object keyed by input name."""
        if not isinstance(inputs, dict):
            if self._only_input is None:
                raise Invalid.field(
                    "inputs",
                    f"this model takes several inputs; send an object keyed by input "
                    f"name: {_listed(self._inputs)}",
                )
            return {self._only_input.name: self._only_input.rows(inputs, "inputs")}
        missing = [name for name in self._inputs if name not in inputs]
        unknown = sorted(name for name in inputs if name not in self._inputs)
        if missing or unknown:
            problems = [
                f"{what} {_listed(names)}"
                for what, names in (("missing", missing), ("unknown", unknown))
                if names
            ]
            raise Invalid.field(
                "inputs", f"{'; '.join(problems)}: this model takes {_listed(self._inputs)}"
            )
        feeds = {
            name: spec.rows(inputs[name], f"inputs.{name}") for name, spec in self._inputs.items()
        }
        first, *others = feeds
        for name in others:
            if len(feeds[name]) != len(feeds[first]):
                raise Invalid.field(
                    f"inputs.{name}",
                    f"has {len(feeds[name])} rows but inputs.{first} has "
                    f"{len(feeds[first])}; every input needs one row per prediction",
                )
        return feeds

    def _run(self, feeds: dict[str, _Array]) -> dict[str, Any]:
        values = self._session.run(self._output_names, feeds)
        return {
            _OUTPUT_NAMES.get(name, name): value.tolist()
            for name, value in zip(self._output_names, values, strict=True)
        }

    def _run_together(self, calls: list[dict[str, _Array]]) -> list[dict[str, Any]] | None:
        """One inference over every call's rows, split back per call; None if it cannot be."""
        counts = [len(next(iter(feeds.values()))) for feeds in calls]
        joined = {name: np.concatenate([feeds[name] for feeds in calls]) for name in self._inputs}
        values = self._session.run(self._output_names, joined)
        total = sum(counts)
        if any(np.ndim(value) == 0 or len(value) != total for value in values):
            return None  # an output that is not one row per input row
        named = zip(self._output_names, values, strict=True)
        outputs = [(_OUTPUT_NAMES.get(name, name), value.tolist()) for name, value in named]
        answers = []
        start = 0
        for count in counts:
            answers.append({name: rows[start : start + count] for name, rows in outputs})
            start += count
        return answers

    async def infer(self, request: InferenceRequest, *, timeout: float) -> InferenceResult:
        feeds = self._feeds(request.inputs)
        return InferenceResult(await self._runners.call(feeds, timeout=timeout))


def _batchable(session: ort.InferenceSession) -> bool:
    """Whether every input and output has a free first dimension (a batch of any size)."""
    nodes = [*session.get_inputs(), *session.get_outputs()]
    return all(node.shape and not isinstance(node.shape[0], int) for node in nodes)


def _listed(names: Iterable[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)
