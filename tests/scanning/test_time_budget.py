"""The scan's time budget: a file too slow to read stops the scan with a HIGH finding."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest

from mlgate.scanning import Severity, scan_path
from mlgate.scanning.schemas import ScanReport

_TINY_BUDGET_S = 0.05
# Each crafted file takes several seconds to read in full; stopped by the budget, it takes a
# fraction of one. The bound leaves room for a loaded machine and still fails a full read.
_STOPPED_WITHIN_S = 3.0
_NOOP_PICKLE = b"\x80\x02" + b"N0" * (4 << 20) + b"N."  # NONE, POP: 8M opcodes doing nothing


def _noop_pickle(directory: Path) -> Path:
    path = directory / "model.pkl"
    path.write_bytes(_NOOP_PICKLE)
    return path


def _noop_joblib(directory: Path) -> Path:
    """A few KiB on disk that inflate to 8 MiB of opcodes: read through the scanner's stream."""
    path = directory / "model.joblib"
    path.write_bytes(gzip.compress(_NOOP_PICKLE))
    return path


def _varint_onnx(directory: Path) -> Path:
    """A ModelProto whose ir_version is repeated 16M times before its (empty) graph."""
    path = directory / "model.onnx"
    path.write_bytes(b"\x08\x00" * (16 << 20) + b"\x3a\x00")
    return path


def _budget_findings(report: ScanReport) -> list[str]:
    return [f.file for f in report.findings if f.rule == "scan.time-budget"]


@pytest.mark.parametrize("craft", [_noop_pickle, _noop_joblib, _varint_onnx])
def test_a_file_slower_than_the_budget_stops_with_a_high_finding(
    tmp_path: Path, craft: Callable[[Path], Path]
) -> None:
    path = craft(tmp_path)
    report = scan_path(path, budget_s=_TINY_BUDGET_S)
    assert _budget_findings(report) == [path.name]
    assert report.max_severity is Severity.HIGH
    assert report.duration_s < _STOPPED_WITHIN_S


def test_files_left_when_the_budget_runs_out_are_not_passed(tmp_path: Path) -> None:
    _varint_onnx(tmp_path)
    (tmp_path / "weights.pkl").write_bytes(b"\x80\x02N.")  # benign, but never read
    report = scan_path(tmp_path, budget_s=_TINY_BUDGET_S)
    assert _budget_findings(report) == ["model.onnx", "weights.pkl"]


def test_normal_models_finish_well_within_the_default_budget(benign: list[Path]) -> None:
    for path in benign:
        report = scan_path(path)
        assert _budget_findings(report) == [], path
