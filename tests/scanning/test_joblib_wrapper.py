"""A joblib array wrapper's data is skipped only for the real wrapper, and only when no plain
unpickler would run it: ways to pass a payload as array data (found by a review)."""

from __future__ import annotations

import io
import os
import pickle
import struct
from pathlib import Path

import joblib
import numpy as np
import pytest

from mlgate.scanning import Severity, scan_path

_ALIGNMENT = b"X\x1b\x00\x00\x00numpy_array_alignment_bytesq\x11K\x10"
_CODE = b"open('/nonexistent/pwned','w')"
# NEWTRUE, POP, then builtins.exec(_CODE): opcodes a plain unpickler runs.
_PAYLOAD = (
    b"\x88" + b"0" + b"cbuiltins\nexec\n(X" + len(_CODE).to_bytes(4, "little") + _CODE + b"tR0"
)


def _wrapper_head() -> bytes:
    """An honest protocol-2 joblib dump of five bytes, up to its wrapper's BUILD (no padding)."""
    out = io.BytesIO()
    joblib.dump(np.frombuffer(b"ABCDE", dtype=np.uint8), out, protocol=2)
    dump = out.getvalue()
    assert _ALIGNMENT in dump
    return dump.replace(_ALIGNMENT, b"").rpartition(b"ub")[0] + b"ub"


def _flagged(path: Path) -> bool:
    report = scan_path(path)
    return report.max_severity is not None and report.max_severity.rank >= Severity.HIGH.rank


def test_the_wrapper_named_by_a_dotted_path_is_the_wrapper(tmp_path: Path) -> None:
    # Protocol 4 resolves "joblib" + "numpy_pickle.NumpyArrayWrapper" to the same class; the
    # scanner read its five bytes of array data as opcodes: a BINBYTES swallowing the payload.
    dotted = _wrapper_head().replace(
        b"\x80\x02cjoblib.numpy_pickle\nNumpyArrayWrapper\n",
        b"\x80\x04cjoblib\nnumpy_pickle.NumpyArrayWrapper\n",
    )
    path = tmp_path / "dotted.joblib"
    path.write_bytes(dotted + b"B" + len(_PAYLOAD).to_bytes(4, "little") + _PAYLOAD + b".")
    assert _flagged(path)


def test_array_data_a_plain_unpickler_would_run_is_high(tmp_path: Path) -> None:
    # joblib skips the array's bytes; pickle.load (or torch.load) runs them as opcodes.
    size = len(_PAYLOAD).to_bytes(4, "little", signed=True)
    head = _wrapper_head().replace(b"K\x05\x85", b"J" + size + b"\x85")
    path = tmp_path / "payload.pkl"
    path.write_bytes(head + _PAYLOAD + b".")
    report = scan_path(path)
    assert ("pickle.array-data-runs", Severity.HIGH) in [
        (f.rule, f.severity) for f in report.findings
    ]


def test_honest_array_data_is_no_finding(tmp_path: Path) -> None:
    path = tmp_path / "honest.joblib"
    joblib.dump({"w": np.random.default_rng(7).random((64, 64)), "b": np.arange(1000)}, path)
    assert scan_path(path).findings == []


# -- a wrapper made any way joblib.load accepts is followed, or not passed --------------------
# joblib reads array data after the BUILD of whatever is an instance of its wrapper, however the
# pickle made it. The array data below is what a scanner reading it as opcodes takes for one
# bytes constant swallowing a payload, which joblib, skipping the array, runs.


def _str(text: str) -> bytes:
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw  # SHORT_BINUNICODE


def _global(module: str, name: str) -> bytes:
    return _str(module) + _str(name) + b"\x93"  # STACK_GLOBAL


_GETCWD = _global("posix", "getcwd") + b")R"  # harmless to run, critical to find
_COUNT = 8  # bytes of array data
# numpy.dtype("u1", False, True) with its version-3 BUILD state, as NumPy pickles one.
_UINT8 = _global("numpy", "dtype") + _str("u1") + b"\x89\x88\x87R"
_UINT8 += b"(K\x03" + _str("|") + b"NNN" + (b"J" + struct.pack("<i", -1)) * 2 + b"K\x00tb"


def _state(count: int, dtype: bytes = _UINT8) -> bytes:
    """A NumpyArrayWrapper's state: ``count`` items of ``dtype``, no alignment padding."""
    items = _str("subclass") + _global("numpy", "ndarray")
    items += _str("shape") + b"J" + struct.pack("<i", count) + b"\x85"
    items += _str("order") + _str("C") + _str("dtype") + dtype + _str("allow_mmap") + b"\x89"
    return b"}(" + items + b"u"


_STATE = _state(_COUNT)
_ARRAY = b"C" + bytes([_COUNT - 2 + len(_GETCWD)]) + bytes(_COUNT - 2) + _GETCWD + b"."
_WRAPPER = _global("joblib.numpy_pickle", "NumpyArrayWrapper")
_OBJECT = _global("builtins", "object")
_RECONSTRUCTOR = _global("copyreg", "_reconstructor")


def _runs_the_payload(path: Path) -> bool:
    return bool(joblib.load(path) == os.getcwd())


