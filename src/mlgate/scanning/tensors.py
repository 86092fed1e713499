"""Header checks for tensor container formats: NumPy .npy, safetensors and GGUF."""

from __future__ import annotations

import ast
import itertools
import json
import re
import struct
import warnings
from typing import Any

from mlgate.scanning.blob import Blob
from mlgate.scanning.context import Location
from mlgate.scanning.pickles import scan_pickle_stream
from mlgate.scanning.schemas import Severity
from mlgate.scanning.stream import Stream

__all__ = ["scan_gguf", "scan_npy", "scan_safetensors"]

_SAFETENSORS_DTYPES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E5M2": 1,
    "F8_E4M3": 1,
    "F8_E8M0": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
    "C64": 8,
    "F4": 1,
    "F6_E2M3": 1,
    "F6_E3M2": 1,
}
_MAX_HEADER = 100 << 20


def _has_object(descr: Any) -> bool | None:
    """Whether ``np.load`` unpickles the data after this header; None if NumPy refuses it.

    NumPy itself reads the descr: 'object', 'object_', 'O,i4' and structured fields all name
    object dtypes, and no pattern of ours would keep up with every spelling it accepts.
    """
    from numpy.lib.format import descr_to_dtype

    try:
        with warnings.catch_warnings():  # deprecated aliases ('a') still load
            warnings.simplefilter("ignore")
            return bool(descr_to_dtype(descr).hasobject)
    except (TypeError, ValueError, KeyError, IndexError, RecursionError, MemoryError):
        return None


def scan_npy(blob: Blob, loc: Location) -> None:
    """A .npy whose dtype holds objects is a pickle after its header: scan that pickle."""
    with blob.stream() as stream:
        prefix = stream.read(8)
        if len(prefix) < 8:
            loc.report(Severity.HIGH, "npy.malformed", "truncated .npy header")
            return
        major = prefix[6]
        width = "<H" if major == 1 else "<I"
        raw_len = stream.read(struct.calcsize(width))
        if len(raw_len) != struct.calcsize(width):
            loc.report(Severity.HIGH, "npy.malformed", "truncated .npy header")
            return
        (length,) = struct.unpack(width, raw_len)
        try:
            header = ast.literal_eval(stream.read(min(length, 1 << 20)).decode("latin-1"))
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            loc.report(Severity.HIGH, "npy.malformed", ".npy header is not a Python literal")
            return
        if not isinstance(header, dict) or "descr" not in header:
            loc.report(Severity.HIGH, "npy.malformed", ".npy header has no 'descr'")
            return
        has_object = _has_object(header["descr"])
        if has_object is None:
            loc.report(Severity.HIGH, "npy.malformed", ".npy header has a descr NumPy rejects")
            return
        if has_object:
            loc.report(
                Severity.INFO,
                "npy.object-array",
                "object array: its data is a pickle (loading needs allow_pickle=True)",
                offset=stream.tell(),
            )
            scan_pickle_stream(stream, loc)


def _product(shape: list[int]) -> int:
    total = 1
    for dim in shape:
        total *= dim
    return total


def _check_tensor(name: str, entry: Any, data_size: int, loc: Location) -> tuple[int, int] | None:
    if not isinstance(entry, dict):
        loc.report(
            Severity.HIGH, "safetensors.malformed", f"entry '{name}' is not an object", subject=name
        )
        return None
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in _SAFETENSORS_DTYPES:
        loc.report(
            Severity.HIGH,
            "safetensors.malformed",
            f"tensor '{name}' has unknown dtype {dtype!r}",
            subject=name,
        )
        return None
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        loc.report(
            Severity.HIGH, "safetensors.malformed", f"tensor '{name}' has a bad shape", subject=name
        )
        return None
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) for o in offsets)
    ):
        loc.report(
            Severity.HIGH,
            "safetensors.malformed",
            f"tensor '{name}' has bad data_offsets",
            subject=name,
        )
        return None
    begin, end = offsets
    if not 0 <= begin <= end <= data_size:
        loc.report(
            Severity.HIGH,
            "safetensors.out-of-bounds",
            f"tensor '{name}' offsets [{begin}, {end}] fall outside the {data_size}-byte "
            "data section",
            subject=name,
        )
        return None
    if _SAFETENSORS_DTYPES[dtype] * _product(shape) != end - begin and dtype not in (
        "F4",
        "F6_E2M3",
        "F6_E3M2",
    ):
        loc.report(
            Severity.HIGH,
            "safetensors.size-mismatch",
            f"tensor '{name}' spans {end - begin} bytes but its shape needs "
            f"{_SAFETENSORS_DTYPES[dtype] * _product(shape)}",
            subject=name,
        )
    return begin, end


