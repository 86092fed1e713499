"""Follows the classes a loader treats apart (joblib's array wrappers) through every opcode.

joblib.load reads raw array bytes after the BUILD of any object that is one of its wrappers,
however the pickle made it: NEWOBJ of the class, as joblib writes it; ``copyreg._reconstructor(
cls, object, None)``, as protocols 0 and 1 write it; ``copyreg.__newobj__``, ``object.__new__``,
or OBJ and INST calling any of those. The scanner skips those bytes only after the BUILD of a
wrapper it recognises (pickles._Joblib): a wrapper it did not recognise has joblib skip bytes the
scanner reads as opcodes, or the other way round, and a payload hides in the difference.

So once a machine imports a class in ``Machine.watched``, its handlers are swapped for these,
which look at what each opcode takes off the stack. The class handed to one of the constructors
above makes what NEWOBJ of it makes (it is replayed as that NEWOBJ); handed to anything else
(another callable, a list, a dict, BUILD, a tuple inside a tuple, a frozenset) it is Malformed,
for what the loader then makes is no longer followed. The class is followed where it can be: on
the stack, in the memo, and directly in a tuple (a Holding, which the memo keeps); every opcode
that moves a value anywhere else takes it off the stack, so it passes through here.

A pickle that imports no watched class never runs this code. One that does (every joblib dump
of an array) pays for the look at each opcode taking values: the commonest ones (tuples, dict
and list items) are pickle_vm's handlers written again with the look inlined, which
tests/scanning/test_pickle_ops.py holds to replaying every pickle as the plain ones do.
"""

from __future__ import annotations

import operator
import pickletools
from collections.abc import Sequence
from typing import Any

from mlgate.scanning.pickle_values import (
    ALIAS,
    PLAIN,
    SMALL,
    Holding,
    TrackedDict,
    set_item,
    small_tuple,
    update_dict,
)
from mlgate.scanning.pickle_vm import (
    HANDLERS,
    MARK,
    PLAIN_TABLE,
    UNKNOWN,
    GlobalRef,
    Handler,
    Machine,
    Malformed,
    by_code,
)

__all__ = ["watch"]

_RECONSTRUCTOR = GlobalRef("copyreg", "_reconstructor")
_NEWOBJ = GlobalRef("copyreg", "__newobj__")
_NEWOBJ_EX = GlobalRef("copyreg", "__newobj_ex__")
_OBJECT = GlobalRef("builtins", "object")
_KINDS = frozenset({GlobalRef, Holding})  # the types a followed class is seen in
_INFO = {info.name: info for info in pickletools.opcodes}
# Opcodes that push, read the top (the memo keeps a class or a Holding as it is) or drop what
# they take (a class dropped makes nothing): they need no look.
_UNCHECKED = frozenset({"POP", "POP_MARK", "DUP", "MEMOIZE", "READONLY_BUFFER", "STOP"})


def watch(m: Machine) -> None:
    """From now on ``m`` looks at what every opcode takes off its stack."""
    if m.table is PLAIN_TABLE:  # every other machine's too
        raise ValueError("a machine that follows classes needs a table of its own")
    m.table[:] = _TABLE


def _watched(m: Machine, value: Any) -> bool:
    return type(value) is GlobalRef and value in m.watched


def _follows(m: Machine, values: Sequence[Any]) -> bool:
    """Whether any of ``values`` is a watched class or a tuple holding one."""
    for value in values:
        kind = type(value)
        if kind is Holding or (kind is GlobalRef and value in m.watched):
            return True
    return False


def _unfollowed(name: str, offset: int) -> Malformed:
    return Malformed(
        f"{name} takes a joblib array wrapper class in a way the scanner does not follow "
        "(joblib would read array data after whatever it makes)",
        offset,
    )


def _from_mark(m: Machine, below: int) -> list[Any]:
    """What an opcode taking a MARK reads: the values above the topmost MARK (with it), and
    ``below`` values under it; nothing when there is no MARK (the handler raises then)."""
    stack = m.stack
    try:
        depth = operator.indexOf(reversed(stack), MARK)
    except ValueError:
        return []
    return stack[max(len(stack) - 1 - depth - below, 0) :]


