"""The scanner flags every malicious artifact and passes real models saved the ordinary way."""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mlgate.errors import NotFound
from mlgate.scanning import ScanReport, Severity, scan_path
from tests.scanning.corpus import Exploit, memo_stack_global


def _worst(report: ScanReport) -> Severity | None:
    return report.max_severity


def _by_name(paths: list[Path], name: str) -> Path:
    return next(p for p in paths if p.name == name)


def test_every_malicious_artifact_is_flagged_critical_or_high(malicious: list[Path]) -> None:
    missed = {}
    for path in malicious:
        report = scan_path(path)
        worst = _worst(report)
        if worst is None or worst.rank < Severity.HIGH.rank:
            missed[path.name] = [f.rule for f in report.findings]
    assert not missed
    assert len(malicious) >= 35


def test_no_benign_model_gets_a_finding_above_info(benign: list[Path]) -> None:
    noisy = {}
    for path in benign:
        report = scan_path(path)
        above = report.above(Severity.INFO)
        if above:
            noisy[path.name] = [(f.severity.value, f.rule, f.subject) for f in above]
    assert not noisy
    assert report.passed


def test_benign_formats_are_recognised_by_content(benign: list[Path]) -> None:
    formats = {f.format for p in benign for f in scan_path(p).files}
    assert {
        "pickle",
        "npy",
        "npz",
        "skops",
        "onnx",
        "safetensors",
        "gguf",
        "keras-zip",
        "zlib",
        "gzip",
        "savedmodel",
    } <= formats


def test_directory_scan_counts_files_and_bytes(benign: list[Path]) -> None:
    report = scan_path(benign[0].parent)
    assert report.files_scanned == len([p for p in benign if p.is_file()]) + 1  # + saved_model
    assert report.bytes_scanned == sum(f.size for f in report.files) > 0
    assert report.duration_s > 0


def test_global_built_from_memoised_strings_is_resolved(tmp_path: Path) -> None:
    path = tmp_path / "memo.pkl"
    path.write_bytes(memo_stack_global())
    findings = scan_path(path).findings
    assert [(f.severity, f.subject) for f in findings] == [(Severity.CRITICAL, "os.system")]
    assert findings[0].offset is not None


def test_stack_global_with_non_constant_operands_is_high(malicious: list[Path]) -> None:
    report = scan_path(_by_name(malicious, "unresolved_stack_global.pkl"))
    assert report.findings[0].rule == "pickle.unresolved-global"
    assert report.findings[0].severity is Severity.HIGH


def test_stack_global_whose_seen_module_is_dangerous_is_critical(tmp_path: Path) -> None:
    """The name is made by a call (builtins.str, allowlisted), so it cannot be known; but any
    name under os is critical, and so is this one."""
    name = b"\x8c\x08builtins\x8c\x03str\x93\x8c\x06getcwd\x85R"
    data = b"\x80\x04\x8c\x02os" + name + b"\x93)R."
    assert pickle.loads(data) == os.getcwd()  # what any loader runs
    path = tmp_path / "call.pkl"
    path.write_bytes(data)
    findings = scan_path(path).findings
    assert [(f.rule, f.severity) for f in findings] == [
        ("pickle.dangerous-global", Severity.CRITICAL)
    ]


def test_truncated_pickle_is_a_high_finding_not_a_pass(tmp_path: Path) -> None:
    path = tmp_path / "cut.pkl"
    path.write_bytes(pickle.dumps({"a": [1, 2, 3]}, protocol=4)[:-3])
    report = scan_path(path)
    assert [f.rule for f in report.findings] == ["pickle.malformed"]
    assert not report.passed


def test_trailing_junk_after_stop_is_medium(tmp_path: Path) -> None:
    path = tmp_path / "junk.pkl"
    path.write_bytes(pickle.dumps([1, 2]) + b"\x00garbage")
    assert [(f.rule, f.severity) for f in scan_path(path).findings] == [
        ("pickle.trailing-data", Severity.MEDIUM)
    ]


def test_pickle_appended_after_stop_is_scanned(malicious: list[Path]) -> None:
    report = scan_path(_by_name(malicious, "trailing_pickle.pkl"))
    assert report.max_severity is Severity.CRITICAL


def test_nested_pickle_in_bytes_constant_is_scanned(malicious: list[Path]) -> None:
    findings = scan_path(_by_name(malicious, "nested_bytes.pkl")).findings
    assert any(
        f.subject == "posix.system" and f.message.startswith("nested pickle") for f in findings
    )


def test_zip_member_findings_name_the_member(malicious: list[Path]) -> None:
    findings = scan_path(_by_name(malicious, "torch_odd_name.pt")).findings
    critical = [f for f in findings if f.severity is Severity.CRITICAL]
    assert critical[0].member == "archive/data/weights.bin"
    assert critical[0].file == "torch_odd_name.pt"


def test_broken_crc_is_reported_and_member_still_scanned(malicious: list[Path]) -> None:
    rules = {f.rule for f in scan_path(_by_name(malicious, "torch_bad_crc.pt")).findings}
    assert {"archive.bad-crc", "pickle.dangerous-global"} <= rules


def test_extension_that_lies_about_content_is_noted(malicious: list[Path]) -> None:
    findings = scan_path(_by_name(malicious, "disguised.safetensors")).findings
    assert ("file.extension-mismatch", Severity.INFO) in {(f.rule, f.severity) for f in findings}
    assert scan_path(_by_name(malicious, "disguised.safetensors")).files[0].format == "pickle"


