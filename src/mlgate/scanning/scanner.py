"""Scans model artifacts: recognises each file's format by its content and runs its checks."""

from __future__ import annotations

import logging
import os
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from mlgate.errors import Invalid, NotFound
from mlgate.scanning import archives, graphs, tensors
from mlgate.scanning.blob import MAX_IN_MEMORY, MAX_SPILL, Blob, file_blob, random_access
from mlgate.scanning.context import MAX_DEPTH, Location, OutOfTime, Sink
from mlgate.scanning.pickles import scan_pickle_stream
from mlgate.scanning.policy import classify_global
from mlgate.scanning.schemas import ScannedFile, ScanReport, Severity
from mlgate.scanning.sniff import detect_format, zip_kind

__all__ = ["SCAN_BUDGET_S", "detect_format", "scan_path"]

logger = logging.getLogger(__name__)

_MAX_FILES = 100_000
# Wall-clock seconds one scan_path call may spend reading; what is left unread past it is a
# HIGH finding. Crafted files are slow per byte (ONNX of repeated varints ~4 MiB/s, no-op pickle
# opcodes ~1 MiB/s), so without a budget one upload could hold a server thread for minutes.
SCAN_BUDGET_S = 120.0

# What each extension promises; content that disagrees is reported (as info).
_EXPECTED: dict[str, set[str]] = {
    ".pkl": {"pickle"},
    ".pickle": {"pickle"},
    ".pt": {"pickle", "pytorch-zip", "tar"},
    ".pth": {"pickle", "pytorch-zip", "tar"},
    ".ckpt": {"pickle", "pytorch-zip", "tar"},
    ".joblib": {"pickle", "gzip", "bz2", "xz", "lzma", "lz4", "zlib"},
    ".npy": {"npy"},
    ".npz": {"npz", "zip"},
    ".h5": {"hdf5"},
    ".hdf5": {"hdf5"},
    ".keras": {"keras-zip"},
    ".onnx": {"onnx"},
    ".safetensors": {"safetensors"},
    ".skops": {"skops"},
    ".gguf": {"gguf"},
}

# Names whose usual loaders unpickle them (np.load falls back to pickle.load for content that is
# neither .npy nor .npz): content under such a name that the scanner cannot read is not a pass.
# Not ".bin": ONNX external weights, GGML and fastText use it for raw data (a pickle under any
# name is still found by its opcodes).
_PICKLE_FAMILY = frozenset(
    {".pkl", ".pickle", ".dill", ".joblib", ".pt", ".pth", ".ckpt", ".npy", ".npz"}
)
_COMPRESSED = ("gzip", "bz2", "xz", "lzma", "lz4", "zlib")


def _report_too_large(loc: Location) -> None:
    loc.report(
        Severity.HIGH,  # unscanned content is no pass
        "archive.too-large",
        f"nested archive larger than {MAX_SPILL >> 20} MiB; not scanned",
    )


def _scan_zip(blob: Blob, loc: Location) -> str:
    # A zip inside a container is copied out once (to a temporary file): zipfile seeks, and
    # every member reopens the archive.
    with random_access(blob) as seekable:
        if seekable is None:
            _report_too_large(loc)
            return "zip"
        return _scan_seekable_zip(seekable, loc)


def _scan_seekable_zip(blob: Blob, loc: Location) -> str:
    names = archives.scan_zip(blob, loc, scan_blob)
    # Checked whatever else the archive holds: a data.pkl beside them must not turn a Keras or
    # skops file into a "PyTorch" one whose config nobody reads, for their loaders still do.
    if "config.json" in names:
        _check_keras_zip(blob, loc)
    if "schema.json" in names:
        _scan_skops(blob, loc)
    return zip_kind(names)


# Keras configs and skops schemas are KiBs; a member that inflates past this is not one, and
# reading it whole (zipfile trusts the declared size) would exhaust memory.
_MAX_CONFIG = 64 << 20
_UNZIP_ERRORS = (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, zlib.error)


def _check_keras_zip(blob: Blob, loc: Location) -> None:
    """Keras 3 reads the root config.json and deserialises it before anything else."""
    handle = blob.seekable()
    assert handle is not None  # _scan_zip made it seekable
    try:
        with handle, zipfile.ZipFile(handle) as archive:
            info = archive.getinfo("config.json")  # the copy Keras reads, as duplicates go
            if info.file_size > _MAX_CONFIG:
                loc.report(
                    Severity.HIGH,
                    "keras.unscannable",
                    f"config.json inflates to {info.file_size} bytes; not read",
                )
                return
            with archive.open(info) as member:
                raw = member.read(_MAX_CONFIG + 1)
    except _UNZIP_ERRORS as exc:
        loc.report(Severity.HIGH, "keras.unscannable", f"config.json cannot be read ({exc})")
        return
    graphs.check_keras_config(raw, loc)


