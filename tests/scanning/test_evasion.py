"""Artifacts built to slip past format sniffing or the scanner's caps are flagged, never passed.

Every payload here is built as bytes and only ever scanned: nothing is unpickled.
"""

from __future__ import annotations

import gzip
import io
import pickle
import random
import tarfile
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from mlgate.scanning import ScanReport, Severity, archives, scan_path, scanner
from tests.scanning.corpus import Exploit
from tests.scanning.factories import headerless_pickle

HEADERLESS = headerless_pickle()


def _runs_system(report: ScanReport) -> bool:
    return any(
        f.severity is Severity.CRITICAL and f.subject == "posix.system" for f in report.findings
    )


def _rules(report: ScanReport) -> set[tuple[str, Severity]]:
    return {(f.rule, f.severity) for f in report.findings}


def _tar(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(HEADERLESS, id="as-reviewed"),
        pytest.param(HEADERLESS[:-1], id="no-stop-reduce-still-runs"),
        pytest.param(b"\x88" * 3000 + b"0" * 3000 + HEADERLESS, id="padded-past-the-head"),
        pytest.param(
            b"B" + (70_000).to_bytes(4, "little") + b"\0" * 70_000 + b"0" + HEADERLESS,
            id="behind-a-long-bytes-argument",
        ),
        pytest.param(b"N.\x88" + HEADERLESS, id="second-pickle-in-the-file"),
    ],
)
def test_pickle_without_proto_header_is_scanned_as_a_pickle(tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / "payload.dat"  # no pickle-family extension: the content alone must tell
    path.write_bytes(payload)
    report = scan_path(path)
    assert report.files[0].format == "pickle"
    assert _runs_system(report)


def test_headerless_pickle_only_the_unpickler_can_read_fails_closed(tmp_path: Path) -> None:
    """pickletools rejects INT 0x10, pickle.loads takes it: the import behind it is not hidden."""
    path = tmp_path / "payload.dat"
    path.write_bytes(b"I0x10\n0" + HEADERLESS)
    report = scan_path(path)
    assert report.files[0].format == "pickle"
    assert ("pickle.malformed", Severity.HIGH) in _rules(report)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_every_protocol_is_recognised_with_its_header_stripped(
    tmp_path: Path, protocol: int
) -> None:
    data = pickle.dumps(OrderedDict(a=[1, 2]), protocol=protocol)
    body = data[2:]  # PROTO
    if body[:1] == b"\x95":
        body = body[9:]  # FRAME
    path = tmp_path / "state.dat"
    path.write_bytes(body)
    report = scan_path(path)
    assert report.files[0].format == "pickle"
    assert not report.above(Severity.LOW)  # collections.OrderedDict is allowed


def test_headerless_pickle_in_a_zip_member_is_found(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"w": 1}, protocol=2))
        archive.writestr("archive/data/7", HEADERLESS)
    findings = [f for f in scan_path(path).findings if f.severity is Severity.CRITICAL]
    assert [(f.member, f.subject) for f in findings] == [("archive/data/7", "posix.system")]


def test_headerless_pickle_in_a_tar_member_is_found(tmp_path: Path) -> None:
    path = tmp_path / "legacy.tar"
    _tar(path, {"sys_info": pickle.dumps({"little_endian": True}, protocol=2), "blob": HEADERLESS})
    findings = [f for f in scan_path(path).findings if f.severity is Severity.CRITICAL]
    assert [(f.member, f.subject) for f in findings] == [("blob", "posix.system")]


def test_headerless_pickle_after_a_benign_one_is_scanned(tmp_path: Path) -> None:
    path = tmp_path / "two.pkl"
    path.write_bytes(pickle.dumps([1, 2], protocol=4) + HEADERLESS)
    assert _runs_system(scan_path(path))


