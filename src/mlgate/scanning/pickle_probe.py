"""Recognises pickles that carry no PROTO header by replaying their opcodes on the inert machine.

The unpickler takes opcodes of any protocol without a PROTO header, so a first byte cannot rule
a pickle out. The replay can: content that reaches an import of a real-looking name before it
breaks is a pickle a loader would run; content that breaks first (an unknown opcode, a stack or
memo error, an argument past the end) cannot run anything when unpickled. Import-free streams are
harmless, so they are not called pickles: random tensor data that happens to parse as a few
opcodes must not become a finding. Nothing is loaded or called.

Arguments are read with pickletools' readers, except where the unpickler is more lenient than
they are (INT and LONG accept ``0x``/``0o``/``0b``; GLOBAL names are UTF-8) and long string
arguments, which are skipped unread: the verdict never depends on their content.
"""

from __future__ import annotations

import io
import pickle
import pickletools
import warnings
from enum import Enum
from typing import Any

from mlgate.scanning.context import Location, Sink
from mlgate.scanning.pickle_values import Cut
from mlgate.scanning.pickle_vm import UNKNOWN, Call, Machine, Malformed, Skipped, step
from mlgate.scanning.stream import Stream

__all__ = ["Replay", "probe", "replay"]

# Past this many valid opcodes without a decision the replay stops stepping and looks ahead for
# an import opcode's byte instead: padding must not push an import out of its sight, and a long
# run of one byte (a constant-filled tensor) must not be called a pickle.
_MAX_OPS = 1 << 16
_IMPORT_OPCODES = (b"c", b"i", b"\x93")  # GLOBAL, INST, STACK_GLOBAL
_MAX_STREAMS = 64
# Longer string arguments and lines are skipped: no importable name or number is that long.
_READ_UP_TO = 1 << 12

_OPCODES = {op.code.encode("latin-1"): op for op in pickletools.opcodes}
_COUNTED = {  # pickletools' marker for a length-prefixed argument -> (length width, signed)
    pickletools.TAKEN_FROM_ARGUMENT1: (1, False),
    pickletools.TAKEN_FROM_ARGUMENT4: (4, True),
    pickletools.TAKEN_FROM_ARGUMENT4U: (4, False),
    pickletools.TAKEN_FROM_ARGUMENT8U: (8, False),
}
# What a skipped argument stands for: a value of its type that can never name an import.
_PLACEHOLDER: dict[str, Any] = {
    "INT": 0,
    "LONG": 0,
    "LONG1": 0,
    "LONG4": 0,
    "FLOAT": 0.0,
    "STRING": "",
    "UNICODE": "",
    "BINSTRING": "",
    "SHORT_BINSTRING": "",
    "BINUNICODE": "",
    "SHORT_BINUNICODE": "",
    "BINUNICODE8": "",
    "BINBYTES": b"",
    "SHORT_BINBYTES": b"",
    "BINBYTES8": b"",
    "BYTEARRAY8": b"",
    "PERSID": "",
}


class Replay(Enum):
    """How far a byte stream gets as a pickle."""

    PICKLE = "pickle"  # it reaches an import: a loader would run it
    UNDECIDED = "undecided"  # the bytes ran out before anything was decided
    NOT_PICKLE = "not-pickle"  # the unpickler would fail before importing anything


class _Decided(Exception):
    def __init__(self, verdict: Replay) -> None:
        super().__init__(verdict.value)
        self.verdict = verdict


def _importable(text: str) -> bool:
    return bool(text) and all(part.isidentifier() for part in text.split("."))


def _judge_import(m: Machine, module: Any, name: Any, offset: int, op: str) -> Any:
    if op == "EXT":  # the extension registry is empty unless the loading process fills it
        raise Malformed("unregistered extension code", offset)
    if module is UNKNOWN or name is UNKNOWN or type(module) is Cut or type(name) is Cut:
        raise _Decided(Replay.PICKLE)  # operands the replay cannot see: the scanner must judge
    if isinstance(module, str) and isinstance(name, str) and _importable(module + "." + name):
        raise _Decided(Replay.PICKLE)
    raise Malformed("the unpickler cannot import this name", offset)


def _ignore_bytes(m: Machine, value: bytes | Skipped, offset: int) -> None:
    return None


def _ignore_build(m: Machine, target: Call, offset: int) -> None:
    return None


def _exactly(stream: Stream, size: int) -> bytes:
    data = stream.read(size)
    if len(data) < size:
        raise _Decided(Replay.UNDECIDED)
    return data


def _line(stream: Stream) -> bytes | None:
    """The next line without its newline; None (skipped) when it is longer than _READ_UP_TO."""
    line = stream.readline(_READ_UP_TO)
    if line.endswith(b"\n"):
        return line[:-1]
    if len(line) < _READ_UP_TO:
        raise _Decided(Replay.UNDECIDED)
    for _ in range(1 << 40):  # ends at the newline or when the data runs out
        rest = stream.readline(_READ_UP_TO)
        if rest.endswith(b"\n"):
            break
        if len(rest) < _READ_UP_TO:
            raise _Decided(Replay.UNDECIDED)
    return None


