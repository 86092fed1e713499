"""Replays a pickle's opcodes read straight from a Stream's read-ahead window, as genops reads them.

pickletools.genops reads each opcode and argument through file calls and asks ``tell`` for each
offset; on a pickle of many small objects that, and a call per opcode into the machine, was most
of the scan. Here opcodes with binary arguments are decoded from memory, and the commonest data
opcodes (memo reads and writes, marks, numbers) are applied in the loop, exactly as their
handlers in pickle_vm would apply them. The rest (text arguments, an argument running past the
window, anything malformed) is read by pickletools' own readers from the stream, so arguments,
offsets and failures are genops' (tests/scanning/test_pickle_ops.py holds the two together).

One difference: a constant longer than ``MAX_CONSTANT`` is skipped unread and replayed as
UNKNOWN, for no check reads that far into a constant (genops read it into memory). The nested
pickle check is handed its start and last byte instead (a ``Skipped``).
"""

from __future__ import annotations

import codecs
import pickle
import pickletools
import struct
import sys
from collections.abc import Callable
from typing import IO, Any, NamedTuple, cast

from mlgate.scanning.pickle_values import CUT_HEAD
from mlgate.scanning.pickle_vm import MARK, MEMO_AS_IS, UNKNOWN, Machine, Skipped
from mlgate.scanning.stream import Stream

__all__ = ["MAX_CONSTANT", "replay"]

MAX_CONSTANT = 64 << 20
_AHEAD = 1 << 20  # the read-ahead window
_LONGEST_HEAD = 9  # an opcode and its longest fixed argument or length field
_SKIPPED_HEAD = 64 << 10  # how much of a skipped constant the nested pickle check is shown

# How the loop takes an opcode. The first five decode their argument from the window and call
# the handler; the next five are applied in the loop; _READER and _SYNC (STOP, BUILD, whose hook
# may read the stream) go through _decode.
_NO_ARG, _UINT1, _FIXED, _COUNTED, _READER, _SYNC = range(6)
_GET1, _MEMOIZE, _MARK, _PUSH_UINT1, _PUSH_FIXED = range(6, 11)
_IN_LOOP = {"BINGET": _GET1, "MEMOIZE": _MEMOIZE, "MARK": _MARK, "BININT1": _PUSH_UINT1}
_IN_LOOP |= dict.fromkeys(("BININT", "BININT2", "BINFLOAT"), _PUSH_FIXED)


class _Op(NamedTuple):
    kind: int
    size: int  # _FIXED: the argument's bytes; _COUNTED: its length field's
    unpack: Callable[[bytes, int], tuple[Any, ...]] | None  # _FIXED: the value; _COUNTED: length
    convert: Callable[[bytes], Any] | None  # _COUNTED: the argument from its bytes
    reader: Callable[[IO[bytes]], Any] | None  # pickletools' reader of the argument
    arg_name: str  # pickletools' name of the argument's type, as its errors say it


def _text(encoding: str, errors: str = "strict") -> Callable[[bytes], str]:
    return lambda raw: raw.decode(encoding, errors)


_FIXED_FORMATS = {"uint2": "<H", "int4": "<i", "uint4": "<I", "uint8": "<Q", "float8": ">d"}
_COUNTED_FORMATS: dict[str, tuple[str, Callable[[bytes], Any]]] = {
    "string1": ("<B", _text("latin-1")),  # the length field, and what the bytes become
    "string4": ("<i", _text("latin-1")),
    "bytes1": ("<B", bytes),
    "bytes4": ("<I", bytes),
    "bytes8": ("<Q", bytes),
    "bytearray8": ("<Q", bytearray),
    "unicodestring1": ("<B", _text("utf-8", "surrogatepass")),
    "unicodestring4": ("<I", _text("utf-8", "surrogatepass")),
    "unicodestring8": ("<Q", _text("utf-8", "surrogatepass")),
    "long1": ("<B", pickle.decode_long),
    "long4": ("<i", pickle.decode_long),
}