def _constructed(m: Machine, func: Any, args: Sequence[Any]) -> list[Any] | None:
    """The NEWOBJ operands (class, arguments) that ``func(*args)`` amounts to when it makes an
    instance of a watched class without running its __init__; None for anything else."""
    if type(func) is not GlobalRef or not args or not _watched(m, args[0]):
        return None
    cls, rest = args[0], tuple(args[1:])
    if _follows(m, rest):
        return None
    if func == _RECONSTRUCTOR:  # any other base runs its __init__ with one argument: fails
        return [cls, ()] if len(rest) == 2 and rest[0] == _OBJECT else None
    if func == _NEWOBJ or func.name == "__new__":  # object.__new__, or the class's by its path
        return [cls, rest]
    if func == _NEWOBJ_EX:  # its arguments are a tuple in a tuple: unknown, as NEWOBJ_EX's
        return [cls, UNKNOWN]
    return None


# -- every other opcode taking values (into a container, a BUILD, a name): none may take one --


def _checked(name: str) -> Handler:
    """``name``'s handler, after refusing a followed class among what it takes (by pickletools:
    a fixed number of values, or those from the topmost MARK up and the ones just under it)."""
    plain = HANDLERS[name]
    before = [s.name for s in _INFO[name].stack_before]
    if "mark" in before:
        below = before.index("mark")

        def marked(m: Machine, arg: Any, offset: int) -> None:
            values = _from_mark(m, below)
            if not _KINDS.isdisjoint(map(type, values)) and _follows(m, values):
                raise _unfollowed(name, offset)
            plain(m, arg, offset)

        return marked
    count = len(before)  # 1 to 3

    def fixed(m: Machine, arg: Any, offset: int) -> None:
        stack = m.stack
        if (
            len(stack) >= count
            and (
                type(stack[-1]) in _KINDS
                or (count > 1 and type(stack[-2]) in _KINDS)
                or (count > 2 and type(stack[-3]) in _KINDS)
            )
            and _follows(m, stack[-count:])
        ):
            raise _unfollowed(name, offset)
        plain(m, arg, offset)

    return fixed


# The commonest of them, pickle_vm's handlers with the look inlined (no call more per opcode).


def _setitem(m: Machine, arg: Any, offset: int) -> None:
    value = m.pop(offset)
    key = m.pop(offset)
    target = m.top(offset)
    if (type(value) in _KINDS or type(key) in _KINDS or type(target) in _KINDS) and _follows(
        m, (key, value, target)
    ):
        raise _unfollowed("SETITEM", offset)
    if isinstance(target, TrackedDict):
        try:  # noqa: SIM105 - as pickle_vm's
            set_item(target, key, value)
        except TypeError:
            pass
    elif target is ALIAS:
        m.aliased_write = True


def _setitems(m: Machine, arg: Any, offset: int) -> None:
    items = m.pop_mark(offset)
    target = m.top(offset)
    if (type(target) in _KINDS or not _KINDS.isdisjoint(map(type, items))) and (
        _follows(m, items) or _follows(m, (target,))
    ):
        raise _unfollowed("SETITEMS", offset)
    if target is ALIAS:
        m.aliased_write = True
    elif isinstance(target, TrackedDict):
        if len(items) > 2 * SMALL:
            target.partial = True
            return
        try:  # noqa: SIM105 - as pickle_vm's
            update_dict(target, items)
        except TypeError:
            pass


def _append(m: Machine, arg: Any, offset: int) -> None:
    value = m.pop(offset)
    target = m.top(offset)
    if (type(value) in _KINDS or type(target) in _KINDS) and _follows(m, (value, target)):
        raise _unfollowed("APPEND", offset)


def _appends(m: Machine, arg: Any, offset: int) -> None:
    items = m.pop_mark(offset)
    target = m.top(offset)
    if (type(target) in _KINDS or not _KINDS.isdisjoint(map(type, items))) and (
        _follows(m, items) or _follows(m, (target,))
    ):
        raise _unfollowed("APPENDS", offset)


# -- tuples: a followed class in one makes a Holding; a Holding in one would be lost ----------


def _held(m: Machine, name: str, items: list[Any], made: Any, offset: int) -> Any:
    """The tuple TUPLE made of ``items``, which hold a followed class or a Holding."""
    if not _follows(m, items):
        return made  # only names of other classes
    if any(type(item) is Holding for item in items) or type(made) is not tuple:
        raise _unfollowed(name, offset)  # in a tuple in a tuple, or a tuple too long to keep
    return Holding(made)