def _decimal(line: bytes, offset: int) -> int:
    """INT and LONG as the unpickler reads them: base 10, or base 0 (``0x10``) where that fails."""
    text = line[:-1] if line.endswith(b"L") else line
    for base in (10, 0):
        try:
            return int(text, base)
        except ValueError:
            continue
    raise Malformed("not a number the unpickler reads", offset)


def _line_argument(op: pickletools.OpcodeInfo, stream: Stream, offset: int) -> Any:
    if op.name in ("GLOBAL", "INST"):
        module, name = _line(stream), _line(stream)
        if module is None or name is None:
            raise Malformed("an import name too long to exist", offset)
        return f"{module.decode()} {name.decode()}"  # the unpickler decodes names as UTF-8
    line = _line(stream)
    if line is None:
        if op.name not in _PLACEHOLDER:
            raise Malformed("a memo key too long to exist", offset)
        return _PLACEHOLDER[op.name]
    if op.name in ("INT", "LONG"):
        return _decimal(line, offset)
    assert op.arg is not None
    return op.arg.reader(io.BytesIO(line + b"\n"))


def _argument(op: pickletools.OpcodeInfo, stream: Stream, size: int, offset: int) -> Any:
    desc = op.arg
    if desc is None:
        return None
    if desc.n == pickletools.UP_TO_NEWLINE:
        return _line_argument(op, stream, offset)
    if desc.n >= 0:
        return desc.reader(io.BytesIO(_exactly(stream, desc.n)))
    width, signed = _COUNTED[desc.n]
    field = _exactly(stream, width)
    length = int.from_bytes(field, "little", signed=signed)
    if length < 0 or 0 <= size < stream.tell() + length:
        raise Malformed("an argument runs past the end of the data", offset)
    if length > _READ_UP_TO:
        if not stream.skip(length):
            raise _Decided(Replay.UNDECIDED)
        return _PLACEHOLDER[op.name]
    return desc.reader(io.BytesIO(field + _exactly(stream, length)))


def _replay_one(stream: Stream, size: int) -> None:
    """Replays one pickle to its STOP; raises _Decided or Malformed when it gets no further."""
    m = Machine(
        Location("probe", Sink()),
        on_import=_judge_import,
        on_bytes=_ignore_bytes,
        on_build=_ignore_build,
    )
    for _ in range(_MAX_OPS):
        offset = stream.tell()
        code = stream.read(1)
        if not code:
            raise _Decided(Replay.UNDECIDED)
        op = _OPCODES.get(code)
        if op is None:
            raise Malformed(f"unknown opcode {code!r}", offset)
        arg = _argument(op, stream, size, offset)
        if op.name == "PROTO" and arg > pickle.HIGHEST_PROTOCOL:
            raise Malformed(f"unsupported protocol {arg}", offset)
        if op.name == "FRAME" and 0 <= size < stream.tell() + arg:
            raise Malformed("a frame runs past the end of the data", offset)
        if step(m, op.name, arg, offset):
            if not m.stack:
                raise Malformed("STOP on an empty stack", offset)
            return
    raise _Decided(_import_ahead(stream, size))


def _import_ahead(stream: Stream, size: int) -> Replay:
    """PICKLE when an import opcode's byte lies ahead (failing closed), else nothing can import."""
    for _ in range(1 << 40):  # ends when the data runs out
        chunk = stream.read(1 << 20)
        if not chunk:
            break
        if any(code in chunk for code in _IMPORT_OPCODES):
            return Replay.PICKLE
    more = size < 0 or stream.tell() < size
    return Replay.UNDECIDED if more else Replay.NOT_PICKLE


def replay(stream: Stream, size: int = -1) -> Replay:
    """How far ``stream`` gets as a pickle; ``size`` is the whole content's length when known.

    Pickles may follow each other (some loaders read several), so replay goes on after a STOP.
    """
    with warnings.catch_warnings():  # pickletools warns on escapes the unpickler accepts
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            for _ in range(_MAX_STREAMS):
                _replay_one(stream, size)
                if not stream.peek(1):  # only import-free pickles: unpickling them runs nothing
                    break
            return _import_ahead(stream, size)
        except _Decided as decided:
            return decided.verdict
        except (Malformed, ValueError, OverflowError, MemoryError, UnicodeError):
            return Replay.NOT_PICKLE


def probe(data: bytes, size: int = -1) -> Replay:
    """Replays bytes already in memory: a head or a peek of content that may go on (``size``)."""
    return replay(Stream(io.BytesIO(data)), size)
