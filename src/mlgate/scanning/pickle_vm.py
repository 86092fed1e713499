"""An inert pickle machine: replays opcodes on a simulated stack and memo, calling nothing.

Values are constants, ``GlobalRef`` for imports, ``Call`` for REDUCE/NEWOBJ/OBJ/INST results,
small tuples and dicts of those, the start of a long string (``Cut``), or the shared ``UNKNOWN``
(pickle_values). Imports, byte constants and BUILDs are handed to hooks so the policy
(pickles.py) stays apart from the mechanics here; a machine that imports a class it follows
swaps these handlers for pickle_watch's. ``Machine.check`` bounds what the replay holds: past
``Machine.limit`` bytes, or ``MAX_STACK`` values on the stack, it raises TooComplex.
"""

from __future__ import annotations

import pickletools
import sys
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from mlgate.scanning.context import Location
from mlgate.scanning.pickle_values import (
    ALIAS,
    CUT_HEAD,
    MARK,
    MAX_FAR,
    MAX_HELD,
    MAX_STACK,
    MAX_TEXT,
    MEMO_AS_IS,
    PLAIN,
    SENTINEL_SIZE,
    SMALL,
    SMALL_BYTES,
    UNKNOWN,
    Call,
    Cut,
    GlobalRef,
    Malformed,
    Skipped,
    TooComplex,
    TrackedDict,
    as_dict,
    held,
    set_item,
    small_tuple,
    update_dict,
)

__all__ = [
    "HANDLERS",
    "MARK",
    "MEMO_AS_IS",
    "PLAIN_TABLE",
    "UNKNOWN",
    "Call",
    "GlobalRef",
    "Handler",
    "Machine",
    "Malformed",
    "Skipped",
    "TooComplex",
    "TrackedDict",
    "by_code",
    "step",
]

_SLOT = 8  # a pointer in a list (stack, memo), or a running count in stack_sums
_FAR_ENTRY = 100  # a memo key past the memo's end: a dict entry and an int