def _scan_skops(blob: Blob, loc: Location) -> None:
    """skops lists what it would import; anything it does not trust by default is a finding."""
    try:
        from skops.io import get_untrusted_types
    except ImportError:
        loc.report(Severity.HIGH, "skops.unscannable", "skops is not installed")
        return
    handle = blob.seekable()
    assert handle is not None  # _scan_zip made it seekable
    try:  # skops reads members whole: their declared sizes bound what it may inflate
        with handle, zipfile.ZipFile(handle) as archive:
            inflated = sum(info.file_size for info in archive.infolist())
    except _UNZIP_ERRORS as exc:
        loc.report(Severity.HIGH, "skops.malformed", f"skops archive cannot be read ({exc})")
        return
    if inflated > MAX_IN_MEMORY:
        loc.report(
            Severity.HIGH,
            "skops.unscannable",
            f"skops members inflate to {inflated} bytes; too large to inspect",
        )
        return
    try:
        if blob.path is not None:
            untrusted = get_untrusted_types(file=blob.path)
        else:
            untrusted = get_untrusted_types(data=blob.data)
    except Exception as exc:  # skops raises anything on hostile input
        loc.report(
            Severity.HIGH, "skops.malformed", f"skops schema cannot be read ({str(exc)[:200]})"
        )
        return
    for type_name in untrusted:
        module, _, name = type_name.rpartition(".")
        verdict = classify_global(module, name)
        if verdict is not None:
            loc.report(
                verdict.severity,
                "skops.untrusted-type",
                f"skops would need to trust '{type_name}': {verdict.reason}",
                subject=type_name,
            )
        else:
            loc.report(
                Severity.INFO,
                "skops.untrusted-type",
                f"'{type_name}' is not trusted by skops but is on mlgate's allowlist",
                subject=type_name,
            )


def scan_blob(blob: Blob, loc: Location) -> None:
    """Scans one file or archive member; members of archives come back through here."""
    loc.sink.check_time()  # once per member: an archive of many small members is bounded too
    if _scan_blob(blob, loc) == "unknown" and loc.member is not None:
        _report_unrecognised(blob.name, loc)


def _scan_blob(blob: Blob, loc: Location) -> str:
    kind = detect_format(blob)
    if loc.depth > MAX_DEPTH and kind != "unknown":
        loc.report(Severity.HIGH, "archive.too-deep", "containers nested too deeply to scan")
        return kind
    if kind == "pickle":
        with blob.stream() as stream:
            scan_pickle_stream(stream, loc)
    elif kind == "zip":
        kind = _scan_zip(blob, loc)
    elif kind == "tar":
        archives.scan_tar(blob, loc, scan_blob)
    elif kind in _COMPRESSED:
        inner = _scan_blob(archives.compressed_blob(blob, kind), loc.deeper())
        if inner == "unknown":  # compression must not turn unreadable content into a pass
            kind = "unknown"
    elif kind == "npy":
        tensors.scan_npy(blob, loc)
    elif kind == "safetensors":
        tensors.scan_safetensors(blob, loc)
    elif kind == "gguf":
        tensors.scan_gguf(blob, loc)
    elif kind == "hdf5":
        if loc.member is None or not blob.name.endswith(".weights.h5"):
            with random_access(blob) as seekable:  # h5py seeks
                if seekable is None:
                    loc.report(Severity.MEDIUM, "hdf5.unscannable", "HDF5 member too large to scan")
                else:
                    graphs.scan_hdf5(seekable, loc)
    elif kind == "savedmodel":
        graphs.scan_saved_model(blob, loc)
    elif kind == "onnx?":
        kind = "onnx" if graphs.scan_onnx(blob, loc) else "unknown"
    return kind


def _report_unrecognised(name: str, loc: Location) -> None:
    """Unknown content is noted; under a name its loader would unpickle, it is a high finding."""
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in _PICKLE_FAMILY:
        loc.report(
            Severity.HIGH,
            "file.unverifiable",
            f"'{suffix}' files are unpickled by their loaders, but this content is not a format "
            "the scanner can read: it cannot be verified",
            subject=suffix,
        )
    elif loc.member is None:
        loc.report(Severity.INFO, "file.unrecognised", "format not recognised; not scanned")