@pytest.mark.parametrize(
    ("name", "data"),
    [
        pytest.param("infer.py", b"import os\nimport sys\n\nprint(os.getcwd())\n", id="script"),
        pytest.param("rows.csv", b"id,name,value\n1,a,2.5\n", id="csv"),
        pytest.param("labels.txt", b"N/A\nperson\nbicycle\n", id="text"),
        pytest.param("norm.weight", b"\x80\x3f" * 4096, id="bf16-ones"),
        pytest.param("nones.dat", b"N" * 5000, id="import-free-opcodes"),
        pytest.param("extension.dat", b"\x82\x01)R.", id="ext-code-registry-is-empty"),
        pytest.param("noise.dat", random.Random(0).randbytes(1 << 16), id="random"),
    ],
)
def test_content_that_cannot_reach_an_import_stays_unrecognised(
    tmp_path: Path, name: str, data: bytes
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    report = scan_path(path)
    assert report.files[0].format == "unknown"
    assert _rules(report) == {("file.unrecognised", Severity.INFO)}


def test_joblib_lzma_dump_is_decompressed_and_scanned(tmp_path: Path) -> None:
    import joblib

    path = tmp_path / "model.joblib"
    joblib.dump({"model": Exploit(), "w": np.arange(4.0)}, path, compress=("lzma", 3))
    assert path.read_bytes()[:3] == b"\x5d\x00\x00"  # the legacy .lzma header, not xz
    report = scan_path(path)
    assert report.files[0].format == "lzma"
    assert report.max_severity is Severity.CRITICAL


def test_benign_joblib_lzma_dump_passes(tmp_path: Path) -> None:
    import joblib

    path = tmp_path / "arrays.joblib"
    joblib.dump({"w": np.arange(1000.0), "labels": ["a", "b"]}, path, compress=("lzma", 3))
    report = scan_path(path)
    assert report.files[0].format == "lzma"
    assert report.findings == []


def test_joblib_lz4_dump_is_decompressed_and_scanned(tmp_path: Path) -> None:
    import joblib

    for name in ("model.joblib", "weights.bin"):  # joblib.load opens either: found by content
        path = tmp_path / name
        joblib.dump({"model": Exploit(), "w": np.arange(4.0)}, path, compress=("lz4", 3))
        assert path.read_bytes()[:4] == b"\x04\x22\x4d\x18"  # an LZ4 frame
        report = scan_path(path)
        assert report.files[0].format == "lz4"
        assert report.max_severity is Severity.CRITICAL, name


def test_benign_joblib_lz4_dump_passes_and_a_corrupt_one_does_not(tmp_path: Path) -> None:
    import joblib

    path = tmp_path / "arrays.joblib"
    joblib.dump({"w": np.arange(1000.0), "labels": ["a", "b"]}, path, compress=("lz4", 3))
    assert scan_path(path).findings == []
    data = bytearray(path.read_bytes())
    data[len(data) // 2 :] = b"\xff" * (len(data) - len(data) // 2)
    path.write_bytes(bytes(data))
    assert scan_path(path).max_severity >= Severity.HIGH  # unreadable under a pickle name


def test_zip_members_past_the_cap_are_a_high_finding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archives, "_MAX_MEMBERS", 10)
    path = tmp_path / "bundle.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for index in range(10):
            archive.writestr(f"pad/{index:03d}", b"")
        archive.writestr("model.pkl", pickle.dumps(Exploit(), protocol=4))
    report = scan_path(path)
    assert ("archive.too-many-members", Severity.HIGH) in _rules(report)
    assert report.max_severity is Severity.HIGH
    assert not report.passed


def test_tar_members_past_the_cap_are_a_high_finding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archives, "_MAX_MEMBERS", 10)
    path = tmp_path / "bundle.tar"
    members = {f"pad/{index:03d}": b"" for index in range(10)}
    _tar(path, {**members, "model.pkl": pickle.dumps(Exploit(), protocol=4)})
    report = scan_path(path)
    assert ("archive.too-many-members", Severity.HIGH) in _rules(report)
    assert not report.passed


def test_archive_at_the_cap_is_scanned_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archives, "_MAX_MEMBERS", 10)
    path = tmp_path / "bundle.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for index in range(9):
            archive.writestr(f"pad/{index:03d}", b"")
        archive.writestr("model.pkl", pickle.dumps(Exploit(), protocol=4))
    report = scan_path(path)
    assert "archive.too-many-members" not in {f.rule for f in report.findings}
    assert report.max_severity is Severity.CRITICAL


def test_directory_past_the_file_cap_is_a_high_finding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scanner, "_MAX_FILES", 3)
    for index in range(3):
        (tmp_path / f"{index}.txt").write_text("notes")
    assert "file.too-many" not in {f.rule for f in scan_path(tmp_path).findings}
    (tmp_path / "z.txt").write_text("one more")
    assert ("file.too-many", Severity.HIGH) in _rules(scan_path(tmp_path))