@pytest.mark.parametrize(
    "made",
    [
        pytest.param(
            b"\x80\x04" + _RECONSTRUCTOR + _WRAPPER + _OBJECT + b"N\x87R", id="reconstructor"
        ),
        pytest.param(
            b"\x80\x02ccopy_reg\n_reconstructor\n(cjoblib.numpy_pickle\nNumpyArrayWrapper\n"
            b"c__builtin__\nobject\nNtR",
            id="reconstructor-as-protocol-0-writes-it",
        ),
        pytest.param(
            b"\x80\x04" + _RECONSTRUCTOR + _WRAPPER + _OBJECT + b"N\x87\x94" + b"0h\x00R",
            id="reconstructor-arguments-from-the-memo",
        ),
        pytest.param(b"\x80\x04(" + _RECONSTRUCTOR + _WRAPPER + _OBJECT + b"No", id="obj"),
        pytest.param(b"\x80\x04(" + _WRAPPER + _OBJECT + b"Nicopyreg\n_reconstructor\n", id="inst"),
        pytest.param(
            b"\x80\x04" + _global("copyreg", "__newobj__") + _WRAPPER + b"\x85R",
            id="copyreg-newobj",
        ),
        pytest.param(
            b"\x80\x04" + _global("builtins", "object.__new__") + _WRAPPER + b"\x85R",
            id="object-new",
        ),
        pytest.param(
            b"\x80\x04"
            + _global("joblib.numpy_pickle", "NumpyArrayWrapper.__new__")
            + _WRAPPER
            + b"\x85R",
            id="the-wrappers-own-new",
        ),
        pytest.param(
            b"\x80\x04"
            + _global("sklearn.utils.validation", "joblib.numpy_pickle.NumpyArrayWrapper")
            + b")\x81",
            id="re-exported-by-another-module",
        ),
    ],
)
def test_a_wrapper_made_by_any_constructor_is_followed(tmp_path: Path, made: bytes) -> None:
    path = tmp_path / "model.joblib"
    path.write_bytes(made + _STATE + b"b" + _ARRAY)
    assert _runs_the_payload(path)
    findings = {(f.rule, f.subject) for f in scan_path(path).findings}
    assert ("pickle.dangerous-global", "posix.getcwd") in findings  # read past the array


@pytest.mark.parametrize(
    "made",
    [
        pytest.param(
            b"\x80\x04" + _RECONSTRUCTOR + b"](" + _WRAPPER + _OBJECT + b"NeR" + _STATE + b"b",
            id="constructor-arguments-in-a-list",  # joblib's unpickler calls func(*args)
        ),
        pytest.param(
            b"\x80\x04"
            + _global("argparse", "Namespace")  # allowlisted: a plain object with a __dict__
            + b")R"
            + _STATE
            + b"}"
            + _str("__class__")
            + _WRAPPER
            + b"s\x86b",  # BUILD sets the __dict__, then __class__ from the slot state
            id="class-set-by-build",
        ),
    ],
)
def test_a_wrapper_class_used_any_other_way_is_not_a_pass(tmp_path: Path, made: bytes) -> None:
    path = tmp_path / "model.joblib"
    path.write_bytes(made + _ARRAY)
    assert _runs_the_payload(path)
    assert _flagged(path)


def test_array_data_of_an_object_array_is_not_skipped(tmp_path: Path) -> None:
    """joblib unpickles an object array's data with a plain Unpickler: a wrapper's BUILD in it
    reads no array, and what follows it is run as opcodes (the scanner once skipped them)."""
    marker = tmp_path / "ran"
    payload = b"0" + _global("posix", "mkdir") + _str(str(marker)) + b"\x85R"
    data = payload + b".."  # joblib's two STOPs: the inner pickle's, then the dump's
    inner = b"\x80\x04" + _WRAPPER + b")\x81" + _state(len(data)) + b"b" + data
    objects = _state(1, _UINT8.replace(_str("u1"), _str("O")).replace(b"K\x00tb", b"K\x3ftb"))
    path = tmp_path / "model.joblib"
    # The scanner skipped ``data`` as the inner wrapper's array: its two STOPs come after.
    path.write_bytes(b"\x80\x04" + _WRAPPER + b")\x81" + objects + b"b" + inner + b"..")
    with pytest.raises(AttributeError):  # the payload returns no array
        joblib.load(path)
    assert marker.is_dir()
    report = scan_path(path)
    assert report.max_severity is Severity.CRITICAL
    assert "posix.mkdir" in {f.subject for f in report.findings}


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_honest_dumps_of_every_protocol_are_followed(tmp_path: Path, protocol: int) -> None:
    # Protocols 0 and 1 make each wrapper with copyreg._reconstructor: the scanner once read
    # their array data as opcodes and called the dump malformed.
    objects = np.empty(2, dtype=object)
    objects[:] = ["a", {"b": 1}]
    path = tmp_path / "model.joblib"
    data = {"w": np.arange(12.0).reshape(3, 4), "s": np.array(["ab", "c"]), "o": objects}
    joblib.dump(data, path, protocol=protocol)
    assert scan_path(path).findings == []


def test_a_class_named_like_the_wrapper_that_cannot_be_resolved_is_high(tmp_path: Path) -> None:
    """Only a class resolved to the wrapper is followed as one; if this one is (the scanner does
    not import torch), joblib reads array data the scanner would read as opcodes."""
    path = tmp_path / "model.joblib"
    made = _global("torch.nn.modules.module", "NumpyArrayWrapper") + b")\x81"
    path.write_bytes(b"\x80\x04" + made + _STATE + b"b" + bytes(_COUNT) + b"N.")
    findings = scan_path(path).findings
    assert [(f.rule, f.severity) for f in findings if "NumpyArrayWrapper" in (f.subject or "")] == [
        ("pickle.unresolved-global", Severity.HIGH)
    ]
