"""What joblib reads after an array wrapper: the item size of a pickled ``numpy.dtype``, from
its constructor argument and BUILD state as NumPy itself takes them (never loading it)."""

from __future__ import annotations

import re
from typing import Any

from mlgate.scanning.pickle_vm import Call, GlobalRef

__all__ = ["NUMPY_DTYPE", "itemsize"]

# Where a pickled dtype's BUILD state keeps its elsize, by the state tuple's length (NumPy's
# arraydescr_setstate): 9 and 8 carry version 3/4 fields, 7 and 6 older ones, 5 has no version.
_ELSIZE_AT = {9: 5, 8: 5, 7: 5, 6: 4, 5: 3}
NUMPY_DTYPE = GlobalRef("numpy", "dtype")
_HASOBJECT = 0x01  # NPY_ITEM_HASOBJECT in the state's dtypeflags


def _state_elsize(state: Any) -> int | None:
    if not isinstance(state, tuple) or len(state) not in _ELSIZE_AT:
        return None
    elsize = state[_ELSIZE_AT[len(state)]]
    return elsize if type(elsize) is int else None


def _state_has_objects(state: Any) -> bool | None:
    """Whether NumPy will call the unpickled dtype ``hasobject``; None when it cannot be told.

    Version 3 and 4 states carry the dtype's flags and NumPy takes them as they are: a float64
    whose flags say "holds objects" makes joblib unpickle the bytes after it instead of reading
    floats. Older states have NumPy derive the flags from fields and subarrays: with any of
    those the answer is not this module's to guess.
    """
    if state is None:
        return False
    if not isinstance(state, tuple) or len(state) not in _ELSIZE_AT:
        return None
    if len(state) >= 8:
        flags = state[7]
        return bool(flags & _HASOBJECT) if type(flags) in (int, bool) else None
    if any(part is not None for part in state[2 : _ELSIZE_AT[len(state)]]):
        return None
    return False


def itemsize(dtype: Any) -> int | None:
    """The item size of a pickled ``numpy.dtype('f8', ...)``; 0 when it holds objects.

    For the flexible kinds (S, U, V) NumPy takes the item size from the BUILD state's elsize,
    not from the constructor argument: reading it anywhere else would let a crafted elsize skip
    the scanner past a pickle joblib then loads. The BUILD state's flags decide whether joblib
    reads the data as a nested pickle, whatever the kind. Anything not told is None.
    """
    if (
        not isinstance(dtype, Call)
        or dtype.func != NUMPY_DTYPE
        or not isinstance(dtype.args, tuple)
        or not dtype.args
    ):
        return None
    match = re.fullmatch(r"[<>|=]?([a-zA-Z?])(\d*)", str(dtype.args[0]))
    has_objects = _state_has_objects(dtype.state)
    if match is None or has_objects is None:
        return None
    kind, digits = match.group(1), match.group(2)
    if kind == "O" or has_objects:
        return 0
    if kind in "SUVa":
        elsize = _state_elsize(dtype.state)
        per_char = 4 if kind == "U" else 1
        if elsize is None or elsize <= 0 or elsize % per_char:
            return None
        if digits and int(digits) * per_char != elsize:
            return None  # a benign pickler writes both from one dtype
        return elsize
    if kind in "?b" and not digits:
        return 1
    if not digits:
        return None
    return int(digits)
