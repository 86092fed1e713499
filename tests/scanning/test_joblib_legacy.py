"""A legacy joblib wrapper (joblib <= 0.9) whose file lies outside the model, or may, is critical.

joblib.load still reads NDArrayWrapper placeholders: it joins the wrapper's filename to the
dump's directory and np.load()s it with pickles allowed, so a name leaving the directory unpickles
any file on the host. A name the scanner cannot read for sure is judged as that worst case.
"""

from __future__ import annotations

import os
import struct
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest

from mlgate.scanning import scan_path
from mlgate.scanning.policy import classify_global
from mlgate.scanning.schemas import Severity


class _Cwd:
    """Unpickled, this is os.getcwd(): proof that a loader unpickled the file holding it."""

    def __reduce__(self) -> tuple[object, tuple[()]]:
        return (os.getcwd, ())


def _str(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw  # BINUNICODE


def _global(module: str, name: str) -> bytes:
    return _str(module) + _str(name) + b"\x93"  # STACK_GLOBAL


def _elsewhere(tmp_path: Path) -> str:
    """An .npy outside the model's directory, by its absolute name, that unpickles _Cwd."""
    target = tmp_path / "elsewhere" / "other-upload.npy"
    target.parent.mkdir()
    np.save(target, np.array([_Cwd()], dtype=object), allow_pickle=True)
    return str(target)


def _legacy(state: bytes, *, module: str = "joblib.numpy_pickle_compat") -> bytes:
    """An NDArrayWrapper made by NEWOBJ as pickle writes it, ``state`` its BUILD state (the
    opcodes from the memoised empty dict, memo key 1, to the dict on top of the stack)."""
    head = b"\x80\x04" + _global(module, "NDArrayWrapper") + b"\x94)\x81}\x94"
    return head + state + b"b."


def _items(filename: bytes) -> bytes:
    items = _str("filename") + filename + _str("subclass") + _global("numpy", "ndarray")
    return b"(" + items + _str("allow_mmap") + b"\x89u"


def _loads_it(path: Path) -> bool:
    with warnings.catch_warnings():  # joblib deprecates the compatibility mode it runs
        warnings.simplefilter("ignore")
        loaded = joblib.load(path)
    return bool(loaded[0] == os.getcwd())


@pytest.mark.parametrize(
    "second_reference",
    [pytest.param(b"h\x01", id="memo-get"), pytest.param(b"2", id="dup")],
)
def test_a_filename_written_through_a_second_reference_is_critical(
    tmp_path: Path, second_reference: bytes
) -> None:
    # The state read 'model.joblib_01.npy' as the replay followed it; joblib opened the other.
    model = tmp_path / "model"
    model.mkdir()
    path = model / "model.joblib"
    rewrite = second_reference + _str("filename") + _str(_elsewhere(tmp_path)) + b"s0"
    path.write_bytes(_legacy(_items(_str("model.joblib_01.npy")) + rewrite))
    assert _loads_it(path)
    report = scan_path(path)
    assert ("pickle.external-file", Severity.CRITICAL) in {
        (f.rule, f.severity) for f in report.findings
    }


def test_a_filename_made_by_a_call_is_critical(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    path = model / "model.joblib"
    made = _global("builtins", "str") + _str(_elsewhere(tmp_path)) + b"\x85R"  # allowlisted
    path.write_bytes(_legacy(_items(made)))
    assert _loads_it(path)
    assert scan_path(path).max_severity is Severity.CRITICAL


def test_the_name_joblib_0_9_wrote_is_the_legacy_wrapper(tmp_path: Path) -> None:
    """joblib.numpy_pickle still holds NDArrayWrapper, the name older dumps pickled it by."""
    verdict = classify_global("joblib.numpy_pickle", "NDArrayWrapper")
    assert verdict is not None
    assert (verdict.severity, verdict.rule) == (Severity.HIGH, "pickle.external-file")
    model = tmp_path / "model"
    model.mkdir()
    path = model / "model.joblib"
    filename = _str(_elsewhere(tmp_path))
    path.write_bytes(_legacy(_items(filename), module="joblib.numpy_pickle"))
    assert _loads_it(path)
    assert scan_path(path).max_severity is Severity.CRITICAL


def test_a_legacy_wrapper_made_as_protocols_0_and_1_make_objects_is_followed(
    tmp_path: Path,
) -> None:
    """copyreg._reconstructor(NDArrayWrapper, object, None) is the wrapper NEWOBJ would make."""
    model = tmp_path / "model"
    model.mkdir()
    path = model / "model.joblib"
    wrapper = _global("joblib.numpy_pickle_compat", "NDArrayWrapper")
    made = _global("copyreg", "_reconstructor") + wrapper + _global("builtins", "object") + b"N"
    state = b"}" + _items(_str(_elsewhere(tmp_path)))
    path.write_bytes(b"\x80\x04" + made + b"\x87R" + state + b"b.")
    assert _loads_it(path)
    assert ("pickle.external-file", Severity.CRITICAL) in {
        (f.rule, f.severity) for f in scan_path(path).findings
    }


def test_a_sibling_file_named_plainly_stays_high(tmp_path: Path) -> None:
    path = tmp_path / "model.joblib"
    path.write_bytes(_legacy(_items(_str("model.joblib_01.npy")), module="joblib.numpy_pickle"))
    report = scan_path(path)
    assert report.max_severity is Severity.HIGH
    assert {f.rule for f in report.findings} == {"pickle.external-file"}


def test_a_wrapper_built_again_and_again_is_one_finding(tmp_path: Path) -> None:
    path = tmp_path / "model.joblib"
    made = b"\x80\x04" + _global("joblib.numpy_pickle_compat", "NDArrayWrapper") + b")\x81\x94"
    again = b"0h\x00}" + _items(_str("/srv/blobs/other-upload")) + b"b"  # memo 0: the wrapper
    path.write_bytes(
        made + b"}" + _items(_str("/srv/blobs/other-upload")) + b"b" + again * 10_000 + b"."
    )
    findings = scan_path(path).findings
    assert sorted((f.rule, f.severity) for f in findings) == [
        ("pickle.external-file", Severity.CRITICAL),
        ("pickle.external-file", Severity.HIGH),
    ]
