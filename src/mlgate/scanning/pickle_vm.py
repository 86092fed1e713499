"""An inert pickle machine: replays opcodes on a simulated stack and memo, calling nothing.

Values are constants, containers of values, ``GlobalRef`` for imports, ``Call`` for REDUCE/NEWOBJ
/OBJ/INST results, or ``UNKNOWN``. Imports, byte constants and BUILDs are handed to hooks so
the policy (pickles.py) stays apart from the mechanics here.
"""

from __future__ import annotations

import pickletools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlgate.scanning.context import Location

__all__ = [
    "HANDLERS",
    "MARK",
    "MEMO_AS_IS",
    "UNKNOWN",
    "Call",
    "GlobalRef",
    "Handler",
    "Machine",
    "Malformed",
    "TrackedDict",
    "step",
]


class _Sentinel:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


MARK = _Sentinel("MARK")
UNKNOWN = _Sentinel("UNKNOWN")


@dataclass(frozen=True)
class GlobalRef:
    module: str
    name: str


@dataclass(eq=False)
class Call:
    func: Any
    args: Any
    state: Any = None


class TrackedDict(dict[Any, Any]):
    """A pickled dict as far as the replay follows it; ``partial`` once it lost track.

    Only small dicts with constant keys are followed. A dict that grew past that, or got a key
    the replay cannot know (the result of a call), may hold entries the replay never saw:
    anything read from it then must be treated as unknown (a joblib wrapper's state).
    """

    # A class attribute, set on an instance only when it turns True: building a TrackedDict
    # then costs what building a dict does (a pickle of many rows makes one per row).
    partial = False


class Malformed(Exception):
    """The stream is not a valid pickle; carries the offset where that became clear."""

    def __init__(self, message: str, offset: int | None) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(slots=True)
class Machine:
    """The state of replaying one pickle stream, and the hooks that judge what it meets."""

    loc: Location
    on_import: Callable[[Machine, Any, Any, int, str], Any]
    on_bytes: Callable[[Machine, bytes, int], None]
    on_build: Callable[[Machine, Call, int], None]
    stack: list[Any] = field(default_factory=list)
    memo: dict[int, Any] = field(default_factory=dict)
    globals_seen: int = 0

    def pop(self, offset: int) -> Any:
        if not self.stack:
            raise Malformed("stack underflow", offset)
        return self.stack.pop()

    def top(self, offset: int) -> Any:
        if not self.stack:
            raise Malformed("the stack is empty", offset)
        return self.stack[-1]

    def pop_mark(self, offset: int) -> list[Any]:
        stack = self.stack
        for index in range(len(stack) - 1, -1, -1):
            if stack[index] is MARK:
                items = stack[index + 1 :]
                del stack[index:]
                return items
        raise Malformed("no MARK on the stack", offset)


Handler = Callable[[Machine, Any, int], None]


def _as_dict(items: list[Any]) -> Any:
    if len(items) > 2 * _SMALL:
        return UNKNOWN
    merged = TrackedDict()
    _update(merged, items)
    return merged


def _known_key(key: Any, depth: int = 0) -> bool:
    """Keys the replay can compare as the unpickler would: constants, not calls or unknowns."""
    if isinstance(key, tuple):  # nested past a few levels: unknown, and no recursion limit hit
        return depth < 8 and all(_known_key(k, depth + 1) for k in key)
    return isinstance(key, str | bytes | int | float | complex) or key is None


def _set(target: TrackedDict, key: Any, value: Any) -> None:
    """SETITEM into a followed dict: existing keys always, new ones while it is small."""
    if (type(key) is str or _known_key(key)) and (len(target) < _SMALL or key in target):
        target[key] = value
    else:
        target.partial = True


def _update(target: TrackedDict, items: list[Any]) -> None:
    for index in range(0, len(items) - 1, 2):  # a lone last key has no value: ignored
        key, value = items[index], items[index + 1]
        if type(key) is str and (len(target) < _SMALL or key in target):
            target[key] = value  # _set's common case, without the call
        else:
            _set(target, key, value)


def _small_tuple(items: list[Any]) -> Any:
    return tuple(items) if len(items) <= _SMALL else UNKNOWN


def _const(m: Machine, arg: Any, offset: int) -> None:
    if isinstance(arg, str):
        if arg.startswith("\x80"):
            m.on_bytes(m, arg.encode("latin-1", "replace"), offset)
    elif isinstance(arg, bytes | bytearray):
        m.on_bytes(m, bytes(arg), offset)
    m.stack.append(arg)


def _number(m: Machine, arg: Any, offset: int) -> None:
    """A constant that is never bytes nor text (numbers, None, booleans)."""
    m.stack.append(arg)


