"""joblib reads an array where the scanner does, or the dump is critical (found by a review).

joblib's unpickler is the pure-Python one: it holds a protocol-4 frame in memory, and reads an
array (its padding byte, its data, an object array's pickle) from the file itself, past the
frame. After a wrapper's BUILD it replaces the wrapper by what it read, and reads again at a BUILD
of any wrapper instance, wherever that came from. Each file below is proved to run its payload
under a real ``joblib.load`` (in a child process, whose working directory gets the marker).
"""

from __future__ import annotations

import pickle
import struct
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlgate.scanning import Severity, scan_path

_MARKER = "ran"  # made in the loader's working directory
_LOAD = "import joblib, sys\ntry:\n    joblib.load(sys.argv[1])\nexcept Exception:\n    pass\n"


def _str(text: str) -> bytes:
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw  # SHORT_BINUNICODE


def _global(module: str, name: str) -> bytes:
    return _str(module) + _str(name) + b"\x93"  # STACK_GLOBAL


def _frame(body: bytes) -> bytes:
    return b"\x95" + struct.pack("<Q", len(body)) + body


# numpy.dtype("u1", False, True) with its version-3 BUILD state, as NumPy pickles one; the
# object one with the flags NumPy gives it.
_UINT8 = _global("numpy", "dtype") + _str("u1") + b"\x89\x88\x87R"
_UINT8 += b"(K\x03" + _str("|") + b"NNN" + (b"J" + struct.pack("<i", -1)) * 2 + b"K\x00tb"
_OBJECTS = _UINT8.replace(_str("u1"), _str("O")).replace(b"K\x00tb", b"K\x3ftb")
_WRAPPER = _global("joblib.numpy_pickle", "NumpyArrayWrapper")
_MKDIR = _global("posix", "mkdir") + _str(_MARKER) + b"\x85R"  # pushes None once run
# What an object array's pickle may return for joblib to go on: anything with a dtype.
_ARRAY_LIKE = _global("argparse", "Namespace") + b")R}" + _str("dtype") + _UINT8 + b"sb"


def _state(count: int, dtype: bytes = _UINT8, *, aligned: bool = False) -> bytes:
    """A NumpyArrayWrapper's BUILD state: ``count`` items of ``dtype``."""
    items = _str("subclass") + _global("numpy", "ndarray")
    items += _str("shape") + b"J" + struct.pack("<i", count) + b"\x85"
    items += _str("order") + _str("C") + _str("dtype") + dtype + _str("allow_mmap") + b"\x89"
    if aligned:
        items += _str("numpy_array_alignment_bytes") + b"K\x10"
    return b"}(" + items + b"u"