def _op(info: pickletools.OpcodeInfo) -> _Op:
    desc, name = info.arg, info.name
    reader, arg_name = (None, "") if desc is None else (desc.reader, desc.name)
    kind, size, unpack, convert = _NO_ARG, 0, None, None
    if name in ("STOP", "BUILD"):
        kind = _SYNC
    elif desc is None:
        pass
    elif desc.name == "uint1":
        kind, size = _UINT1, 1
    elif desc.name in _FIXED_FORMATS:
        layout = struct.Struct(_FIXED_FORMATS[desc.name])
        kind, size, unpack = _FIXED, layout.size, layout.unpack_from
    elif desc.name in _COUNTED_FORMATS:
        fmt, convert = _COUNTED_FORMATS[desc.name]
        layout = struct.Struct(fmt)
        kind, size, unpack = _COUNTED, layout.size, layout.unpack_from
    else:
        kind = _READER  # text up to a newline
    return _Op(_IN_LOOP.get(name, kind), size, unpack, convert, reader, arg_name)


_TABLE: list[_Op | None] = [None] * 256
for _info in pickletools.opcodes:
    _TABLE[ord(_info.code)] = _op(_info)
# The loop's view of the table, a list per field; index -1 stands for the end of the data.
_KINDS = [_READER if op is None else op.kind for op in _TABLE] + [_READER]
_UNPACKS: list[Any] = [None if op is None else op.unpack for op in _TABLE] + [None]
_SPANS = [1 if op is None else 1 + op.size for op in _TABLE] + [1]  # opcode and fixed argument
_STOP, _BUILD = ord(pickle.STOP), ord(pickle.BUILD)
_NUMBERS = frozenset({"long1", "long4"})  # counted, but numbers: skipped as UNKNOWN
_TEXT = {"string1": "latin-1", "string4": "latin-1"}  # how text arguments decode, as above
_TEXT |= dict.fromkeys(("unicodestring1", "unicodestring4", "unicodestring8"), "utf-8")


def replay(stream: Stream, m: Machine, tick: Callable[[], None], every: int) -> Any:
    """Replays one pickle on ``m`` to its STOP and returns the value left on the stack.

    ``tick`` is called before the first opcode and again each time ``every`` more bytes were
    read (so at most ``every`` opcodes apart). Raises ValueError (and the like) where genops
    would; the stream is left just past the STOP, or where the data broke. One long function
    on purpose: local names and no call per data opcode are what make the loop fast.
    """
    tick()
    buf, at = stream.window(_AHEAD)
    base, end = stream.tell() - at, len(buf)  # buf[at] is at offset base + at of the stream
    tick_at = base + at + every  # the stream offset of the next tick
    limit = min(end - _LONGEST_HEAD, tick_at - base)  # past it: tick, or the window runs short
    stack, memo, far, as_is = m.stack, m.memo, m.far, MEMO_AS_IS
    kinds, handlers, unpacks, spans = _KINDS, m.table, _UNPACKS, _SPANS
    synced = False  # True while the stream, not ``at``, says how far the replay got
    try:
        for _ in range(1 << 62):  # ends at STOP, or with an error where the data does
            if at >= limit:
                if at >= tick_at - base:
                    tick()
                    tick_at = base + at + every
                if at + _LONGEST_HEAD >= end:
                    stream.consume(at)
                    buf, at = stream.window(_AHEAD)
                    base, end = stream.tell() - at, len(buf)
                limit = min(end - _LONGEST_HEAD, tick_at - base)
            code = buf[at] if at < end else -1
            kind = kinds[code]
            # Below ``limit`` the whole argument of a fixed-size opcode is in the window.
            if kind == _GET1 and at < limit:
                at += 2
                try:
                    stack.append(memo[buf[at - 1]])
                except IndexError:
                    handlers[code](m, buf[at - 1], base + at - 2)  # a far key, or the error
            elif kind == _MEMOIZE and stack and not far and type(stack[-1]) in as_is:
                memo.append(stack[-1])
                at += 1
            elif kind == _PUSH_FIXED and at < limit:
                stack.append(unpacks[code](buf, at + 1)[0])
                at += spans[code]
            elif kind == _MARK:
                stack.append(MARK)
                at += 1
            elif kind == _PUSH_UINT1 and at < limit:
                stack.append(buf[at + 1])
                at += 2
            elif kind in (_NO_ARG, _MEMOIZE):
                at += 1
                handlers[code](m, None, base + at - 1)
            elif kind in (_UINT1, _GET1, _PUSH_UINT1) and at < limit:
                at += 2
                handlers[code](m, buf[at - 1], base + at - 2)
            elif kind in (_FIXED, _PUSH_FIXED) and at < limit:
                offset, arg = base + at, unpacks[code](buf, at + 1)[0]
                at += spans[code]
                handlers[code](m, arg, offset)
            else:  # a counted or text argument, STOP, BUILD, a bad opcode or the data's end
                op = _TABLE[code] if code >= 0 else None
                if op is None:
                    at = min(at + 1, end)  # genops read the bad byte, if there was one
                    if code < 0:
                        raise ValueError("pickle exhausted before seeing STOP")
                    raise ValueError(
                        f"at position {base + at - 1}, opcode {bytes([code])!r} unknown"
                    )
                offset = base + at
                synced = True  # until _decode says otherwise: it may have read the stream
                arg, at, synced = _decode(stream, op, buf, at, end)
                if code == _STOP:
                    if not synced:
                        stream.consume(at)
                    return stack[-1] if stack else None
                if not synced and code != _BUILD:
                    handlers[code](m, arg, offset)
                    continue
                if not synced:
                    stream.consume(at)
                    synced = True
                handlers[code](m, arg, offset)
                buf, at = stream.window(_LONGEST_HEAD + 1)  # the rest of the window, if any
                base, end = stream.tell() - at, len(buf)
                limit = min(end - _LONGEST_HEAD, tick_at - base)
                synced = False
    except BaseException:
        if not synced:
            stream.consume(at)
        raise
    raise ValueError("pickle never reached STOP")