def scan_safetensors(blob: Blob, loc: Location) -> None:
    """Checks the header: its length, its JSON, and that every tensor stays inside the file."""
    with blob.stream() as stream:
        (length,) = struct.unpack("<Q", stream.read(8).ljust(8, b"\0"))
        if length > _MAX_HEADER or (blob.size >= 0 and length > blob.size - 8):
            loc.report(
                Severity.HIGH,
                "safetensors.bad-header-length",
                f"header length {length} exceeds the file or the {_MAX_HEADER}-byte cap",
            )
            return
        raw = stream.read(length)
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError):
        loc.report(Severity.HIGH, "safetensors.malformed", "header is not valid JSON")
        return
    if not isinstance(header, dict):
        loc.report(Severity.HIGH, "safetensors.malformed", "header is not a JSON object")
        return
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        loc.report(Severity.MEDIUM, "safetensors.malformed", "__metadata__ must map str to str")
    data_size = blob.size - 8 - length if blob.size >= 0 else 1 << 62
    spans = sorted(
        span
        for name, entry in header.items()
        if (span := _check_tensor(name, entry, data_size, loc)) is not None
    )
    for (_, prev_end), (begin, _) in itertools.pairwise(spans):
        if begin < prev_end:
            loc.report(Severity.HIGH, "safetensors.overlap", "tensor data regions overlap")
            break


# Jinja constructs that reach Python internals from a template: the SSTI toolbox.
_TEMPLATE_RULES: list[tuple[re.Pattern[str], Severity, str]] = [
    (re.compile(r"__[A-Za-z]\w*__"), Severity.CRITICAL, "reaches a dunder attribute"),
    (
        re.compile(r"\b(popen|subprocess|os\.system|eval|exec|__import__|importlib)\b"),
        Severity.CRITICAL,
        "names a code-execution primitive",
    ),
    (re.compile(r"\|\s*attr\s*\("), Severity.HIGH, "uses the attr filter to reach attributes"),
    (
        re.compile(r"\b(lipsum|cycler|joiner|self\._TemplateReference)"),
        Severity.HIGH,
        "touches a jinja global commonly used to escape the sandbox",
    ),
    (
        re.compile(r"\{%-?\s*(import|include|extends|from)\b"),
        Severity.MEDIUM,
        "loads another template",
    ),
]


def check_template(text: str, key: str, loc: Location) -> None:
    """Flags chat templates that carry jinja code-execution patterns."""
    for pattern, severity, why in _TEMPLATE_RULES:
        match = pattern.search(text)
        if match:
            loc.report(
                severity,
                "gguf.template-injection",
                f"chat template {why}: '{match.group(0)}'",
                subject=key,
            )


_GGUF_SCALARS = {
    0: "B",
    1: "b",
    2: "H",
    3: "h",
    4: "I",
    5: "i",
    6: "f",
    7: "?",
    10: "Q",
    11: "q",
    12: "d",
}
_MAX_STRING = 64 << 20
_MAX_ITEMS = 1 << 24


class _GGUFError(Exception):
    pass


class _GGUFReader:
    def __init__(self, stream: Stream, version: int) -> None:
        self._stream = stream
        self._count = "<I" if version == 1 else "<Q"

    def unpack(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        data = self._stream.read(size)
        if len(data) != size:
            raise _GGUFError("truncated")
        return struct.unpack(fmt, data)[0]

    def count(self) -> int:
        return int(self.unpack(self._count))

    def string(self) -> str:
        length = self.count()
        if length > _MAX_STRING:
            raise _GGUFError(f"string of {length} bytes")
        data = self._stream.read(length)
        if len(data) != length:
            raise _GGUFError("truncated")
        return data.decode("utf-8", "replace")

    def value(self, kind: int, keep: bool) -> Any:
        if kind in _GGUF_SCALARS:
            return self.unpack("<" + _GGUF_SCALARS[kind])
        if kind == 8:
            return self.string()
        if kind == 9:
            inner, items = self.unpack("<I"), self.count()
            if items > _MAX_ITEMS:
                raise _GGUFError(f"array of {items} items")
            if inner in _GGUF_SCALARS and not keep:
                if not self._stream.skip(items * struct.calcsize("<" + _GGUF_SCALARS[inner])):
                    raise _GGUFError("truncated")
                return None
            values = [self.value(inner, keep) for _ in range(items)]
            return values if keep else None
        raise _GGUFError(f"unknown value type {kind}")


def scan_gguf(blob: Blob, loc: Location) -> None:
    """Reads the GGUF metadata and checks every chat template in it."""
    with blob.stream() as stream:
        stream.read(4)
        version = struct.unpack("<I", stream.read(4).ljust(4, b"\0"))[0]
        reader = _GGUFReader(stream, version)
        try:
            if version not in (1, 2, 3):
                raise _GGUFError(f"unsupported version {version}")
            reader.count()
            pairs = reader.count()
            if pairs > _MAX_ITEMS:
                raise _GGUFError(f"{pairs} metadata keys")
            for _ in range(pairs):
                key = reader.string()
                kind = reader.unpack("<I")
                value = reader.value(kind, keep="chat_template" in key)
                if "chat_template" in key:
                    texts = value if isinstance(value, list) else [value]
                    for text in texts:
                        if isinstance(text, str):
                            check_template(text, key, loc)
        except _GGUFError as exc:
            loc.report(
                Severity.HIGH,
                "gguf.malformed",
                f"GGUF metadata cannot be read ({exc})",
                offset=stream.tell(),
            )