@dataclass(slots=True)
class Machine:
    """The state of replaying one pickle stream, and the hooks that judge what it meets.

    The memo is a list while its keys are 0, 1, 2... as every pickler writes them; a key past
    its end (a crafted PUT) goes to ``far``. ``stateful`` names the calls whose arguments and
    state are kept (None: every call's, as the tests compare them). ``table`` holds the handler
    of each opcode byte. It is PLAIN_TABLE, shared, unless the machine may follow classes
    (``watched``): then it is the machine's own, for pickle_watch swaps its handlers in place
    when one is imported (the replay loop reads the list once).
    """

    loc: Location
    on_import: Callable[[Machine, Any, Any, int, str], Any]
    on_bytes: Callable[[Machine, bytes | Skipped, int], None]
    on_build: Callable[[Machine, Call, int], None]
    stack: list[Any] = field(default_factory=list)
    memo: list[Any] = field(default_factory=list)
    far: dict[int, Any] = field(default_factory=dict)
    globals_seen: int = 0
    reported: set[Any] = field(default_factory=set)  # the policy's: what it already reported
    stateful: frozenset[GlobalRef] | None = None
    limit: int = MAX_HELD
    attached: int = 0  # bytes kept by calls (their arguments, state) and imported names
    memo_held: int = 0  # bytes of the memo's first ``memo_counted`` entries, and overwrites
    memo_counted: int = 0
    # stack[:stack_counted] is as the last check found it, and held stack_sums[i] in stack[:i].
    # Only the top of the stack changes (a dict is followed through one reference: a second
    # one is ALIAS), so each check walks what was pushed since, not the whole stack again.
    stack_counted: int = 0
    stack_sums: array[int] = field(default_factory=lambda: array("q", [0]))
    last_held: int = 0  # what ``check`` counted last
    aliased_write: bool = False  # a dict was written through a second reference (ALIAS)
    table: list[Handler] = field(default_factory=lambda: PLAIN_TABLE)
    watched: frozenset[GlobalRef] = frozenset()
    # Where the last FRAME ends (its offset + 9 + its length): joblib's pure-Python unpickler
    # reads a frame whole, so what it reads from the file itself comes from there, not from
    # the opcode after the one it is running (pickles._Joblib refuses a read inside a frame).
    frame_end: int = 0

    def cut(self, length: int) -> None:
        """The stack was cut to ``length``: its new top may change (SETITEM into it) next."""
        if length <= self.stack_counted:
            self.stack_counted = max(length - 1, 0)

    def pop(self, offset: int) -> Any:
        stack = self.stack
        if not stack:
            raise Malformed("stack underflow", offset)
        value = stack.pop()
        if len(stack) <= self.stack_counted:  # cut(), without a call per POP
            self.stack_counted = max(len(stack) - 1, 0)
        return value

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
                self.cut(index)
                return items
        raise Malformed("no MARK on the stack", offset)

    def get(self, key: int, offset: int) -> Any:
        if 0 <= key < len(self.memo):
            return self.memo[key]
        try:
            return self.far[key]
        except KeyError:
            raise Malformed(f"memo key {key} was never stored", offset) from None

    def put(self, key: int, value: Any, offset: int) -> None:
        memo, size = self.memo, len(self.memo)
        if key == size:
            memo.append(value)  # counted by the next check
            if self.far:
                self.far.pop(key, None)
        elif 0 <= key < size:
            memo[key] = value
            self.memo_held += held(value)
        elif key > size:
            if len(self.far) >= MAX_FAR and key not in self.far:
                raise TooComplex(f"more than {MAX_FAR} memo keys written out of order")
            self.far[key] = value
            self.memo_held += _FAR_ENTRY + held(value)
        else:
            raise Malformed("negative memo key", offset)

    def keeps(self, func: Any) -> bool:
        return self.stateful is None or func in self.stateful

    def check(self) -> None:
        """Raises TooComplex once the replay holds more than its bounds allow.

        Called every so many bytes of opcodes (each opcode adds a few dozen bytes at most); the
        memo and the stack are counted as far as they changed since the last call.
        """
        stack, memo, sums = self.stack, self.memo, self.stack_sums
        if len(stack) > MAX_STACK:
            raise TooComplex(f"more than {MAX_STACK} values on the unpickler's stack at once")
        if self.memo_counted < len(memo):
            new = memo[self.memo_counted :]
            self.memo_counted = len(memo)
            kept = sum(map(sys.getsizeof, new)) - SENTINEL_SIZE * new.count(UNKNOWN)
            self.memo_held += _SLOT * len(new) + kept
        start = self.stack_counted
        below = sums[start]
        del sums[start:]
        sums.extend(accumulate(map(held, stack[start:]), initial=below))
        self.stack_counted = len(stack)
        total = self.memo_held + self.attached + 2 * _SLOT * len(stack) + sums[-1]
        self.last_held = total
        if total > self.limit:
            raise TooComplex(
                f"replaying it would hold more than {self.limit >> 20} MiB of values (memo and "
                "stack) at once"
            )


Handler = Callable[[Machine, Any, int], None]


def _const(m: Machine, arg: Any, offset: int) -> None:
    kind = type(arg)
    if kind is str:
        if arg.startswith("\x80"):
            m.on_bytes(m, arg.encode("latin-1", "replace"), offset)
        m.stack.append(arg if len(arg) <= MAX_TEXT else Cut(arg[:CUT_HEAD]))
    elif kind is bytes or kind is bytearray:
        m.on_bytes(m, bytes(arg), offset)
        m.stack.append(arg if len(arg) <= SMALL_BYTES else UNKNOWN)
    elif kind is Skipped:
        m.on_bytes(m, arg, offset)
        m.stack.append(UNKNOWN if arg.text is None else Cut(arg.text[:CUT_HEAD]))
    else:
        m.stack.append(arg)


def _number(m: Machine, arg: Any, offset: int) -> None:
    """A constant that is never bytes nor text (numbers, None, booleans)."""
    m.stack.append(arg)


