"""Wire protocols of HTTP model servers: how a request is encoded and an answer decoded.

Adapters raise ``KeyError``/``TypeError``/``ValueError`` on answers that do not follow their
protocol; the HTTP backend turns those into ``ProtocolFailure``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

from mlgate.gateway.backends.base import InferenceRequest

__all__ = ["Adapter", "GenericJson", "KServeV2", "MlflowScoring", "OpenAIChat"]


class Adapter(Protocol):
    """A wire protocol; ``path`` is appended to the backend's base URL."""

    @property
    def path(self) -> str: ...

    @property
    def streams(self) -> bool: ...

    def encode(self, request: InferenceRequest) -> Any: ...

    def decode(self, body: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class GenericJson:
    """``{"inputs": ...}`` in, ``{"outputs": ...}`` out."""

    path: str = "/predict"
    streams: bool = False

    def encode(self, request: InferenceRequest) -> Any:
        body: dict[str, Any] = {"inputs": request.inputs}
        if request.parameters:
            body["parameters"] = dict(request.parameters)
        return body

    def decode(self, body: Any) -> Any:
        return body["outputs"]


def _shape(value: Any) -> list[int]:
    shape: list[int] = []
    for _ in range(32):  # tensors deeper than 32 dimensions are not a real case
        if not isinstance(value, list):
            break
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


MAX_DIMENSIONS = 32  # of an answer's tensor: NumPy's own limit was 32 for years


def _flatten(value: Any) -> list[Any]:
    if not isinstance(value, list):
        return [value]
    flat: list[Any] = []
    for item in value:
        flat.extend(_flatten(item))
    return flat


def _reshape(flat: list[Any], shape: list[int]) -> Any:
    if len(shape) <= 1:
        return flat
    step = len(flat) // shape[0] if shape[0] else 0
    return [_reshape(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


def _unflatten(tensor: Any) -> Any:
    """An output tensor's data shaped as it says, if its shape holds exactly its data.

    A shape that does not would be answered wrong, or (``[1000000000, 1]`` with no data) make
    the gateway build a billion empty lists.
    """
    data, shape = tensor["data"], list(tensor.get("shape") or [])
    if len(shape) > MAX_DIMENSIONS:  # each dimension is a level of recursion
        raise ValueError(f"a shape of {len(shape)} dimensions; at most {MAX_DIMENSIONS}")
    if any(type(n) is not int or n < 0 for n in shape):  # not even ["x", 10**9]: a 1 GB string
        raise ValueError("a shape is a list of sizes")
    if shape and math.prod(shape) != len(data):
        raise ValueError(f"shape {shape} does not hold {len(data)} values")
    # A zero anywhere holds no data whatever comes before it: [10**20, 0] would build 10**20
    # empty lists. The lists built are the leading products, so none may pass the data's size.
    if any(math.prod(shape[:i]) > max(len(data), 1) for i in range(1, len(shape))):
        raise ValueError(f"shape {shape} lays out more lists than its {len(data)} values need")
    return _reshape(data, shape)


@dataclass(frozen=True, slots=True)
class KServeV2:
    """Open Inference Protocol: ``POST /v2/models/{model}/infer`` with named tensors.

    Inputs may be rows (one tensor named ``input_name``), a mapping of name to nested list, or
    ready-made v2 tensors. Outputs come back as ``{name: nested list shaped by "shape"}``.
    """

    model: str
    input_name: str = "input-0"
    datatype: str = "FP32"
    streams: bool = False

    @property
    def path(self) -> str:
        return f"/v2/models/{self.model}/infer"

    def _tensor(self, name: str, value: Any) -> dict[str, Any]:
        return {
            "name": name,
            "shape": _shape(value),
            "datatype": self.datatype,
            "data": _flatten(value),
        }

    def encode(self, request: InferenceRequest) -> Any:
        inputs = request.inputs
        if isinstance(inputs, dict):
            tensors = [self._tensor(name, value) for name, value in inputs.items()]
        elif isinstance(inputs, list) and inputs and isinstance(inputs[0], dict):
            tensors = inputs
        else:
            tensors = [self._tensor(self.input_name, inputs)]
        body: dict[str, Any] = {"inputs": tensors}
        if request.parameters:
            body["parameters"] = dict(request.parameters)
        return body

    def decode(self, body: Any) -> Any:
        return {tensor["name"]: _unflatten(tensor) for tensor in body["outputs"]}


@dataclass(frozen=True, slots=True)
class MlflowScoring:
    """MLflow's ``POST /invocations``: rows or tensors as ``inputs``, a pandas-split frame
    (``{"columns": [...], "data": [...]}``) as ``dataframe_split``; answers ``predictions``."""

    path: str = "/invocations"
    streams: bool = False

    def encode(self, request: InferenceRequest) -> Any:
        inputs = request.inputs
        body: dict[str, Any]
        if isinstance(inputs, dict) and "columns" in inputs and "data" in inputs:
            body = {"dataframe_split": inputs}
        else:
            body = {"inputs": inputs}
        if request.parameters:
            body["params"] = dict(request.parameters)
        return body

    def decode(self, body: Any) -> Any:
        if isinstance(body, list):  # MLflow 1.x answers a bare list
            return body
        return body["predictions"]


@dataclass(frozen=True, slots=True)
class OpenAIChat:
    """OpenAI-compatible ``POST /v1/chat/completions``; inputs are the chat body itself.

    ``model``, when set, overrides the client's choice so a route pins what it serves.
    """

    model: str | None = None
    path: str = "/v1/chat/completions"
    streams: bool = True

    def encode(self, request: InferenceRequest) -> Any:
        if not isinstance(request.inputs, dict) or "messages" not in request.inputs:
            raise ValueError("a chat request needs a JSON object with 'messages'")
        body = dict(request.inputs)
        if self.model is not None:
            body["model"] = self.model
        return body

    def decode(self, body: Any) -> Any:
        if not isinstance(body, dict) or "choices" not in body:
            raise ValueError("not a chat completion")
        return body
