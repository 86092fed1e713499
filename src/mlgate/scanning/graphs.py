"""Checks for graph formats that can carry code or reach files: Keras, TF SavedModel and ONNX."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlgate.scanning.archives import escapes_directory
from mlgate.scanning.blob import Blob
from mlgate.scanning.context import Location
from mlgate.scanning.onnx_proto import NotOnnx, OnnxUse, TooDeep, read_onnx
from mlgate.scanning.policy import classify_global
from mlgate.scanning.schemas import Severity

__all__ = ["check_keras_config", "scan_hdf5", "scan_onnx", "scan_saved_model"]


# Keras deserialises objects of these packages itself; a config naming another module has
# Keras < 3.9 import it and call what it names (CVE-2025-1550), even in safe mode.
_KERAS_FAMILY = frozenset({"keras", "keras_hub", "keras_cv", "keras_nlp", "tf_keras"})
# Keras's own callables that fetch files, load other models or switch safe mode off.
_KERAS_UNSAFE: dict[str, tuple[Severity, str]] = {
    "enable_unsafe_deserialization": (Severity.CRITICAL, "turns Keras's safe mode off"),
    "get_file": (Severity.HIGH, "downloads a file while the model loads"),
    "load_model": (Severity.HIGH, "loads another model while this one loads"),
    "TFSMLayer": (Severity.HIGH, "loads a TensorFlow SavedModel from a path"),
}


def _keras_objects(config: Any) -> Iterator[dict[str, Any]]:
    """Every dict in the config that names a class; iterative, so no nesting hides one."""
    pending = [config]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            if isinstance(node.get("class_name"), str):
                yield node
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)


def _check_keras_object(node: dict[str, Any], loc: Location, reported: set[int]) -> None:
    """Judges one object; ``reported`` holds the ids of lambdas already named by their layer."""
    class_name: str = node["class_name"]
    config = node.get("config")
    if class_name == "Lambda":
        name = str(config.get("name", "?")) if isinstance(config, dict) else "?"
        loc.report(
            Severity.CRITICAL,
            "keras.lambda-layer",
            f"Lambda layer '{name}' carries Python code that runs on load",
            subject=name,
        )
        if isinstance(config, dict):
            reported.add(id(config.get("function")))
    elif class_name == "__lambda__" and id(node) not in reported:
        loc.report(
            Severity.CRITICAL,
            "keras.lambda-layer",
            "a Python lambda is serialised as bytecode that runs on load",
            subject=class_name,
        )
    module = node.get("module")
    if not isinstance(module, str):
        return
    # Functions are stored as {"module": m, "class_name": "function", "config": name}.
    name = config if class_name == "function" and isinstance(config, str) else class_name
    if module.split(".", 1)[0] in _KERAS_FAMILY:
        unsafe = _KERAS_UNSAFE.get(name)
        if unsafe is not None:
            loc.report(
                unsafe[0],
                "keras.unsafe-object",
                f"the config calls '{module}.{name}', which {unsafe[1]}",
                subject=f"{module}.{name}",
            )
        return
    verdict = classify_global(module, name)
    if verdict is not None:
        loc.report(
            verdict.severity,
            "keras.foreign-module",
            f"the config names '{module}.{name}' outside Keras; Keras before 3.9 imports it "
            f"on load: {verdict.reason}",
            subject=f"{module}.{name}",
        )


def check_keras_config(raw: bytes | str, loc: Location) -> None:
    """Lambda layers carry bytecode; objects from other modules are imported when loaded."""
    try:
        config = json.loads(raw)
    except (ValueError, RecursionError):
        loc.report(Severity.MEDIUM, "keras.malformed", "Keras model config is not valid JSON")
        return
    reported: set[int] = set()
    for node in _keras_objects(config):  # a layer comes before the objects inside it
        _check_keras_object(node, loc, reported)


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


def _shared(count: int, what: str) -> str:
    return "" if count == 1 else f" ({count:,} {what})"


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a name too long for the filesystem: no loader can open it either
        return False


def _check_location(location: str | None, use: OnnxUse, base: Path | None, loc: Location) -> None:
    """Judges where tensors' external data lives, as a loader on POSIX or Windows reads it.

    ``base`` is the model's directory when the model is a file on disk; inside an archive
    there is none, and only the name itself can be judged.
    """
    name, shared = use.example or "?", _shared(use.count, "tensors name it")
    escapes = location is None or "\0" in location or escapes_directory(location)
    if location is not None and not escapes and base is not None:
        try:  # a symlink in the model's directory may lead out of it
            (base / location).resolve().relative_to(base.resolve())
        except (ValueError, OSError):
            escapes = True
    if escapes:
        shown = "a name too long to judge" if location is None else f"'{location[:200]}'"
        loc.report(
            Severity.CRITICAL,
            "onnx.external-data-escape",
            f"tensor '{name}' reads external data from {shown}, outside the model directory"
            f"{shared}",
            subject=None if location is None else location[:200],
        )
    elif location is not None and base is not None and not _exists(base / location):
        loc.report(
            Severity.LOW,
            "onnx.external-data-missing",
            f"tensor '{name}' names external data '{location}' that does not exist{shared}",
            subject=location,
        )


def scan_onnx(blob: Blob, loc: Location) -> bool:
    """Checks external-data locations and custom op domains; False if this is not ONNX.

    Streams the model (onnx_proto), so no model is too large to check. A file named .onnx
    that cannot be read is a finding: its loader may read what this reader does not. Each
    distinct location and custom op is one finding, whatever the number of tensors or nodes.
    """
    named_onnx = blob.name.lower().endswith(".onnx")
    try:
        with blob.stream() as stream:
            model = read_onnx(stream, blob.size, deadline=loc.sink.deadline)
    except TooDeep as exc:
        loc.report(Severity.HIGH, "onnx.malformed", f"ONNX model cannot be checked ({exc})")
        return True
    except NotOnnx as exc:
        if named_onnx:
            loc.report(
                Severity.HIGH,
                "onnx.malformed",
                f"named .onnx but not a readable ONNX model ({exc}); it cannot be vouched for",
            )
        return named_onnx
    # A member's path, if it has one, is the scanner's temporary copy: not the model's directory.
    base = blob.path.parent if blob.path is not None and loc.member is None else None
    for location, use in model.locations.items():
        _check_location(location, use, base, loc)
    for (domain, op_type), use in model.ops.items():
        if domain in _KNOWN_DOMAINS or (domain, op_type) in model.functions:
            continue  # a model-local function is ONNX nodes too, checked like the graph's
        loc.report(
            Severity.MEDIUM,
            "onnx.custom-domain",
            f"node '{use.example}' uses op '{op_type}' from custom domain '{domain}', which "
            f"needs a native library{_shared(use.count, 'nodes use it')}",
            subject=domain,
        )
    if model.stopped is not None:  # what lies past the cap may hide anything: never a pass
        loc.report(
            Severity.HIGH,
            "onnx.unscannable",
            f"ONNX model cannot be fully checked: it holds {model.stopped}; the rest was not read",
            offset=model.stopped_at,
        )
    return True