@pytest.mark.parametrize("suffix", [".pkl", ".pickle", ".joblib", ".pt", ".npy"])
def test_unreadable_content_under_a_pickle_name_is_high(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"model{suffix}"
    path.write_bytes(b"\x00\x01 not a format the scanner reads")
    report = scan_path(path)
    assert ("file.unverifiable", Severity.HIGH) in _rules(report)
    assert not report.passed


def test_unreadable_compressed_content_under_a_pickle_name_is_high(tmp_path: Path) -> None:
    path = tmp_path / "model.joblib"
    path.write_bytes(gzip.compress(b"\x00\x01 not a format the scanner reads"))
    report = scan_path(path)
    assert report.files[0].format == "unknown"
    assert ("file.unverifiable", Severity.HIGH) in _rules(report)


def test_unreadable_archive_members_under_a_pickle_name_are_high(tmp_path: Path) -> None:
    junk = b"\x00\x01 not a format the scanner reads"
    zipped, tarred = tmp_path / "bundle.zip", tmp_path / "bundle.tar"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("weights/tensor", junk)  # no pickle name: tensor data, not a finding
        archive.writestr("models/evil.pkl", junk)
    _tar(tarred, {"weights/tensor": junk, "models/evil.pkl": junk})
    for path in (zipped, tarred):
        findings = scan_path(path).findings
        assert [(f.rule, f.severity, f.member) for f in findings] == [
            ("file.unverifiable", Severity.HIGH, "models/evil.pkl")
        ]


def test_raw_weights_named_bin_are_not_a_finding(tmp_path: Path) -> None:
    # ONNX external data, GGML and fastText keep raw numbers in .bin files.
    path = tmp_path / "weights.bin"
    path.write_bytes(np.arange(4096, dtype=np.float32).tobytes())
    report = scan_path(path)
    assert report.passed
    assert ("file.unverifiable", Severity.HIGH) not in _rules(report)


def test_raw_weights_with_a_brace_ninth_byte_are_not_taken_for_safetensors(
    tmp_path: Path,
) -> None:
    # A tensor member of a PyTorch zip is raw bytes; a "{" at offset 8 made it a broken
    # safetensors header (a high finding that blocked real checkpoints).
    chunk = bytearray(random.Random(7).randbytes(4096))
    chunk[:8] = (10**12).to_bytes(8, "little")  # a header length far past the file
    chunk[8] = ord("{")
    path = tmp_path / "model.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data/0", bytes(chunk))
    report = scan_path(path)
    assert not {rule for rule, _ in _rules(report) if "safetensors" in rule}


def _zipped(name: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, content)
    return buffer.getvalue()


def test_what_goes_unscanned_is_never_a_pass(tmp_path: Path) -> None:
    # Past the stream cap and past the nesting depth the scanner stops looking: a pickle that
    # runs code could sit in what it did not read, so the security gate must not pass.
    harmless = pickle.dumps([1, 2, 3])
    streams = tmp_path / "many.pkl"
    streams.write_bytes(harmless * 80)
    assert ("pickle.too-many-streams", Severity.HIGH) in _rules(scan_path(streams))
    nested = harmless
    for depth in range(7):
        nested = _zipped("inner.zip" if depth else "model.pkl", nested)
    deep = tmp_path / "deep.zip"
    deep.write_bytes(nested)
    report = scan_path(deep)
    assert ("archive.too-deep", Severity.HIGH) in _rules(report)
    assert not report.passed


def _joblib_with_elsize(tmp_path: Path, *, descr: bytes) -> Path:
    """A joblib dump of 64 'S8' items whose dtype state says elsize 1, with a payload hidden where
    joblib (itemsize 1) resumes unpickling but an 'S8'-reading scanner would skip past."""
    import joblib

    source = tmp_path / "probe.joblib"
    joblib.dump(np.array([b"ABCDEFGH"] * 64, dtype="S8"), source)
    data = bytearray(source.read_bytes())
    state = data.index(b"\x8c\x02S8")
    data[state + 2 : state + 4] = descr
    elsize = data.index(b"NNNK\x08", state) + 4
    data[elsize] = 1
    start = data.index(b"ABCDEFGH" * 64)
    joblib_resumes, scanner_resumed = start + 64, start + 512
    cmd = b"id"
    payload = b"\x8c\x05posix\x8c\x06system\x93\x8c" + bytes([len(cmd)]) + cmd + b"\x85R0"
    pad = scanner_resumed - joblib_resumes - len(payload) - 6
    payload += b"B" + pad.to_bytes(4, "little") + b"\0" * pad + b"0"
    data[joblib_resumes:scanner_resumed] = payload
    path = tmp_path / "desync.joblib"
    path.write_bytes(bytes(data))
    return path