# Containers are tracked only while small: the policy needs short things (a joblib wrapper's
# state, an array shape, a dtype's arguments), and keeping a million rows alive costs memory
# and garbage-collector time for nothing.
_SMALL = 64


# Types the memo keeps as they are, whatever their size: the common case needs one type test.
MEMO_AS_IS = frozenset({str, int, float, bool, type(None), GlobalRef, Call, _Sentinel})


def _memorable(value: Any) -> Any:
    if type(value) is tuple:  # the common case, first
        return value if len(value) <= _SMALL else UNKNOWN
    if isinstance(value, bytes | bytearray) and len(value) > 256:
        return UNKNOWN
    if isinstance(value, list | dict) or (isinstance(value, tuple) and len(value) > _SMALL):
        return UNKNOWN
    return value


def _memoize(m: Machine, arg: Any, offset: int) -> None:
    if not m.stack:
        raise Malformed("the stack is empty", offset)
    value, memo = m.stack[-1], m.memo
    memo[len(memo)] = value if type(value) in MEMO_AS_IS else _memorable(value)


def _put(m: Machine, arg: Any, offset: int) -> None:
    m.memo[int(arg)] = _memorable(m.top(offset))


def _get(m: Machine, arg: Any, offset: int) -> None:
    try:
        m.stack.append(m.memo[int(arg)])
    except KeyError:
        raise Malformed(f"memo key {arg} was never stored", offset) from None


def _global(m: Machine, arg: Any, offset: int) -> None:
    module, _, attr = str(arg).partition(" ")
    m.stack.append(m.on_import(m, module, attr, offset, "GLOBAL"))


def _inst(m: Machine, arg: Any, offset: int) -> None:
    module, _, attr = str(arg).partition(" ")
    ref = m.on_import(m, module, attr, offset, "INST")
    m.stack.append(Call(ref, tuple(m.pop_mark(offset))))


def _stack_global(m: Machine, arg: Any, offset: int) -> None:
    attr = m.pop(offset)
    m.stack.append(m.on_import(m, m.pop(offset), attr, offset, "STACK_GLOBAL"))


def _ext(m: Machine, arg: Any, offset: int) -> None:
    m.on_import(m, None, f"extension code {arg}", offset, "EXT")
    m.stack.append(UNKNOWN)


def _reduce(m: Machine, arg: Any, offset: int) -> None:
    args = m.pop(offset)
    m.stack.append(Call(m.pop(offset), args))


def _newobj_ex(m: Machine, arg: Any, offset: int) -> None:
    m.pop(offset)
    _reduce(m, arg, offset)


def _obj(m: Machine, arg: Any, offset: int) -> None:
    items = m.pop_mark(offset)
    if not items:
        raise Malformed("OBJ without a class", offset)
    m.stack.append(Call(items[0], tuple(items[1:])))


def _build(m: Machine, arg: Any, offset: int) -> None:
    state = m.pop(offset)
    target = m.top(offset)
    if isinstance(target, Call):
        # A second BUILD of the same object updates its __dict__ (no __setstate__): merge, so
        # a key set by the first one and left out of the second is still seen.
        if isinstance(target.state, TrackedDict) and isinstance(state, TrackedDict):
            merged = TrackedDict(target.state)
            merged.update(state)
            merged.partial = target.state.partial or state.partial
            state = merged
        target.state = state
        m.on_build(m, target, offset)


def _append(m: Machine, arg: Any, offset: int) -> None:
    item = m.pop(offset)
    target = m.top(offset)
    if isinstance(target, list) and len(target) < _SMALL:
        target.append(item)


def _appends(m: Machine, arg: Any, offset: int) -> None:
    items = m.pop_mark(offset)
    target = m.top(offset)
    if isinstance(target, list) and len(target) + len(items) <= _SMALL:
        target.extend(items)


def _setitem(m: Machine, arg: Any, offset: int) -> None:
    value = m.pop(offset)
    key = m.pop(offset)
    target = m.top(offset)
    if isinstance(target, TrackedDict):
        try:  # noqa: SIM105 - contextlib.suppress costs a context manager per SETITEM
            _set(target, key, value)
        except TypeError:  # an unhashable key fails the unpickler too
            pass


def _setitems(m: Machine, arg: Any, offset: int) -> None:
    items = m.pop_mark(offset)
    target = m.top(offset)
    if isinstance(target, TrackedDict):
        if len(items) > 2 * _SMALL:
            target.partial = True
            return
        try:  # noqa: SIM105 - as in _setitem
            _update(target, items)
        except TypeError:  # an unhashable key fails the unpickler too
            pass


