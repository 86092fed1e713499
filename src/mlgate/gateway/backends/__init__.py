"""Backends the gateway calls: HTTP model servers (several protocols) and in-process ONNX.

``OnnxBackend`` is not imported here so that a gateway without the ``ml`` extra (numpy,
onnxruntime) still starts; import it from ``mlgate.gateway.backends.onnx``.
"""

from mlgate.gateway.backends.adapters import (
    Adapter,
    GenericJson,
    KServeV2,
    MlflowScoring,
    OpenAIChat,
)
from mlgate.gateway.backends.base import (
    Backend,
    InferenceRequest,
    InferenceResult,
    StreamingBackend,
    UpstreamStream,
)
from mlgate.gateway.backends.http import HttpBackend, make_client

__all__ = [
    "Adapter",
    "Backend",
    "GenericJson",
    "HttpBackend",
    "InferenceRequest",
    "InferenceResult",
    "KServeV2",
    "MlflowScoring",
    "OpenAIChat",
    "StreamingBackend",
    "UpstreamStream",
    "make_client",
]
