"""A dict written through a second reference to it (DUP, or the memo) is not followed as read.

The unpickler hands the same dict to SETITEM whichever way it reached the stack. A joblib array
wrapper's state changed that way says one array size to joblib and another to the replay, which
would skip the code after the array as its data: the scanner reports it, never passes it.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import joblib
import numpy as np
import pytest

from mlgate.scanning import scan_path
from mlgate.scanning.schemas import Severity


def _str(text: str) -> bytes:
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw  # SHORT_BINUNICODE


def _global(module: str, name: str) -> bytes:
    return _str(module) + _str(name) + b"\x93"  # STACK_GLOBAL


# posix.getcwd(): harmless to run, critical to find; its result proves joblib ran it. The POP
# (of the array joblib put in the wrapper's place) makes it no pickle on its own.
_PAYLOAD = b"0" + _global("posix", "getcwd") + b")R"
# numpy.dtype("u1", False, True) with its version-3 BUILD state, as NumPy pickles one.
_UINT8 = _global("numpy", "dtype") + _str("u1") + b"\x89\x88\x87R"
_UINT8 += b"(K\x03" + _str("|") + b"NNN" + (b"J" + struct.pack("<i", -1)) * 2 + b"K\x00tb"


def _wrapper(second_reference: bytes) -> bytes:
    """An honest NumpyArrayWrapper of len(_PAYLOAD) bytes whose memoised state (memo key 0) is
    then set to shape (0,) through ``second_reference``, before the wrapper's BUILD."""
    items = _str("subclass") + _global("numpy", "ndarray")
    items += _str("shape") + b"K" + bytes([len(_PAYLOAD)]) + b"\x85"
    items += _str("order") + _str("C") + _str("dtype") + _UINT8 + _str("allow_mmap") + b"\x89"
    wrapper = _global("joblib.numpy_pickle", "NumpyArrayWrapper") + b")\x81"  # NEWOBJ
    state = b"}\x94(" + items + b"u"
    rewrite = second_reference + _str("shape") + b"K\x00\x85s0"  # SETITEM, POP the reference
    return b"\x80\x04" + wrapper + state + rewrite + b"b" + _PAYLOAD + b"."


@pytest.mark.parametrize(
    "second_reference",
    [pytest.param(b"h\x00", id="memo-get"), pytest.param(b"2", id="dup")],
)
def test_joblib_state_rewritten_through_a_second_reference_is_not_a_pass(
    tmp_path: Path, second_reference: bytes
) -> None:
    path = tmp_path / "model.joblib"
    path.write_bytes(_wrapper(second_reference))
    assert joblib.load(path) == os.getcwd()  # joblib reads no array data and runs the payload
    report = scan_path(path)
    assert not report.passed
    assert report.max_severity is not None
    assert report.max_severity.rank >= Severity.HIGH.rank


def test_a_dict_read_again_but_not_written_through_it_stays_followed(tmp_path: Path) -> None:
    """A dict memoised and fetched again (a value shared by two objects) is what honest
    pickles write: the same array wrapper then scans clean."""
    path = tmp_path / "model.joblib"
    shared = {"a": 1}
    joblib.dump({"x": shared, "y": shared, "array": np.arange(8, dtype=np.uint8)}, path)
    assert scan_path(path).findings == []
