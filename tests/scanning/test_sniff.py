"""Formats are recognised however an archive nests them or a serialiser orders their fields."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

from mlgate.scanning import ScanReport, Severity, scan_path
from tests.scanning.corpus import _LAMBDA, _onnx_external


def _rules(report: ScanReport) -> set[tuple[str, Severity]]:
    return {(f.rule, f.severity) for f in report.findings}


def test_saved_model_inside_a_tarball_directory_is_scanned(tmp_path: Path) -> None:
    body = b"\x08\x01" + b"".join(
        b"\x0a\x04node\x12" + bytes([len(op)]) + op.encode() for op in ("Const", "PyFunc")
    )
    path = tmp_path / "model.tar"
    with tarfile.open(path, "w") as archive:
        info = tarfile.TarInfo("export/saved_model.pb")
        info.size = len(body)
        archive.addfile(info, io.BytesIO(body))
    assert ("savedmodel.risky-op", Severity.CRITICAL) in _rules(scan_path(path))


def test_onnx_whose_first_field_is_not_ir_version_is_parsed(tmp_path: Path) -> None:
    source = tmp_path / "source.onnx"
    _onnx_external(source, "../../../../etc/passwd")
    data = source.read_bytes()
    assert data[:1] == b"\x08"  # ir_version, a one-byte varint, comes first
    assert data[1] < 0x80
    path = tmp_path / "reordered.onnx"
    path.write_bytes(data[2:] + data[:2])  # protobuf fields may come in any order
    source.unlink()
    report = scan_path(path)
    assert report.max_severity is Severity.CRITICAL
    assert any(f.rule.startswith("onnx.") for f in report.findings)


def test_keras_zip_with_only_a_config_is_checked(tmp_path: Path) -> None:
    config = {"class_name": "Sequential", "config": {"name": "seq", "layers": [_LAMBDA]}}
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as archive:  # no metadata.json: Keras 3 loads it anyway
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("model.weights.npz", b"")
    assert ("keras.lambda-layer", Severity.CRITICAL) in _rules(scan_path(path))