def _tuple_n(count: int) -> Handler:
    name = f"TUPLE{count}"

    def handler(m: Machine, arg: Any, offset: int) -> None:
        stack = m.stack
        if len(stack) < count:
            raise Malformed("stack underflow", offset)
        items = stack[-count:]
        del stack[-count:]
        m.cut(len(stack))
        made = tuple([item if type(item) in PLAIN else UNKNOWN for item in items])
        for item in items:
            if type(item) in _KINDS:
                made = _held(m, name, items, made, offset)
                break
        stack.append(made)

    return handler


def _tuple(m: Machine, arg: Any, offset: int) -> None:
    items = m.pop_mark(offset)
    made = small_tuple(items)
    if not _KINDS.isdisjoint(map(type, items)):
        made = _held(m, "TUPLE", items, made, offset)
    m.stack.append(made)


# -- calls: the class as the class called or made, or handed to a constructor form ------------


def _reduce(m: Machine, arg: Any, offset: int) -> None:
    stack = m.stack
    if len(stack) >= 2 and (type(stack[-1]) in _KINDS or type(stack[-2]) in _KINDS):
        func, args = stack[-2:]
        if _watched(m, func) and not _follows(m, (args,)):
            pass  # the class called: its __init__ runs (pickles._Joblib refuses that)
        elif type(args) is Holding and (operands := _constructed(m, func, args)) is not None:
            stack[-2:] = operands
            HANDLERS["NEWOBJ"](m, arg, offset)
            return
        elif _follows(m, (func, args)):
            raise _unfollowed("REDUCE", offset)
    HANDLERS["REDUCE"](m, arg, offset)


def _newobj(name: str, count: int) -> Handler:
    """NEWOBJ and NEWOBJ_EX: the class only as the class made."""
    plain = HANDLERS[name]

    def handler(m: Machine, arg: Any, offset: int) -> None:
        values = m.stack[-count:]
        if (
            len(values) == count
            and not _KINDS.isdisjoint(map(type, values))
            and not (_watched(m, values[0]) and not _follows(m, values[1:]))
            and _follows(m, values)
        ):
            raise _unfollowed(name, offset)
        plain(m, arg, offset)

    return handler


def _obj(m: Machine, arg: Any, offset: int) -> None:
    items = _from_mark(m, 0)[1:]  # past the MARK: the callable, then its arguments
    if _follows(m, items):
        if _watched(m, items[0]) and not _follows(m, items[1:]):
            pass  # as REDUCE of the class
        elif (operands := _constructed(m, items[0], items[1:])) is not None:
            m.pop_mark(offset)
            m.stack.extend(operands)
            HANDLERS["NEWOBJ"](m, arg, offset)
            return
        else:
            raise _unfollowed("OBJ", offset)
    HANDLERS["OBJ"](m, arg, offset)


def _inst(m: Machine, arg: Any, offset: int) -> None:
    """INST: the class it names is imported by the handler, and read from the call it made."""
    items = _from_mark(m, 0)[1:]
    follows = _follows(m, items)
    HANDLERS["INST"](m, arg, offset)
    if not follows:
        return
    operands = _constructed(m, m.stack[-1].func, items)
    if operands is None:
        raise _unfollowed("INST", offset)
    m.stack[-1:] = operands
    HANDLERS["NEWOBJ"](m, arg, offset)


def _handlers() -> dict[str, Handler]:
    handlers = dict(HANDLERS)
    for info in pickletools.opcodes:
        if info.stack_before and info.name not in _UNCHECKED:
            handlers[info.name] = _checked(info.name)
    handlers |= {"SETITEM": _setitem, "SETITEMS": _setitems}
    handlers |= {"APPEND": _append, "APPENDS": _appends}
    handlers |= {"TUPLE1": _tuple_n(1), "TUPLE2": _tuple_n(2), "TUPLE3": _tuple_n(3)}
    handlers |= {"TUPLE": _tuple, "REDUCE": _reduce, "OBJ": _obj, "INST": _inst}
    handlers |= {"NEWOBJ": _newobj("NEWOBJ", 2), "NEWOBJ_EX": _newobj("NEWOBJ_EX", 3)}
    return handlers


_TABLE = by_code(_handlers())