def test_joblib_array_size_follows_the_dtype_state_elsize(tmp_path: Path) -> None:
    report = scan_path(_joblib_with_elsize(tmp_path, descr=b"S1"))
    assert _runs_system(report)


def test_joblib_dtype_state_disagreeing_with_its_descr_is_malformed(tmp_path: Path) -> None:
    report = scan_path(_joblib_with_elsize(tmp_path, descr=b"S8"))
    assert ("pickle.malformed", Severity.HIGH) in _rules(report)


def test_benign_joblib_flexible_dtypes_pass(tmp_path: Path) -> None:
    import joblib

    path = tmp_path / "strings.joblib"
    record = np.dtype([("a", "<i4"), ("b", "S3")])
    joblib.dump(
        {
            "s": np.array([b"ab", b"cdef"]),
            "u": np.array(["x", "yz"]),
            "v": np.zeros(3, dtype=record),
            "sub": np.zeros(2, dtype=("S4", (2,))),
            "f": np.arange(3.0),
        },
        path,
    )
    assert scan_path(path).max_severity in (None, Severity.INFO)


def text(value: str) -> bytes:
    """SHORT_BINUNICODE ``value``."""
    data = value.encode()
    return b"\x8c" + bytes([len(data)]) + data


def _legacy_joblib_wrapper(filename: str) -> bytes:
    """A joblib <= 0.9 array placeholder: joblib.load np.load()s ``filename``, pickles allowed."""
    return (
        b"\x80\x04"
        + text("joblib.numpy_pickle_compat")
        + text("NDArrayWrapper")
        + b"\x93)\x81}("
        + text("filename")
        + text(filename)
        + text("subclass")
        + text("numpy")
        + text("ndarray")
        + b"\x93"
        + text("allow_mmap")
        + b"\x89ub."
    )


@pytest.mark.parametrize(
    "filename",
    ["/srv/blobs/other-upload", "../../elsewhere/blob", "C:\\blobs\\other", "..\\up\\blob"],
)
def test_legacy_joblib_wrapper_reading_outside_the_model_is_critical(
    tmp_path: Path, filename: str
) -> None:
    path = tmp_path / "model.joblib"
    path.write_bytes(_legacy_joblib_wrapper(filename))
    report = scan_path(path)
    assert ("pickle.external-file", Severity.CRITICAL) in _rules(report)


def test_legacy_joblib_wrapper_with_a_sibling_file_is_high(tmp_path: Path) -> None:
    path = tmp_path / "model.joblib"
    path.write_bytes(_legacy_joblib_wrapper("model.joblib_01.npy"))
    report = scan_path(path)
    assert report.max_severity is Severity.HIGH
    assert ("pickle.external-file", Severity.HIGH) in _rules(report)


def test_global_re_exported_under_an_ml_name_is_judged_by_what_it_is(tmp_path: Path) -> None:
    path = tmp_path / "client.pkl"
    address = text("127.0.0.1") + b"M\x8e\xb2\x86\x85"  # ("127.0.0.1", 45710),
    path.write_bytes(
        b"\x80\x04"
        + text("sklearn.callback._transport")
        + text("Client")
        + b"\x93"
        + address
        + b"R."
    )
    report = scan_path(path)
    assert report.max_severity is Severity.CRITICAL


def test_numpy_testing_runstring_is_critical(tmp_path: Path) -> None:
    path = tmp_path / "runstring.pkl"
    code = text("print('ran')") + b"}\x86"  # ("print('ran')", {})
    path.write_bytes(
        b"\x80\x04" + text("numpy.testing") + text("runstring") + b"\x93" + code + b"R."
    )
    assert scan_path(path).max_severity is Severity.CRITICAL
