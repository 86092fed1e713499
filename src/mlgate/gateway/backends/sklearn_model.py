"""scikit-learn models run in-process from a ``.skops`` artifact, never from a pickle.

Loading is refused, before anything is built from the file, when its sha256 is not the one the
registry recorded, when it is not a skops file, or when skops would have to trust a type that
mlgate's scanner does not allow (the same allowlist as the security audit's, so what the audit
passed is what loads). skops already trusts scikit-learn's estimators; the allowlist adds the
few safe types it leaves out, like the ``Tree`` inside every tree ensemble.

Inputs are rows (``[[...], ...]`` or one row) of numbers, or of strings and numbers for a
pipeline that encodes categories. Models fitted on a DataFrame are refused at load: they
select columns by name and rows carry none. Classifiers answer ``labels`` and, when they have
``predict_proba``, ``probabilities``; other models answer ``predictions`` (MLflow's name).
Inference runs on the backend's own thread (``inprocess.Runners``), never on the event loop;
calls that wait together are predicted in one call (scikit-learn's estimators answer each row
on its own), which spares its per-call input checks too.
"""

from __future__ import annotations

import asyncio
import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from mlgate.errors import Invalid, MlgateError
from mlgate.gateway.backends.base import InferenceRequest, InferenceResult
from mlgate.gateway.backends.inprocess import Runners, read_verified

__all__ = ["SklearnBackend", "load_skops"]

_Array = np.ndarray[Any, np.dtype[Any]]
# What a model says when the caller's rows do not suit it: shown to the caller, shortened.
_REFUSAL_CHARS = 300


def load_skops(content: bytes, name: str) -> Any:
    """The estimator in a skops file, or MlgateError saying why it will not be loaded."""
    from skops.io import get_untrusted_types, loads

    from mlgate.scanning.policy import classify_global

    if not zipfile.is_zipfile(io.BytesIO(content)):
        raise MlgateError(
            f"{name}: the artifact is not a skops file; in-process scikit-learn models load "
            "only from skops (never pickle or joblib): save it with skops.io.dump"
        )
    try:
        untrusted = get_untrusted_types(data=content)
    except Exception as error:  # skops raises anything on hostile input
        kind = type(error).__name__
        raise MlgateError(f"{name}: the skops file cannot be read ({kind})") from None
    refused = []
    for type_name in untrusted:
        module, _, attribute = type_name.rpartition(".")
        verdict = classify_global(module, attribute)
        if verdict is not None:
            refused.append(f"'{type_name}' ({verdict.reason})")
    if refused:
        raise MlgateError(
            f"{name}: refusing to load: skops would have to trust {', '.join(refused)}; "
            "convert the model to ONNX or serve it through an upstream model server"
        )
    try:
        model = loads(content, trusted=untrusted)
    except Exception as error:
        kind = type(error).__name__
        raise MlgateError(f"{name}: the skops file cannot be loaded ({kind})") from None
    if not callable(getattr(model, "predict", None)):
        raise MlgateError(f"{name}: the skops file holds a {type(model).__name__}, not a model")
    if hasattr(model, "feature_names_in_"):
        raise MlgateError(
            f"{name}: the model was fitted on a DataFrame and selects columns by name, which "
            "rows do not carry; fit it on arrays, or convert it to ONNX (named inputs)"
        )
    return model


class SklearnBackend:
    """One scikit-learn model in this process; build it with :meth:`load`."""

    __slots__ = ("_model", "_probabilities", "_runners", "_width", "name")

    def __init__(self, name: str, model: Any, threads: int = 1) -> None:
        if threads < 1:
            raise ValueError("an in-process model needs at least one thread")
        self.name = name
        self._model = model
        width = getattr(model, "n_features_in_", None)
        self._width = width if isinstance(width, int) else None
        self._probabilities = hasattr(model, "classes_") and hasattr(model, "predict_proba")
        self._runners = Runners(name, threads, self._run, self._run_together)

    @classmethod
    async def load(
        cls, name: str, *, path: Path, expected_sha256: str, threads: int = 1
    ) -> SklearnBackend:
        """Verify and load a model off the event loop.

        One thread by default: scikit-learn holds the GIL for most of a small prediction, so
        more threads would only take turns.
        """

        def verified_model() -> Any:
            return load_skops(read_verified(path, expected_sha256), name)

        return cls(name, await asyncio.to_thread(verified_model), threads)

    def close(self) -> None:
        self._runners.stop()

    def _rows(self, inputs: Any) -> _Array:
        """``inputs`` as a 2-D array: numbers as float64, else objects (strings and numbers)."""
        problem = "must be a non-empty list of rows of numbers or strings"
        if isinstance(inputs, dict):
            raise Invalid.field("inputs", f"{problem}; this model takes no named inputs")
        try:
            array = np.asarray(inputs, dtype=object)
        except (TypeError, ValueError):
            raise Invalid.field("inputs", problem) from None
        if array.ndim == 1:
            array = array.reshape(1, -1)
        if array.ndim != 2 or array.size == 0:
            raise Invalid.field("inputs", problem)
        # null, booleans and nested values are refused, not cast: the model would answer for
        # values nobody sent (NaN, 1.0).
        numbers = True
        for item in array.flat:
            if isinstance(item, str):
                numbers = False
            elif isinstance(item, bool) or not isinstance(item, int | float):
                raise Invalid.field("inputs", problem)
        if self._width is not None and array.shape[1] != self._width:
            raise Invalid.field(
                "inputs", f"each row must have {self._width} values, not {array.shape[1]}"
            )
        if not numbers:
            return array
        try:
            with np.errstate(over="ignore"):
                values = array.astype(np.float64)
            finite = bool(np.isfinite(values).all())  # JSON has no inf: any is an overflow
        except OverflowError:  # an integer beyond float64
            finite = False
        if not finite:
            raise Invalid.field("inputs", "numbers must fit in 64-bit floats")
        return values

    def _predict(self, rows: _Array) -> dict[str, list[Any]]:
        answer = self._model.predict(rows)
        outputs = {"labels" if self._probabilities else "predictions": answer}
        if self._probabilities:
            outputs["probabilities"] = self._model.predict_proba(rows)
        return {key: value.tolist() for key, value in outputs.items()}

    def _run(self, rows: _Array) -> dict[str, Any]:
        try:
            return self._predict(rows)
        except (TypeError, ValueError) as error:
            # scikit-learn's own checks: a string where the model takes numbers, an unknown
            # category, a value out of range. The caller's input, so a 422, not a failover.
            raise Invalid.field(
                "inputs", f"the model refused them: {str(error)[:_REFUSAL_CHARS]}"
            ) from None

    def _run_together(self, calls: list[_Array]) -> list[dict[str, Any]] | None:
        """One prediction over every call's rows, split back per call (errors: one by one)."""
        outputs = self._predict(np.concatenate(calls))
        answers = []
        start = 0
        for rows in calls:
            end = start + len(rows)
            answers.append({key: values[start:end] for key, values in outputs.items()})
            start = end
        return answers

    async def infer(self, request: InferenceRequest, *, timeout: float) -> InferenceResult:
        rows = self._rows(request.inputs)
        return InferenceResult(await self._runners.call(rows, timeout=timeout))