def _decode(stream: Stream, op: _Op, buf: bytes, at: int, end: int) -> tuple[Any, int, bool]:
    """The argument of the opcode at ``buf[at]``: (argument, next ``at``, whether synced).

    A counted argument wholly in the window is sliced from it. Anything else is read from the
    stream past the opcode byte by pickletools' reader, raising what genops raises; the stream
    then says where the replay is (synced).
    """
    if op.kind == _COUNTED and at + op.size < end:
        length = op.unpack(buf, at + 1)[0]  # type: ignore[misc]
        start = at + 1 + op.size
        if length >= 0 and start + length <= end:
            try:
                return op.convert(buf[start : start + length]), start + length, False  # type: ignore[misc]
            except ValueError:
                pass  # not valid text: the reader below raises it in genops' words
        elif MAX_CONSTANT < length <= sys.maxsize:
            stream.consume(start)
            before = stream.tell()
            head = stream.peek(_SKIPPED_HEAD)
            last = stream.read(1) if stream.skip(length - 1) else b""
            if not last and op.arg_name in _NUMBERS:  # in pickletools' words, as above
                raise ValueError(f"not enough data in stream to read {op.arg_name}")
            if not last:
                remain = stream.tell() - before
                raise ValueError(
                    f"expected {length} bytes in a {op.arg_name}, but only {remain} remain"
                )
            if op.arg_name in _NUMBERS:
                return UNKNOWN, 0, True
            skipped = Skipped(length, _loaded(op.arg_name, head), last, _start(op.arg_name, head))
            return skipped, 0, True
    if op.reader is None:
        return None, at + 1, False
    stream.consume(at + 1)
    return op.reader(cast(IO[bytes], stream)), 0, True


def _start(arg_name: str, head: bytes) -> str | None:
    """The first CUT_HEAD characters of a text constant starting with ``head``, as the unpickler
    decodes them (a character cut by the end of ``head`` is left out); None for bytes, or text
    it fails to decode (so it makes no name)."""
    encoding = _TEXT.get(arg_name)
    if encoding is None:
        return None
    errors = "surrogatepass" if encoding == "utf-8" else "strict"
    try:
        text = codecs.getincrementaldecoder(encoding)(errors).decode(head[: 4 * CUT_HEAD])
    except UnicodeDecodeError:
        return None
    return text[:CUT_HEAD]


def _loaded(arg_name: str, head: bytes) -> bytes:
    """What ``pickle.loads`` is handed of a constant starting with ``head``, as _const does it:
    bytes as they are, text only when it starts with U+0080 (as latin-1)."""
    encoding = _TEXT.get(arg_name)
    if encoding is None:
        return head
    text = head.decode(encoding, "ignore")
    return text.encode("latin-1", "replace") if text.startswith("\x80") else b""