def _memorable(value: Any) -> Any:
    kind = type(value)
    if kind in MEMO_AS_IS:
        return value
    return ALIAS if kind is TrackedDict else UNKNOWN


def _memoize(m: Machine, arg: Any, offset: int) -> None:
    if not m.stack:
        raise Malformed("the stack is empty", offset)
    m.put(len(m.memo) + len(m.far), _memorable(m.stack[-1]), offset)


def _put(m: Machine, arg: Any, offset: int) -> None:
    m.put(int(arg), _memorable(m.top(offset)), offset)


def _get(m: Machine, arg: Any, offset: int) -> None:
    m.stack.append(m.get(int(arg), offset))


def _imported(m: Machine, ref: Any) -> Any:
    if type(ref) is GlobalRef:
        m.attached += len(ref.module) + len(ref.name)
    return ref


def _global(m: Machine, arg: Any, offset: int) -> None:
    module, _, attr = str(arg).partition(" ")
    m.stack.append(_imported(m, m.on_import(m, module, attr, offset, "GLOBAL")))


def _call(m: Machine, func: Any, args: Any) -> Call:
    if type(func) is not GlobalRef:
        func = UNKNOWN
    if not m.keeps(func):
        return Call(func, UNKNOWN)
    m.attached += held(args)
    return Call(func, args)


def _inst(m: Machine, arg: Any, offset: int) -> None:
    module, _, attr = str(arg).partition(" ")
    ref = _imported(m, m.on_import(m, module, attr, offset, "INST"))
    m.stack.append(_call(m, ref, small_tuple(m.pop_mark(offset))))


def _stack_global(m: Machine, arg: Any, offset: int) -> None:
    attr = m.pop(offset)
    ref = m.on_import(m, m.pop(offset), attr, offset, "STACK_GLOBAL")
    m.stack.append(_imported(m, ref))


def _ext(m: Machine, arg: Any, offset: int) -> None:
    m.on_import(m, None, f"extension code {arg}", offset, "EXT")
    m.stack.append(UNKNOWN)


def _reduce(m: Machine, arg: Any, offset: int) -> None:
    args = m.pop(offset)
    m.stack.append(_call(m, m.pop(offset), args))


def _newobj_ex(m: Machine, arg: Any, offset: int) -> None:
    m.pop(offset)
    _reduce(m, arg, offset)


def _obj(m: Machine, arg: Any, offset: int) -> None:
    items = m.pop_mark(offset)
    if not items:
        raise Malformed("OBJ without a class", offset)
    m.stack.append(_call(m, items[0], small_tuple(items[1:])))


def _build(m: Machine, arg: Any, offset: int) -> None:
    state = m.pop(offset)
    target = m.top(offset)
    if state is ALIAS:
        state = UNKNOWN
    if type(target) is not Call:
        if type(target) is TrackedDict:
            target.partial = True  # no pickler writes this (it fails on a dict) but a check
        elif target is ALIAS:  # must not read a dict it may have changed
            m.aliased_write = True
        return
    if m.keeps(target.func):
        if isinstance(target.state, TrackedDict) and isinstance(state, TrackedDict):
            # A second BUILD of the same object updates its __dict__ (no __setstate__): merge,
            # so a key set by the first one and left out of the second is still seen.
            merged = TrackedDict(target.state)
            for key, value in state.items():
                set_item(merged, key, value)  # no bigger than any dict: a BUILD loop cannot grow it
            merged.partial = merged.partial or target.state.partial or state.partial
            state = merged
        m.attached += held(state)
        target.state = state
    m.on_build(m, target, offset)


def _append(m: Machine, arg: Any, offset: int) -> None:
    m.pop(offset)
    m.top(offset)  # lists are not followed: no check reads one


def _appends(m: Machine, arg: Any, offset: int) -> None:
    m.pop_mark(offset)
    m.top(offset)


def _setitem(m: Machine, arg: Any, offset: int) -> None:
    value = m.pop(offset)
    key = m.pop(offset)
    target = m.top(offset)
    if isinstance(target, TrackedDict):
        try:  # noqa: SIM105 - contextlib.suppress costs a context manager per SETITEM
            set_item(target, key, value)
        except TypeError:  # an unhashable key fails the unpickler too
            pass
    elif target is ALIAS:
        m.aliased_write = True


