"""Checks for graph formats that can carry code or reach files: Keras, TF SavedModel and ONNX."""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlgate.scanning.blob import Blob
from mlgate.scanning.context import Location
from mlgate.scanning.schemas import Severity

__all__ = ["check_keras_config", "scan_hdf5", "scan_onnx", "scan_saved_model"]


def _lambda_layers(node: Any, depth: int = 0) -> Iterator[str]:
    if depth > 200:
        return
    if isinstance(node, dict):
        if node.get("class_name") == "Lambda":
            config = node.get("config")
            yield str(config.get("name", "?")) if isinstance(config, dict) else "?"
        for value in node.values():
            yield from _lambda_layers(value, depth + 1)
    elif isinstance(node, list):
        for value in node:
            yield from _lambda_layers(value, depth + 1)


def check_keras_config(raw: bytes | str, loc: Location) -> None:
    """Lambda layers store Python bytecode that runs when the model is loaded."""
    try:
        config = json.loads(raw)
    except (ValueError, RecursionError):
        loc.report(Severity.MEDIUM, "keras.malformed", "Keras model config is not valid JSON")
        return
    for name in _lambda_layers(config):
        loc.report(
            Severity.CRITICAL,
            "keras.lambda-layer",
            f"Lambda layer '{name}' carries Python code that runs on load",
            subject=name,
        )


def scan_hdf5(blob: Blob, loc: Location) -> None:
    """Reads a Keras .h5's model_config when h5py is available; otherwise says it could not."""
    try:
        h5py = importlib.import_module("h5py")
    except ImportError:
        loc.report(
            Severity.MEDIUM,
            "hdf5.unscannable",
            "HDF5 file not scanned: install h5py to check Keras Lambda layers",
        )
        return
    handle = blob.seekable()
    if handle is None:
        loc.report(Severity.MEDIUM, "hdf5.unscannable", "HDF5 member too large to scan")
        return
    try:
        with handle, h5py.File(handle, "r") as h5:
            raw = h5.attrs.get("model_config")
    except (OSError, ValueError, KeyError) as exc:
        loc.report(Severity.HIGH, "hdf5.malformed", f"HDF5 file cannot be read ({exc})")
        return
    if raw is not None:
        check_keras_config(raw if isinstance(raw, bytes | str) else str(raw), loc)


# Ops that run Python or touch the filesystem from inside a TensorFlow graph.
_RISKY_OPS: dict[str, Severity] = {
    "PyFunc": Severity.CRITICAL,
    "PyFuncStateless": Severity.CRITICAL,
    "EagerPyFunc": Severity.CRITICAL,
    "ReadFile": Severity.HIGH,
    "WriteFile": Severity.HIGH,
    "MatchingFiles": Severity.HIGH,
    "ImmutableConst": Severity.MEDIUM,
}
# A NodeDef names its op in field 2 and an OpDef in field 1: tag byte, length, then the name.
_NEEDLES = {bytes([tag, len(op)]) + op.encode(): op for op in _RISKY_OPS for tag in (0x12, 0x0A)}
_CHUNK = 4 << 20


def scan_saved_model(blob: Blob, loc: Location) -> None:
    """Searches saved_model.pb for risky op names as byte strings, chunk by chunk."""
    found: set[str] = set()
    overlap = max(len(n) for n in _NEEDLES)
    tail = b""
    with blob.stream() as stream:
        for _ in range(1 << 30):  # ends at the end of the file
            chunk = stream.read(_CHUNK)
            if not chunk:
                break
            window = tail + chunk
            found.update(op for needle, op in _NEEDLES.items() if needle in window)
            tail = window[-overlap:]
    for op in sorted(found):
        loc.report(
            _RISKY_OPS[op],
            "savedmodel.risky-op",
            f"the graph uses the '{op}' op, which runs Python or touches files",
            subject=op,
        )


_KNOWN_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "com.microsoft", "ai.onnx.preview.training"}


def _tensors(graph: Any, depth: int = 0) -> Iterator[Any]:
    if depth > 50:
        return
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from _tensors(attr.g, depth + 1)
            for sub in attr.graphs:
                yield from _tensors(sub, depth + 1)


def _nodes(graph: Any, depth: int = 0) -> Iterator[Any]:
    if depth > 50:
        return
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from _nodes(attr.g, depth + 1)
            for sub in attr.graphs:
                yield from _nodes(sub, depth + 1)


def _check_location(location: str, base: Path, name: str, loc: Location) -> None:
    candidate = Path(location)
    escapes = candidate.is_absolute() or ".." in candidate.parts or "\0" in location
    if not escapes:
        try:
            (base / candidate).resolve().relative_to(base.resolve())
        except (ValueError, OSError):
            escapes = True
    if escapes:
        loc.report(
            Severity.CRITICAL,
            "onnx.external-data-escape",
            f"tensor '{name}' reads external data from '{location}', outside the model directory",
            subject=location,
        )
    elif not (base / candidate).exists():
        loc.report(
            Severity.LOW,
            "onnx.external-data-missing",
            f"tensor '{name}' names external data '{location}' that does not exist",
            subject=location,
        )


def scan_onnx(blob: Blob, loc: Location) -> bool:
    """Checks external-data locations and custom op domains; False if this is not ONNX."""
    import onnx

    raw = blob.read_all()
    if raw is None:
        loc.report(Severity.MEDIUM, "onnx.too-large", "ONNX model too large to parse")
        return True
    try:
        model = onnx.load_from_string(raw)
    except Exception:  # protobuf raises its own DecodeError family
        return False
    if not model.HasField("graph"):
        return False
    base = blob.path.parent if blob.path is not None else Path(os.curdir)
    for tensor in _tensors(model.graph):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        entries = {e.key: e.value for e in tensor.external_data}
        _check_location(entries.get("location", ""), base, tensor.name, loc)
    for node in _nodes(model.graph):
        if node.domain not in _KNOWN_DOMAINS:
            loc.report(
                Severity.MEDIUM,
                "onnx.custom-domain",
                f"node '{node.name}' uses op '{node.op_type}' from custom domain "
                f"'{node.domain}', which needs a native library",
                subject=node.domain,
            )
    return True