def _scan_file(
    path: Path, root: Path, sink: Sink, files: list[ScannedFile], budget_s: float
) -> int:
    display = str(path.relative_to(root)) if path != root else path.name
    loc = Location(display, sink)
    blob = file_blob(path)
    try:
        sink.check_time()  # files left when the budget ran out are not opened at all
        kind = _scan_blob(blob, loc)
    except OutOfTime:
        loc.report(
            Severity.HIGH,  # unscanned content is no pass
            "scan.time-budget",
            f"the scan's time budget of {budget_s:g} s ran out before this file was fully "
            "read; the rest of it was not scanned",
        )
        kind = "unscanned"
    except OSError as exc:
        loc.report(Severity.HIGH, "file.unreadable", f"file cannot be read ({exc.strerror})")
        kind = "unreadable"
    except Exception as exc:  # a parser bug must fail closed: the file counts as unscanned
        logger.exception("scanner failed on %s", display)
        loc.report(
            Severity.HIGH,
            "scanner.error",
            f"the scanner failed on this file ({type(exc).__name__}); treat it as unscanned",
        )
        kind = "error"
    expected = _EXPECTED.get(path.suffix.lower())
    if expected is not None and kind not in expected and kind != "unscanned":
        loc.report(
            Severity.INFO,
            "file.extension-mismatch",
            f"extension '{path.suffix}' does not match the content ({kind})",
            subject=kind,
        )
    if kind == "unknown":
        _report_unrecognised(path.name, loc)
    files.append(ScannedFile(path=display, format=kind, size=blob.size))
    return blob.size


def _judge_symlink(path: Path, root: Path, sink: Sink) -> None:
    """A symlink leading out of the scanned tree is a finding: loaders follow it. One that
    stays inside is not scanned twice: what it points at is scanned where it lies."""
    target = path.resolve()
    if not target.is_relative_to(root.resolve()):
        Location(str(path.relative_to(root)), sink).report(
            Severity.HIGH,
            "file.symlink-escape",
            "symlink points outside the scanned directory",
            subject=str(target),
        )


def _walk(root: Path, sink: Sink) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in dirnames:  # not descended into: a directory symlink is only judged
            if (Path(dirpath) / name).is_symlink():
                _judge_symlink(Path(dirpath) / name, root, sink)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_symlink():
                _judge_symlink(path, root, sink)
                continue
            if not path.is_file():  # a FIFO would block the scan forever; a device never ends
                Location(str(path.relative_to(root)), sink).report(
                    Severity.MEDIUM,
                    "file.not-regular",
                    "not a regular file (a pipe, socket or device); not scanned",
                )
                continue
            if len(found) >= _MAX_FILES:  # this file and any after it go unscanned: not a pass
                Location(str(root), sink).report(
                    Severity.HIGH, "file.too-many", f"stopped after {_MAX_FILES} files"
                )
                return found
            found.append(path)
    return found


def scan_path(
    path: str | os.PathLike[str],
    *,
    progress: Callable[[int], None] | None = None,
    budget_s: float = SCAN_BUDGET_S,
) -> ScanReport:
    """Scans a file or a directory tree of model artifacts; never loads or runs any of them.

    ``progress`` is called with each file's size once it is scanned. Reading stops once the
    scan has taken ``budget_s`` seconds: the file being read and any after it each get a HIGH
    ``scan.time-budget`` finding, so an artifact too slow to scan never passes as clean.
    """
    root = Path(path)
    if not root.exists():
        raise NotFound(f"nothing to scan at '{root}'; pass an existing file or directory")
    if not root.is_dir() and not root.is_file():
        raise Invalid.field("path", f"'{root}' is not a regular file or a directory")
    started = time.perf_counter()
    sink = Sink(deadline=time.monotonic() + budget_s)
    files: list[ScannedFile] = []
    paths = _walk(root, sink) if root.is_dir() else [root]
    total = 0
    for file in paths:
        size = _scan_file(file, root, sink, files, budget_s)
        total += size
        if progress is not None:
            progress(size)
    findings = sorted(sink.findings, key=lambda f: (-f.severity.rank, f.file, f.offset or 0))
    return ScanReport(
        target=str(root),
        findings=findings,
        files=files,
        files_scanned=len(files),
        bytes_scanned=total,
        duration_s=time.perf_counter() - started,
        max_severity=findings[0].severity if findings else None,
    )
