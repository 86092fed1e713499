"""Files inside a backup: stored compressed and optionally sealed, each checked by sha256.

``store_file`` streams a source into the backup directory (gzip when it pays, AES-256-GCM when a
key is given), hashing both the original and the stored bytes, and fsyncs it. ``DecodedReader``
streams it back and, at the end, raises ``Invalid`` naming the file if either hash is wrong, so
a corrupted byte is always reported with the file it is in. The manifest carries its own
checksum for the same reason.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Literal

from pydantic import ValidationError

from mlgate.backup.cipher import DecryptingReader, EncryptingWriter
from mlgate.backup.schemas import Manifest, ManifestFile
from mlgate.errors import Invalid

__all__ = [
    "MANIFEST",
    "DecodedReader",
    "fsync_dir",
    "fsync_files",
    "read_manifest",
    "store_file",
    "stored_checksum",
    "write_manifest",
]

MANIFEST = "manifest.json"
READ_CHUNK = 1024 * 1024
SAMPLE = 128 * 1024
# Compress only when the first MiB shrinks by at least this much: model weights and dumps that
# are already compressed would only cost CPU time.
MIN_GAIN = 0.9
GZIP_LEVEL = 1

Progress = Callable[[int], None]
# A long job's progress: (phase, bytes just done, bytes in all).
Advance = Callable[[str, int, int], None]


class _HashingSink(io.RawIOBase):
    def __init__(self, target: BinaryIO, *, hashing: bool = True) -> None:
        super().__init__()
        self.target = target
        self.hasher = hashlib.sha256()
        self.hashing = hashing
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        if self.hashing:
            self.hasher.update(data)
        self.size += len(data)
        self.target.write(data)
        return len(data)


def _worth_compressing(sample: bytes) -> bool:
    if not sample:
        return False
    return len(zlib.compress(sample, GZIP_LEVEL)) < MIN_GAIN * len(sample)


def store_file(
    source: BinaryIO,
    dest: Path,
    *,
    kind: Literal["database", "blob"],
    root: Path,
    key: bytes | None,
    progress: Progress | None = None,
    sync: bool = True,
) -> ManifestFile:
    """Write ``source`` to ``dest`` (which must not exist) and describe it for the manifest.

    ``sync=False`` leaves the fsync to the caller (``fsync_files`` once every file is written,
    which costs far fewer journal commits than one fsync per file as it is written).
    """
    first = source.read(READ_CHUNK)
    codec: Literal["gzip", "none"] = "gzip" if _worth_compressing(first[:SAMPLE]) else "none"
    content_hasher = hashlib.sha256()
    content_size = 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest.open("xb") as handle:
        # Stored bytes equal the content when neither compressed nor sealed: hash them once.
        verbatim = codec == "none" and key is None
        sink = _HashingSink(handle, hashing=not verbatim)
        sealed = EncryptingWriter(sink, key) if key is not None else None
        top: BinaryIO = sealed if sealed is not None else sink  # type: ignore[assignment]
        writer: BinaryIO = (
            gzip.GzipFile(fileobj=top, mode="wb", compresslevel=GZIP_LEVEL, mtime=0)  # type: ignore[assignment]
            if codec == "gzip"
            else top
        )
        chunk = first
        while chunk:
            content_hasher.update(chunk)
            content_size += len(chunk)
            writer.write(chunk)
            if progress is not None:
                progress(len(chunk))
            chunk = source.read(READ_CHUNK)
        if writer is not top:
            writer.close()
        if sealed is not None:
            sealed.close()
        handle.flush()
        if sync:
            os.fsync(handle.fileno())
    return ManifestFile(
        path=dest.relative_to(root).as_posix(),
        kind=kind,
        size=sink.size,
        sha256=content_hasher.hexdigest() if verbatim else sink.hasher.hexdigest(),
        content_size=content_size,
        content_sha256=content_hasher.hexdigest(),
        codec=codec,
        encrypted=key is not None,
    )


class _HashingSource(io.RawIOBase):
    def __init__(self, source: BinaryIO) -> None:
        super().__init__()
        self.source = source
        self.hasher = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.source.read(len(buffer))
        count = len(data)
        buffer[:count] = data
        self.hasher.update(data)
        self.size += count
        return count

    def drain(self) -> None:
        while self.read(READ_CHUNK):
            pass


class DecodedReader(io.RawIOBase):
    """The original bytes of a stored file; the final read checks both checksums."""

    def __init__(self, root: Path, entry: ManifestFile, *, key: bytes | None) -> None:
        super().__init__()
        if entry.encrypted and key is None:
            raise Invalid(f"{entry.path} is encrypted; give the backup key (--key-file)")
        self.entry = entry
        path = _inside(root, entry.path)
        try:
            self._file = path.open("rb")
        except FileNotFoundError as error:
            raise Invalid(f"{entry.path} is missing from the backup") from error
        self._stored = _HashingSource(self._file)
        stream: BinaryIO = self._stored  # type: ignore[assignment]
        try:
            if entry.encrypted and key is not None:
                stream = DecryptingReader(stream, key, name=entry.path)  # type: ignore[assignment]
            if entry.codec == "gzip":
                stream = gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[assignment]
        except BaseException:
            self._file.close()
            raise
        self._stream = stream
        self._content = hashlib.sha256()
        self._size = 0
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            data = self._stream.read(len(buffer))
        except (OSError, EOFError, zlib.error) as error:
            raise Invalid(f"{self.entry.path} is corrupted: {error}") from error
        if not data:
            self._finish()
            return 0
        count = len(data)
        buffer[:count] = data
        self._content.update(data)
        self._size += count
        return count

    def _finish(self) -> None:
        if self._checked:
            return
        self._stored.drain()
        if self._stored.hasher.hexdigest() != self.entry.sha256:
            raise Invalid(f"{self.entry.path} is corrupted: its sha256 does not match the manifest")
        if self._content.hexdigest() != self.entry.content_sha256:
            raise Invalid(f"{self.entry.path} is corrupted: its content does not match")
        self._checked = True

    def read_all_into(self, out: BinaryIO | None, progress: Progress | None = None) -> int:
        """Copy every byte to ``out`` (or nowhere) and check the file; returns the byte count."""
        total = 0
        while chunk := self.read(READ_CHUNK):
            if out is not None:
                out.write(chunk)
            total += len(chunk)
            if progress is not None:
                progress(len(chunk))
        self._finish()
        return total

    def close(self) -> None:
        if not self.closed:
            self._file.close()
        super().close()


def _inside(root: Path, relative: str) -> Path:
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise Invalid(f"manifest names a file outside the backup: {relative!r}")
    return path


def stored_checksum(root: Path, entry: ManifestFile) -> str | None:
    """The problem with ``entry``'s stored bytes, or None when size and sha256 match."""
    path = _inside(root, entry.path)
    if not path.is_file():
        return f"{entry.path} is missing from the backup"
    hasher = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(READ_CHUNK):
            hasher.update(chunk)
            size += len(chunk)
    if size != entry.size:
        return f"{entry.path} is corrupted: {size} bytes, the manifest says {entry.size}"
    if hasher.hexdigest() != entry.sha256:
        return f"{entry.path} is corrupted: its sha256 does not match the manifest"
    return None


def _manifest_checksum(manifest: Manifest) -> str:
    body = manifest.model_dump(mode="json", exclude={"checksum"})
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def write_manifest(directory: Path, manifest: Manifest) -> Manifest:
    sealed = manifest.model_copy(update={"checksum": _manifest_checksum(manifest)})
    path = directory / MANIFEST
    with path.open("x") as handle:
        handle.write(sealed.model_dump_json(indent=2))
        handle.flush()
        os.fsync(handle.fileno())
    return sealed


def read_manifest(directory: Path) -> Manifest:
    path = directory / MANIFEST
    if not path.is_file():
        raise Invalid(f"{directory} is not a backup: {MANIFEST} is missing")
    try:
        manifest = Manifest.model_validate_json(path.read_bytes())
    except ValidationError as error:
        raise Invalid(
            f"{MANIFEST} is corrupted: it does not parse ({error.error_count()} errors)"
        ) from error
    except ValueError as error:
        raise Invalid(f"{MANIFEST} is corrupted: it does not parse") from error
    if manifest.checksum != _manifest_checksum(manifest):
        raise Invalid(f"{MANIFEST} is corrupted: its checksum does not match its content")
    return manifest


def fsync_files(paths: list[Path]) -> None:
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