def test_tensor_members_are_not_read_past_their_magic(tmp_path: Path) -> None:
    """A stored data member whose bytes are not a pickle is skipped, whatever its size."""
    path = tmp_path / "big.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"w": 1}, protocol=2))
        archive.writestr("archive/data/0", np.ones(1 << 20, dtype=np.float32).tobytes())
    report = scan_path(path)
    assert report.findings == []
    assert report.files[0].format == "pytorch-zip"


def test_object_npy_inside_npz_is_scanned(malicious: list[Path]) -> None:
    findings = scan_path(_by_name(malicious, "object_array.npz")).findings
    assert any(f.member == "a.npy" and f.severity is Severity.CRITICAL for f in findings)


def test_unrecognised_file_is_info_only(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    report = scan_path(path)
    assert [f.rule for f in report.findings] == ["file.unrecognised"]
    assert report.passed


def test_scanning_a_missing_path_raises_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        scan_path(tmp_path / "absent.pkl")


def test_report_serialises_to_json(malicious: list[Path]) -> None:
    report = scan_path(_by_name(malicious, "os_system_p0.pkl"))
    data = json.loads(report.model_dump_json())
    assert data["max_severity"] == "critical"
    assert data["findings"][0]["subject"] == "posix.system"
    assert ScanReport.model_validate(data) == report


def test_joblib_object_array_payload_is_found(tmp_path: Path) -> None:
    import joblib

    objects = np.empty(1, dtype=object)
    objects[0] = Exploit()
    path = tmp_path / "objects.joblib"
    joblib.dump({"arr": objects, "floats": np.arange(5.0)}, path)
    assert scan_path(path).max_severity is Severity.CRITICAL


def test_inline_pickle_protocol0_in_zip_member_is_scanned(tmp_path: Path) -> None:
    path = tmp_path / "p0.zip"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("x/data.pkl", pickle.dumps({"a": [Exploit()]}, protocol=0))
    path.write_bytes(buf.getvalue())
    assert scan_path(path).max_severity is Severity.CRITICAL


def test_tar_checkpoint_scans_pickles_and_skips_tensor_data(tmp_path: Path) -> None:
    import tarfile

    path = tmp_path / "legacy.tar"
    members = {
        "sys_info": pickle.dumps({"little_endian": True}, protocol=2),
        "tensors": np.full(1 << 18, 0.5, dtype=np.float32).tobytes(),
        "pickle": pickle.dumps(Exploit(), protocol=2),
    }
    with tarfile.open(path, "w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    findings = scan_path(path).findings
    assert [(f.member, f.severity) for f in findings] == [("pickle", Severity.CRITICAL)]


def test_pickle_in_a_zip_inside_a_zip_is_found(tmp_path: Path) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("model/data.pkl", pickle.dumps(Exploit(), protocol=4))
    path = tmp_path / "bundle.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("readme.txt", "weights inside")
        archive.writestr("inner.pt", inner.getvalue())
    findings = scan_path(path).findings
    assert findings[0].severity is Severity.CRITICAL
    assert findings[0].member == "inner.pt!model/data.pkl"


def test_hdf5_without_h5py_is_reported_unscannable(
    benign: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    pytest.importorskip("h5py")  # the corpus writes .h5 files only when h5py is there
    monkeypatch.setitem(sys.modules, "h5py", None)  # as if h5py were not installed
    findings = scan_path(_by_name(benign, "dense.h5")).findings
    assert [(f.rule, f.severity) for f in findings] == [("hdf5.unscannable", Severity.MEDIUM)]


def test_progress_is_reported_file_by_file_up_to_the_bytes_scanned(tmp_path: Path) -> None:
    for index, size in enumerate((10, 2000, 300)):
        (tmp_path / f"{index}.bin").write_bytes(b"\x00" * size)
    seen: list[int] = []
    report = scan_path(tmp_path, progress=seen.append)
    assert sorted(seen) == [10, 300, 2000]  # what the CLI's progress bar counts
    assert sum(seen) == report.bytes_scanned


def _common_sklearn_models() -> dict[str, object]:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, LabelEncoder

    rng = np.random.default_rng(0)
    features, labels = rng.random((40, 4)), np.arange(40) % 2
    docs = ["apple banana", "banana cherry", "cherry date", "date apple"] * 5
    return {
        "hgb": HistGradientBoostingClassifier(max_iter=3).fit(features, labels),
        "tfidf": make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(docs, labels[:20]),
        "labels": LabelEncoder().fit(["x", "y"]),
        "log1p": make_pipeline(FunctionTransformer(np.log1p), LogisticRegression()).fit(
            features, labels
        ),
        "objects": np.array([{"a": 1}, "s", 3], dtype=object),
        "rng": np.random.default_rng(1),
    }


def test_common_sklearn_and_numpy_pickles_stay_at_most_medium(tmp_path: Path) -> None:
    import joblib

    for name, model in _common_sklearn_models().items():
        (tmp_path / f"{name}.pkl").write_bytes(pickle.dumps(model, protocol=5))
        joblib.dump(model, tmp_path / f"{name}.joblib")
    for path in sorted(tmp_path.iterdir()):
        worst = _worst(scan_path(path))
        assert worst in (None, Severity.INFO, Severity.LOW, Severity.MEDIUM), path.name
