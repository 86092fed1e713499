"""The values the inert pickle machine keeps, how it builds containers of them, and their cost.

The replay keeps only what a check reads: names, and the arguments and state of the few calls
the policy follows (a dtype, a joblib wrapper). Everything else is the shared ``UNKNOWN``, and
what is kept is counted by ``held`` so one pickle's replay has a bound (``MAX_HELD``), whatever
the pickle holds and however long it is.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ALIAS",
    "CUT_HEAD",
    "MARK",
    "MAX_FAR",
    "MAX_HELD",
    "MAX_STACK",
    "MAX_TEXT",
    "MEMO_AS_IS",
    "PLAIN",
    "SENTINEL_SIZE",
    "SMALL",
    "SMALL_BYTES",
    "UNKNOWN",
    "VALUES",
    "Call",
    "Cut",
    "GlobalRef",
    "Holding",
    "Malformed",
    "Skipped",
    "TooComplex",
    "TrackedDict",
    "as_dict",
    "held",
    "set_item",
    "small_tuple",
    "update_dict",
]

# What one pickle's replay may hold, in bytes as sys.getsizeof counts them (the process grows by
# up to a fifth more). Honest pickles measured hold far less: a RandomForest of 2,000 trees
# (100 MB, joblib or pickle) 9 MiB, a vectorizer of a million words 62 MiB, 3.7 million rows of
# tuples, strings and dicts (134 MB, a data set rather than a model) 285 MiB. Unique strings are
# most of it (about 60 bytes each): this leaves room for a vocabulary of eight million words.
MAX_HELD = 512 << 20
# Values on the stack at once. A pickler batches lists, dicts and sets by the thousand, so only
# a tuple or frozenset of that many items puts them all there (2,000 trees: 1,100 at most).
MAX_STACK = 1 << 20
# Memo keys past the memo's end. Picklers write keys 0, 1, 2... (none of the models above wrote
# one out of order); only a pickle continuing another one's memo (a Pickler dumping twice) does.
MAX_FAR = 1 << 16


class _Sentinel:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


MARK = _Sentinel("MARK")
UNKNOWN = _Sentinel("UNKNOWN")
# A second reference to a dict (DUP, or the memo). An unpickler writes a dict's items right
# after building it, never through DUP or GET; a write through a second reference could change
# a state a check has read (a joblib wrapper's shape), so it marks the whole replay
# (Machine.aliased_write) rather than the dict: one shared sentinel costs the memo nothing.
ALIAS = _Sentinel("ALIAS")
# What sys.getsizeof says of a shared sentinel: the accounting charges only the slot that
# points at it, so this is taken back for each one counted.
SENTINEL_SIZE = sys.getsizeof(UNKNOWN)


@dataclass(frozen=True, slots=True)
class GlobalRef:
    module: str
    name: str


@dataclass(eq=False, slots=True)
class Call:
    """A call's result. ``func`` is a GlobalRef or UNKNOWN (no check follows a call's result
    called again); ``args`` and ``state`` are UNKNOWN and None unless ``func`` is stateful."""

    func: Any
    args: Any
    state: Any = None


@dataclass(frozen=True, slots=True)
class Skipped:
    """A byte or string constant too long to read: its size, and the start and last byte of
    what ``pickle.loads`` would be handed (empty for text not starting like a pickle); for text,
    its first CUT_HEAD characters too (None for bytes, or text the unpickler cannot decode)."""

    size: int
    head: bytes
    last: bytes
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Cut:
    """A string constant longer than MAX_TEXT, of which only the first CUT_HEAD characters are
    kept. It is UNKNOWN everywhere but on the stack and in the memo, for an import's operand:
    what its start already decides (a module that reaches the OS, whatever name follows) is not
    lost with the rest."""

    head: str

    def __sizeof__(self) -> int:  # what the replay's bound counts (sys.getsizeof)
        return object.__sizeof__(self) + sys.getsizeof(self.head)


class Holding(tuple[Any, ...]):
    """A tuple holding a class a check follows (a joblib array wrapper; pickle_watch): the
    arguments of a constructor it is handed to, as ``copyreg._reconstructor(cls, object, None)``.
    The memo keeps it as it is, so the constructor called with it later is still recognised."""

    __slots__ = ()

    def __sizeof__(self) -> int:
        return tuple.__sizeof__(self) + sum(map(sys.getsizeof, self))


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


class TooComplex(Exception):
    """The replay would hold more than its bound: the rest of the pickle cannot be followed."""


# Strings longer than this are no name, dict key or path a check reads: UNKNOWN once the nested
# pickle check saw them. Bytes are never read past that check; short ones are kept as dict keys.
MAX_TEXT = 4096
# What is kept of a longer one (Cut): more than any module path a check compares with.
CUT_HEAD = 256
SMALL_BYTES = 256
# Atoms a tuple holds (anything else in one is UNKNOWN), and what a tracked dict's values may
# be: the policy reads a shape, a dtype call or a name, never a container inside a container.
PLAIN = frozenset({str, int, float, bool, complex, type(None), bytes, bytearray, GlobalRef})
PLAIN |= {_Sentinel}
VALUES = PLAIN | {tuple, Call}
# Values that cost nothing where they are kept: one object, pointed at from many places.
_SHARED = frozenset({_Sentinel, type(None), bool})


def held(value: Any) -> int:
    """Bytes ``value`` keeps alive as the replay holds it (containers with what is in them)."""
    kind = type(value)
    if kind is tuple:
        return sys.getsizeof(value) + sum(map(sys.getsizeof, value))
    if kind is TrackedDict:
        size = sys.getsizeof(value)
        return size + sum(held(k) + held(v) for k, v in value.items()) if value else size
    return 0 if kind in _SHARED else sys.getsizeof(value)


# Containers are tracked only while small: the policy needs short things (a joblib wrapper's
# state, an array shape, a dtype's arguments), and keeping a million rows alive costs memory
# and garbage-collector time for nothing.
SMALL = 64


# What the memo keeps as it is: names and calls, constants (no longer than MAX_TEXT and
# SMALL_BYTES, as _const pushes them). Containers are UNKNOWN there, dicts ALIAS: the policy
# reads a dtype's arguments or an array's shape where they were built, and a pickler memoises
# every row of a table. A Holding is the one tuple kept (protocols 0 and 1 memoise the arguments
# of copyreg._reconstructor before calling it); only a pickle importing a wrapper makes one. A
# Cut is kept too, for an import's operand fetched from the memo is judged as one pushed.
MEMO_AS_IS = frozenset({str, int, float, bool, complex, type(None), bytes, bytearray})
MEMO_AS_IS |= {GlobalRef, Call, _Sentinel, Holding, Cut}


def as_dict(items: list[Any]) -> Any:
    """DICT: a TrackedDict of alternating keys and values, or UNKNOWN when there are many."""
    if len(items) > 2 * SMALL:
        return UNKNOWN
    merged = TrackedDict()
    update_dict(merged, items)
    return merged


def _known_key(key: Any, depth: int = 0) -> bool:
    """Keys the replay can compare as the unpickler would: constants, not calls or unknowns."""
    if isinstance(key, tuple):  # nested past a few levels: unknown, and no recursion limit hit
        return depth < 8 and all(_known_key(k, depth + 1) for k in key)
    return isinstance(key, str | bytes | int | float | complex) or key is None


def set_item(target: TrackedDict, key: Any, value: Any) -> None:
    """SETITEM into a followed dict: existing keys always, new ones while it is small."""
    if (type(key) is str or _known_key(key)) and (len(target) < SMALL or key in target):
        target[key] = value if type(value) in VALUES else UNKNOWN
    else:
        target.partial = True


def update_dict(target: TrackedDict, items: list[Any]) -> None:
    for index in range(0, len(items) - 1, 2):  # a lone last key has no value: ignored
        key, value = items[index], items[index + 1]
        if type(key) is str and type(value) in VALUES and (len(target) < SMALL or key in target):
            target[key] = value  # set_item's common case, without the call
        else:
            set_item(target, key, value)


def small_tuple(items: list[Any]) -> Any:
    """TUPLE: constants and names as they are, anything else UNKNOWN; UNKNOWN when long."""
    if len(items) > SMALL:
        return UNKNOWN
    return tuple([item if type(item) in PLAIN else UNKNOWN for item in items])
