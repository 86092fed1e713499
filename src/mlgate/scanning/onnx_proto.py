"""Reads what the ONNX checks need straight from the protobuf wire format, streaming.

Parsing with the onnx package holds the whole model (weights included) in memory twice, so large
models went unchecked. This reader walks the wire format, descends only into the messages that
can hold tensors or nodes, and skips everything else (raw weights) unread: memory stays bounded
whatever the model's size, and the onnx package is not needed. Field numbers are onnx.proto's.
Only distinct ops, locations and functions are kept, and reading stops past fixed caps, so a
crafted model of millions of tiny messages costs bounded time, memory and findings too. Every
field read or skipped consumes bytes, so the time budget is checked once per chunk read.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from mlgate.scanning.context import OutOfTime
from mlgate.scanning.stream import Stream

__all__ = [
    "MAX_KEPT",
    "MAX_KEPT_BYTES",
    "MAX_MESSAGES",
    "NotOnnx",
    "OnnxSummary",
    "OnnxUse",
    "TooDeep",
    "read_onnx",
]

_MODEL, _GRAPH, _NODE, _ATTR, _TENSOR, _SPARSE, _FUNCTION, _TRAINING, _ENTRY = range(9)

# (message, field number) -> the message it holds; every tensor, graph and function is reached.
_CHILDREN: dict[int, dict[int, int]] = {
    _MODEL: {7: _GRAPH, 20: _TRAINING, 25: _FUNCTION},
    _TRAINING: {1: _GRAPH, 2: _GRAPH},
    _GRAPH: {1: _NODE, 5: _TENSOR, 15: _SPARSE},
    _FUNCTION: {7: _NODE, 11: _ATTR},
    _NODE: {5: _ATTR},
    _ATTR: {5: _TENSOR, 6: _GRAPH, 10: _TENSOR, 11: _GRAPH, 22: _SPARSE, 23: _SPARSE},
    _SPARSE: {1: _TENSOR, 2: _TENSOR},
    _TENSOR: {13: _ENTRY},
}
_STRINGS: dict[int, dict[int, str]] = {
    _NODE: {3: "name", 4: "op_type", 7: "domain"},
    _FUNCTION: {1: "name", 10: "domain"},
    _TENSOR: {8: "name"},
    _ENTRY: {1: "key", 2: "value"},
}
_MAX_STRING = 64 << 10  # longer names are kept as None: "too long to judge"
# protobuf's default recursion limit: what nests deeper is refused by ONNX Runtime as well.
MAX_NESTING = 100
# Past these caps reading stops and the model is reported as not fully checked. Real graphs hold
# far fewer messages (nodes, attributes, tensors); every distinct op, external-data location or
# local function kept may become a finding, so MAX_KEPT bounds the report as well as memory.
MAX_MESSAGES = 4_000_000
MAX_KEPT = 10_000
MAX_KEPT_BYTES = 16 << 20  # the kept names, together
_CHUNK = 1 << 20
_UNTIL_EOF = float("inf")


class NotOnnx(Exception):
    """The bytes are not a protobuf message (or not an ONNX model)."""


class TooDeep(Exception):
    """Messages nest deeper than protobuf parsers accept."""


class _Stop(Exception):
    """Reading stops at a cap; what was read so far is still reported."""


@dataclass(slots=True)
class OnnxUse:
    """One distinct op or external-data location: a name that uses it, and how many uses."""

    example: str | None
    count: int = 1


@dataclass
class OnnxSummary:
    """Distinct external-data locations and (domain, op_type) pairs, and model-local functions.

    ``stopped`` says which cap ended reading early (at byte ``stopped_at``); the model was then
    not fully read, and the summary holds only what came before.
    """

    locations: dict[str | None, OnnxUse] = field(default_factory=dict)
    ops: dict[tuple[str, str | None], OnnxUse] = field(default_factory=dict)
    functions: set[tuple[str, str]] = field(default_factory=set)
    has_graph: bool = False
    messages: int = 0
    kept_bytes: int = 0
    stopped: str | None = None
    stopped_at: int | None = None


class _Reader:
    """Buffered forward reads over a stream, with the absolute offset in ``pos``.

    Raises OutOfTime when it needs another chunk past ``deadline`` (a ``time.monotonic()``).
    """

    def __init__(self, stream: Stream, deadline: float = math.inf) -> None:
        self._stream = stream
        self._deadline = deadline
        self._buf = b""
        self._at = 0
        self.pos = 0

    def _fill(self) -> bool:
        """Appends a chunk to what is left unread; False when the stream has no more."""
        if time.monotonic() > self._deadline:
            raise OutOfTime
        more = self._stream.read(_CHUNK)
        self._buf = self._buf[self._at :] + more
        self._at = 0
        return len(more) > 0

    def at_end(self) -> bool:
        return self._at >= len(self._buf) and not self._fill()

    def varint(self) -> int:
        value = 0
        for shift in range(0, 70, 7):
            if self._at >= len(self._buf) and not self._fill():
                raise NotOnnx("truncated varint")
            byte = self._buf[self._at]
            self._at += 1
            self.pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
        raise NotOnnx("varint longer than ten bytes")

    def read(self, size: int) -> bytes:
        for _ in range(size // _CHUNK + 2):  # each round adds a chunk, or the data ran out
            if len(self._buf) - self._at >= size or not self._fill():
                break
        data = self._buf[self._at : self._at + size]
        if len(data) < size:
            raise NotOnnx("truncated field")
        self._at += size
        self.pos += size
        return data

    def skip(self, size: int) -> None:
        buffered = min(size, len(self._buf) - self._at)
        self._at += buffered
        if size > buffered and not self._stream.skip(size - buffered):
            raise NotOnnx("truncated field")
        self.pos += size


def _skip_group(reader: _Reader, end: float) -> None:
    """Skips a (deprecated) group up to its END_GROUP tag; protobuf parsers still accept them."""
    depth = 1
    for _ in range(1 << 40):  # ends at the matching END_GROUP or the message's end
        if reader.pos >= end:
            raise NotOnnx("unterminated group")
        key = reader.varint()
        wire = key & 7
        if wire == 3:
            depth += 1
        elif wire == 4:
            depth -= 1
            if depth == 0:
                return
        else:
            _skip_value(reader, wire, end)


def _skip_value(reader: _Reader, wire: int, end: float) -> None:
    if wire == 0:
        reader.varint()
    elif wire == 1:
        reader.skip(8)
    elif wire == 5:
        reader.skip(4)
    elif wire == 2:
        size = reader.varint()
        if reader.pos + size > end:
            raise NotOnnx("a field runs past its message")
        reader.skip(size)
    else:
        raise NotOnnx(f"wire type {wire}")


def _message(
    reader: _Reader, kind: int, end: float, depth: int, out: OnnxSummary
) -> dict[str, Any]:
    """Reads one message up to ``end``; returns its string fields (and a tensor's new locations)."""
    if depth > MAX_NESTING:
        raise TooDeep(f"messages nest more than {MAX_NESTING} deep")
    out.messages += 1
    if out.messages > MAX_MESSAGES:
        raise _Stop(f"more than {MAX_MESSAGES:,} messages")
    fields: dict[str, Any] = {}
    children, strings = _CHILDREN.get(kind, {}), _STRINGS.get(kind, {})
    for _ in range(1 << 62):  # ends at the message's end
        if reader.pos >= end or (end == _UNTIL_EOF and reader.at_end()):
            break
        key = reader.varint()
        number, wire = key >> 3, key & 7
        if number == 0:
            raise NotOnnx("field number 0")
        if wire == 3:
            _skip_group(reader, end)
            continue
        if wire != 2 or (number not in children and number not in strings):
            _skip_value(reader, wire, end)  # a known field with another wire type is unknown
            continue
        size = reader.varint()
        stop = reader.pos + size
        if stop > end:
            raise NotOnnx("a field runs past its message")
        if number in strings:
            if size > _MAX_STRING:
                reader.skip(size)
                fields[strings[number]] = None
            else:
                fields[strings[number]] = reader.read(size).decode("utf-8", "replace")
            continue
        child = children[number]
        got = _message(reader, child, stop, depth + 1, out)
        if reader.pos != stop:
            raise NotOnnx("a message ends inside a field")
        _collect(kind, number, child, got, fields, out)
    return fields


def _keep(out: OnnxSummary, *texts: str | None) -> None:
    """Counts strings kept past their message; stops reading once the kept items pass a cap."""
    out.kept_bytes += sum(len(text) for text in texts if text)
    if len(out.locations) + len(out.ops) + len(out.functions) > MAX_KEPT:
        raise _Stop(f"more than {MAX_KEPT:,} distinct ops, functions and external-data locations")
    if out.kept_bytes > MAX_KEPT_BYTES:
        raise _Stop(f"more than {MAX_KEPT_BYTES >> 20} MiB of op, function and location names")


def _collect(
    parent: int,
    number: int,
    child: int,
    got: dict[str, Any],
    fields: dict[str, Any],
    out: OnnxSummary,
) -> None:
    if child == _ENTRY and got.get("key") == "location":
        # Every location is checked, whatever data_location says: protobuf merges repeated
        # copies of a tensor field, so the entry and the EXTERNAL flag may come from two copies.
        where = got.get("value")
        if where in out.locations:
            out.locations[where].count += 1
        else:  # the tensor's name may come after this entry: it is set when the tensor ends
            out.locations[where] = use = OnnxUse(None)
            fields.setdefault("unnamed", []).append(use)
            _keep(out, where)
    elif child == _TENSOR:
        for use in got.get("unnamed", ()):
            use.example = got.get("name")
        if "unnamed" in got:
            _keep(out, got.get("name"))
    elif child == _NODE:
        op = (got.get("domain") or "", got.get("op_type"))
        if op in out.ops:
            out.ops[op].count += 1
        else:
            out.ops[op] = OnnxUse(got.get("name"))
            _keep(out, *op, got.get("name"))
    elif child == _FUNCTION:
        function = (got.get("domain") or "", got.get("name") or "")
        if function not in out.functions:
            out.functions.add(function)
            _keep(out, *function)
    elif parent == _MODEL and number == 7:
        out.has_graph = True


def read_onnx(stream: Stream, size: int, *, deadline: float = math.inf) -> OnnxSummary:
    """Reads a ModelProto from ``stream`` (``size`` bytes, -1 when unknown).

    Raises NotOnnx when the bytes are no protobuf message or hold no graph, TooDeep when its
    messages nest past what protobuf parsers accept, OutOfTime when reading is still going at
    ``deadline`` (a ``time.monotonic()``). Past a cap (MAX_MESSAGES, MAX_KEPT, MAX_KEPT_BYTES)
    it returns what it read so far, with ``stopped`` saying why.
    """
    reader = _Reader(stream, deadline)
    out = OnnxSummary()
    try:
        _message(reader, _MODEL, float(size) if size >= 0 else _UNTIL_EOF, 0, out)
    except _Stop as stop:
        out.stopped, out.stopped_at = str(stop), reader.pos
        return out
    if not out.has_graph:
        raise NotOnnx("no graph")
    return out
