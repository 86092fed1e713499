"""A joblib array wrapper's data is skipped only for the real wrapper, and only when no plain
unpickler would run it: ways to pass a payload as array data (found by a review)."""

from __future__ import annotations

import io
from pathlib import Path

import joblib
import numpy as np

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