def _tuple_n(count: int) -> Handler:
    def handler(m: Machine, arg: Any, offset: int) -> None:
        stack = m.stack
        if len(stack) < count:
            raise Malformed("stack underflow", offset)
        items = tuple(stack[-count:])
        del stack[-count:]
        stack.append(items)

    return handler


def _push(value: Callable[[], Any]) -> Handler:
    def handler(m: Machine, arg: Any, offset: int) -> None:
        m.stack.append(value())

    return handler


def _mark(m: Machine, arg: Any, offset: int) -> None:
    m.stack.append(MARK)


def _empty_list(m: Machine, arg: Any, offset: int) -> None:
    m.stack.append([])


def _empty_dict(m: Machine, arg: Any, offset: int) -> None:
    m.stack.append(TrackedDict())


def _pop_n(m: Machine, arg: Any, offset: int) -> None:
    m.pop(offset)


def _pop_mark(m: Machine, arg: Any, offset: int) -> None:
    m.pop_mark(offset)


def _dup(m: Machine, arg: Any, offset: int) -> None:
    m.stack.append(m.top(offset))


def _binpersid(m: Machine, arg: Any, offset: int) -> None:
    m.pop(offset)
    m.stack.append(UNKNOWN)


def _nothing(m: Machine, arg: Any, offset: int) -> None:
    return None


_SPECIFIC: dict[str, Handler] = {
    "PROTO": _nothing,
    "FRAME": _nothing,
    "READONLY_BUFFER": _nothing,
    "MARK": _mark,
    "GLOBAL": _global,
    "INST": _inst,
    "STACK_GLOBAL": _stack_global,
    "MEMOIZE": _memoize,
    "PUT": _put,
    "BINPUT": _put,
    "LONG_BINPUT": _put,
    "GET": _get,
    "BINGET": _get,
    "LONG_BINGET": _get,
    "EXT1": _ext,
    "EXT2": _ext,
    "EXT4": _ext,
    "REDUCE": _reduce,
    "NEWOBJ": _reduce,
    "NEWOBJ_EX": _newobj_ex,
    "OBJ": _obj,
    "BUILD": _build,
    "TUPLE": lambda m, a, o: m.stack.append(_small_tuple(m.pop_mark(o))),
    "FROZENSET": lambda m, a, o: m.stack.append(tuple(m.pop_mark(o))),
    "LIST": lambda m, a, o: m.stack.append(m.pop_mark(o)),
    "DICT": lambda m, a, o: m.stack.append(_as_dict(m.pop_mark(o))),
    "TUPLE1": _tuple_n(1),
    "TUPLE2": _tuple_n(2),
    "TUPLE3": _tuple_n(3),
    "APPEND": _append,
    "APPENDS": _appends,
    "ADDITEMS": _appends,
    "SETITEM": _setitem,
    "SETITEMS": _setitems,
    "POP": _pop_n,
    "POP_MARK": _pop_mark,
    "DUP": _dup,
    "EMPTY_LIST": _empty_list,
    "EMPTY_DICT": _empty_dict,
    "EMPTY_TUPLE": _push(tuple),
    "EMPTY_SET": _push(lambda: UNKNOWN),
    "PERSID": _push(lambda: UNKNOWN),
    "BINPERSID": _binpersid,
    "NEXT_BUFFER": _push(lambda: UNKNOWN),
}


# Constants of these opcodes are numbers, None or booleans: never bytes nor text.
_NUMBERS = frozenset(
    {"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT"}
    | {"NONE", "NEWTRUE", "NEWFALSE"}
)


def _generic(info: pickletools.OpcodeInfo) -> Handler:
    """An opcode this table does not know: apply its declared stack effect with unknowns."""
    before, after = len(info.stack_before), len(info.stack_after)

    def handler(m: Machine, arg: Any, offset: int) -> None:
        for _ in range(before):
            m.pop(offset)
        m.stack.extend(UNKNOWN for _ in range(after))

    return handler


def _table() -> dict[str, Handler]:
    table: dict[str, Handler] = {}
    for info in pickletools.opcodes:
        if info.name in _SPECIFIC:
            table[info.name] = _SPECIFIC[info.name]
        elif info.name in _NUMBERS:
            table[info.name] = _number
        elif info.stack_before == [] and len(info.stack_after) == 1:
            table[info.name] = _const
        else:
            table[info.name] = _generic(info)
    return table


HANDLERS = _table()


def step(m: Machine, name: str, arg: Any, offset: int) -> bool:
    """Applies one opcode; True at STOP."""
    if name == "STOP":
        return True
    HANDLERS[name](m, arg, offset)
    return False