def _setitems(m: Machine, arg: Any, offset: int) -> None:
    items = m.pop_mark(offset)
    target = m.top(offset)
    if target is ALIAS:
        m.aliased_write = True
    elif isinstance(target, TrackedDict):
        if len(items) > 2 * SMALL:
            target.partial = True
            return
        try:  # noqa: SIM105 - as in _setitem
            update_dict(target, items)
        except TypeError:  # an unhashable key fails the unpickler too
            pass


def _tuple_n(count: int) -> Handler:
    def handler(m: Machine, arg: Any, offset: int) -> None:
        stack = m.stack
        if len(stack) < count:
            raise Malformed("stack underflow", offset)
        items = stack[-count:]
        del stack[-count:]
        m.cut(len(stack))
        stack.append(tuple([item if type(item) in PLAIN else UNKNOWN for item in items]))

    return handler


def _push(value: Callable[[], Any]) -> Handler:
    def handler(m: Machine, arg: Any, offset: int) -> None:
        m.stack.append(value())

    return handler


def _mark(m: Machine, arg: Any, offset: int) -> None:
    m.stack.append(MARK)


def _unknown(m: Machine, arg: Any, offset: int) -> None:
    m.stack.append(UNKNOWN)


def _list(m: Machine, arg: Any, offset: int) -> None:
    m.pop_mark(offset)
    m.stack.append(UNKNOWN)


def _empty_dict(m: Machine, arg: Any, offset: int) -> None:
    m.stack.append(TrackedDict())


def _pop_n(m: Machine, arg: Any, offset: int) -> None:
    m.pop(offset)


def _pop_mark(m: Machine, arg: Any, offset: int) -> None:
    m.pop_mark(offset)


def _dup(m: Machine, arg: Any, offset: int) -> None:
    value = m.top(offset)
    m.stack.append(ALIAS if type(value) is TrackedDict else value)  # see Machine.cut


def _binpersid(m: Machine, arg: Any, offset: int) -> None:
    m.pop(offset)
    m.stack.append(UNKNOWN)


def _nothing(m: Machine, arg: Any, offset: int) -> None:
    return None


_FRAME_HEAD = 9  # the FRAME opcode and its eight-byte length


def _frame(m: Machine, arg: Any, offset: int) -> None:
    m.frame_end = offset + _FRAME_HEAD + int(arg)


_SPECIFIC: dict[str, Handler] = {
    "PROTO": _nothing,
    "FRAME": _frame,
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
    "TUPLE": lambda m, a, o: m.stack.append(small_tuple(m.pop_mark(o))),
    "FROZENSET": lambda m, a, o: m.stack.append(small_tuple(m.pop_mark(o))),
    "LIST": _list,
    "DICT": lambda m, a, o: m.stack.append(as_dict(m.pop_mark(o))),
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
    "EMPTY_LIST": _unknown,
    "EMPTY_DICT": _empty_dict,
    "EMPTY_TUPLE": _push(tuple),
    "EMPTY_SET": _unknown,
    "PERSID": _unknown,
    "BINPERSID": _binpersid,
    "NEXT_BUFFER": _unknown,
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
_CODES = {info.name: ord(info.code) for info in pickletools.opcodes}


def by_code(handlers: dict[str, Handler]) -> list[Handler]:
    """``handlers`` indexed by opcode byte, with one more slot (-1, the data's end); a byte that
    is no opcode, and that slot, are never dispatched (the replay raises there first)."""
    table: list[Handler] = [_nothing] * 257
    for name, code in _CODES.items():
        table[code] = handlers[name]
    return table


PLAIN_TABLE: list[Handler] = by_code(HANDLERS)


def step(m: Machine, name: str, arg: Any, offset: int) -> bool:
    """Applies one opcode; True at STOP."""
    if name == "STOP":
        return True
    m.table[_CODES[name]](m, arg, offset)
    return False