def _inert(size: int) -> bytes:
    """``size`` bytes of opcodes that leave the stack as they found it."""
    return b"N0" * (size // 2) if size % 2 == 0 else b"K\x000" + b"N0" * ((size - 3) // 2)


def _runs_the_payload(path: Path) -> bool:
    subprocess.run(
        [sys.executable, "-c", _LOAD, str(path)], cwd=path.parent, check=True, timeout=120
    )
    return (path.parent / _MARKER).is_dir()


def _critical(path: Path) -> set[str | None]:
    """The subjects of the scan's critical findings (None for a finding without one)."""
    report = scan_path(path)
    return {f.subject for f in report.findings if f.severity is Severity.CRITICAL}


# -- frames: joblib reads the array from past the frame, then runs the frame's rest ----------


def test_array_data_read_inside_a_pickle_frame_is_critical(tmp_path: Path) -> None:
    # The scanner skipped the frame's rest as the array's data, and read the data as opcodes.
    rest = b"0" + _MKDIR  # drops the array
    framed = _WRAPPER + b")\x81" + _state(len(rest)) + b"b" + rest
    path = tmp_path / "model.joblib"
    path.write_bytes(b"\x80\x04" + _frame(framed) + _inert(len(rest)) + b".")
    assert _runs_the_payload(path)
    assert None in _critical(path)


def test_a_padding_byte_read_inside_a_pickle_frame_is_critical(tmp_path: Path) -> None:
    # The scanner read NEWTRUE (136) as the padding length and skipped past the frame's rest;
    # joblib reads the padding length (0x80 - ...) from the file and runs that rest.
    rest = b"\x88" + b"0" + _MKDIR + b"0"  # pushes True and drops it, then drops mkdir's None
    count = 8
    padding = 0x88 - len(rest)  # the scanner lands on the STOP joblib reads last
    framed = _WRAPPER + b")\x81" + _state(count, aligned=True) + b"b" + rest
    tail = bytes([padding]) + b"\xff" * padding + bytes(count) + b"."
    path = tmp_path / "model.joblib"
    path.write_bytes(b"\x80\x04" + _frame(framed) + tail)
    assert _runs_the_payload(path)
    assert None in _critical(path)


def test_an_object_array_read_inside_a_pickle_frame_is_critical(tmp_path: Path) -> None:
    framed = _WRAPPER + b")\x81" + _state(1, _OBJECTS) + b"b" + b"0" + _MKDIR
    path = tmp_path / "model.joblib"
    path.write_bytes(b"\x80\x04" + _frame(framed) + b"\x80\x04" + _ARRAY_LIKE + b"..")
    assert _runs_the_payload(path)
    assert None in _critical(path)


def test_an_object_arrays_pickle_stopping_inside_its_frame_is_critical(tmp_path: Path) -> None:
    # joblib's inner unpickler read its frame whole and drops what follows the STOP there: the
    # outer pickle goes on past the frame. The scanner read that rest as a bytes constant
    # swallowing the payload.
    payload = b"0" + _MKDIR  # drops the array
    inner = b"\x80\x04" + _frame(_ARRAY_LIKE + b"." + b"B" + struct.pack("<I", len(payload)))
    outer = b"\x80\x04" + _WRAPPER + b")\x81" + _state(1, _OBJECTS) + b"b"
    path = tmp_path / "model.joblib"
    path.write_bytes(outer + inner + payload + b".")
    assert _runs_the_payload(path)
    assert None in _critical(path)


# -- what a wrapper's BUILD leaves: what joblib read, never the wrapper again -----------------


def test_a_build_of_what_an_object_array_returned_reads_no_array(tmp_path: Path) -> None:
    # The object array's pickle returns a namespace with a dtype; BUILD of it reads nothing,
    # and what follows runs in the outer pickle with its memo. The scanner once kept the
    # wrapper there and read it as another object array's pickle, with a memo of its own.
    memoised = _str("posix") + b"\x94" + _str("mkdir") + b"\x94" + b"00"
    returned = b"\x80\x04" + _ARRAY_LIKE + b"."
    wrapper = _WRAPPER + b")\x81" + _state(1, _OBJECTS) + b"b" + returned
    payload = _str("collections") + b"\x94" + _str("OrderedDict") + b"\x94" + b"00"
    payload += b"h\x00h\x01\x93" + _str(_MARKER) + b"\x85R."
    path = tmp_path / "model.joblib"
    path.write_bytes(b"\x80\x04" + memoised + wrapper + b"}b" + payload + b".")
    assert _runs_the_payload(path)
    assert "posix.mkdir" in _critical(path)


def test_an_object_array_returning_a_wrapper_is_critical(tmp_path: Path) -> None:
    # A plain unpickler's BUILD reads no array, but joblib's reads one at the outer BUILD of the
    # wrapper returned: the two bytes the scanner reads as a bytes constant swallowing the
    # payload. (The last STOP ends what the scanner once read as another object array.)
    payload = b"0" + _MKDIR + b"0"  # drops the array, then mkdir's None
    returned = b"\x80\x04" + _WRAPPER + b")\x81" + _state(2) + b"b."
    wrapper = _WRAPPER + b")\x81" + _state(1, _OBJECTS) + b"b" + returned
    swallow = b"C" + bytes([len(payload)])
    path = tmp_path / "model.joblib"
    path.write_bytes(b"\x80\x04" + wrapper + b"}b" + swallow + payload + b"N..")
    assert _runs_the_payload(path)
    assert "joblib.numpy_pickle.NumpyArrayWrapper" in _critical(path)


def test_a_wrapper_built_again_from_the_memo_is_critical(tmp_path: Path) -> None:
    # joblib reads array data at each BUILD of a wrapper; no joblib writer builds one twice.
    payload = b"0" + _MKDIR + b"0"
    first = _WRAPPER + b")\x81\x94" + _state(2) + b"b" + b"\x00\x00" + b"0"
    again = b"h\x00" + b"}b" + b"C" + bytes([len(payload)])  # joblib reads these 2 bytes
    path = tmp_path / "model.joblib"
    path.write_bytes(b"\x80\x04" + first + again + payload + b"N.")
    assert _runs_the_payload(path)
    assert None in _critical(path)


# -- honest dumps are read as before -----------------------------------------------------------


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_honest_models_and_object_arrays_of_every_protocol_are_clean(
    tmp_path: Path, protocol: int
) -> None:
    rng = np.random.default_rng(3)
    x = rng.random((60, 4))
    words = np.array([["a", "b"], ["c", "d"], ["a", "d"]], dtype=object)
    dump = {
        "pipe": make_pipeline(StandardScaler(), LogisticRegression()).fit(x, x[:, 0] > 0.5),
        "encoder": OneHotEncoder().fit(words),
        "strings": np.array(["x", "yy", None], dtype=object),
        "big": rng.random(40_000),  # past a frame's 64 KiB
    }
    path = tmp_path / "model.joblib"
    joblib.dump(dump, path, protocol=protocol)
    findings = scan_path(path).findings  # numpy.float64 is MEDIUM (the allowlist's affair)
    assert [f for f in findings if f.severity.rank >= Severity.HIGH.rank] == []
