"""Models run in-process with onnxruntime, loaded only when the artifact's sha256 matches.

Overhead per call is kept to converting JSON rows into one float32 array, one ``session.run``
on a dedicated thread pool (never the event loop, never anyio's default pool that sync routes
share) and ``tolist()`` on the answer; the session and its input/output names are built once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from mlgate.errors import Conflict, Invalid
from mlgate.gateway.backends.base import InferenceRequest, InferenceResult
from mlgate.gateway.resilience.failures import TimeoutFailure

__all__ = ["OnnxBackend", "read_verified"]

_OUTPUT_NAMES = {"label": "labels", "output_label": "labels", "probabilities": "probabilities"}


def read_verified(path: Path, expected_sha256: str) -> bytes:
    """The file's bytes, or Conflict if they are not the artifact the registry recorded.

    The bytes that were hashed are the bytes that get loaded, so the file cannot be swapped
    between the check and the load.
    """
    content = path.read_bytes()
    actual = hashlib.sha256(content).hexdigest()
    if not hmac.compare_digest(actual, expected_sha256.lower()):
        raise Conflict(
            f"artifact {path.name} has sha256 {actual}, but the registry expects "
            f"{expected_sha256}; refusing to load it. Re-upload the approved artifact."
        )
    return content


class OnnxBackend:
    """One ONNX model in this process; build it with :meth:`load`."""

    __slots__ = ("_executor", "_feature_count", "_input_name", "_output_names", "_session", "name")

    def __init__(self, name: str, session: ort.InferenceSession, executor: ThreadPoolExecutor):
        self.name = name
        self._session = session
        self._executor = executor
        first_input = session.get_inputs()[0]
        self._input_name: str = first_input.name
        width = first_input.shape[1] if len(first_input.shape) > 1 else None
        self._feature_count: int | None = width if isinstance(width, int) else None
        self._output_names: list[str] = [output.name for output in session.get_outputs()]

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
        executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"onnx-{name}")
        loop = asyncio.get_running_loop()
        try:
            content = await loop.run_in_executor(executor, read_verified, path, expected_sha256)
            options = ort.SessionOptions()
            # Parallelism comes from the executor's threads; one op thread each avoids
            # oversubscribing cores when several requests run at once.
            options.intra_op_num_threads = intra_op_threads
            options.inter_op_num_threads = 1
            session = await loop.run_in_executor(
                executor,
                lambda: ort.InferenceSession(
                    content, sess_options=options, providers=["CPUExecutionProvider"]
                ),
            )
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(name, session, executor)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _to_array(self, inputs: Any) -> np.ndarray[Any, np.dtype[np.float32]]:
        try:
            array = np.asarray(inputs, dtype=np.float32)
        except (TypeError, ValueError):
            raise Invalid.field("inputs", "must be a list of rows of numbers") from None
        if array.ndim == 1:
            array = array.reshape(1, -1)
        if array.ndim != 2 or array.shape[0] == 0:
            raise Invalid.field("inputs", "must be a non-empty list of rows of numbers")
        if self._feature_count is not None and array.shape[1] != self._feature_count:
            raise Invalid.field(
                "inputs", f"each row must have {self._feature_count} numbers, not {array.shape[1]}"
            )
        return array

    def _run(self, array: np.ndarray[Any, np.dtype[np.float32]]) -> dict[str, Any]:
        values = self._session.run(self._output_names, {self._input_name: array})
        return {
            _OUTPUT_NAMES.get(name, name): value.tolist()
            for name, value in zip(self._output_names, values, strict=True)
        }

    async def infer(self, request: InferenceRequest, *, timeout: float) -> InferenceResult:
        array = self._to_array(request.inputs)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                outputs = await loop.run_in_executor(self._executor, self._run, array)
        except TimeoutError:
            # The thread finishes on its own; the executor's size bounds how many can pile up.
            raise TimeoutFailure("in-process model did not answer in time") from None
        return InferenceResult(outputs)
