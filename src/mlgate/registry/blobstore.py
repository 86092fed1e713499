"""Content-addressed artifact storage: bytes are kept once, under their sha256.

``LocalBlobStore`` streams each upload to a temporary file in the same directory tree while
hashing it, enforces the size limit and the expected digest, fsyncs, then renames atomically,
so a failed upload never leaves a partial blob behind. The bytes come from a stream (``put``)
or are pushed as they arrive (``begin``): an HTTP upload writes each part straight into its
temporary file, so its bytes touch the disk once. Bytes already stored are hashed again
before an upload is deduplicated against them, so uploading the original bytes repairs a blob
damaged on disk. Another store (S3, GCS) implements the same ``BlobStore`` protocol.

A registration that fails gives back the blobs it created (``release``), but a concurrent
upload of the same bytes may already use one. So each blob's modification time is a claim
marker: the creator sets a token of its own; an upload that finds the blob present bumps it
(``put`` returns ``created=False``). ``release`` moves the blob aside atomically, then deletes
it only if the token is still the creator's: a claim made before the move puts it back, and a
claim that comes after finds no blob and stores its own copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from mlgate.errors import Invalid, NotFound, PayloadTooLarge

__all__ = ["BlobStore", "LocalBlobStore", "PendingBlob", "StoredBlob"]

CHUNK = 1024 * 1024
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class StoredBlob:
    sha256: str
    size: int
    created: bool  # False when identical bytes were already stored
    token: int = 0  # what ``release`` needs to give back a blob this upload created


class PendingBlob(Protocol):
    """An upload being written: ``write`` its bytes as they come, then ``finish`` to store them
    (checked against ``expected_sha256``) or ``discard`` them. Leaving its ``with`` block
    unfinished discards them."""

    def write(self, chunk: bytes) -> None: ...

    def finish(self, *, expected_sha256: str | None = None) -> StoredBlob: ...

    def discard(self) -> None: ...

    def __enter__(self) -> PendingBlob: ...

    def __exit__(self, *exc_info: object) -> None: ...


class BlobStore(Protocol):
    def begin(
        self,
        *,
        max_bytes: int,
        field: str = "file",
        progress: Callable[[int], None] | None = None,
    ) -> PendingBlob: ...

    def put(
        self,
        stream: BinaryIO,
        *,
        max_bytes: int,
        expected_sha256: str | None = None,
        field: str = "file",
        progress: Callable[[int], None] | None = None,
    ) -> StoredBlob: ...

    def open(self, sha256: str) -> BinaryIO: ...

    def path(self, sha256: str) -> Path:
        """A local file holding the blob (a remote store would fetch it to a cache)."""
        ...

    def exists(self, sha256: str) -> bool: ...

    def delete(self, sha256: str) -> None: ...

    def release(self, blob: StoredBlob) -> None: ...

    def size(self, sha256: str) -> int: ...

    def iter_digests(self) -> Iterator[str]: ...


def _claim(path: Path) -> bool:
    """Mark the stored blob at ``path`` as used by one more upload; False when there is none."""
    try:
        found = path.stat()
        os.utime(path, ns=(found.st_atime_ns, found.st_mtime_ns + 1))  # never the creator's
    except FileNotFoundError:
        return False
    return True


def _hashes_to(path: Path, digest: str) -> bool:
    """Whether the stored file still holds the bytes of ``digest`` (bit rot, a careless edit)."""
    hasher = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                hasher.update(chunk)
    except FileNotFoundError:
        return True  # released meanwhile: nothing damaged, and _claim will find no blob
    return hasher.hexdigest() == digest


def check_digest(value: str, *, field: str) -> str:
    digest = value.strip().lower()
    if not _SHA256_RE.fullmatch(digest):
        raise Invalid.field(field, "must be 64 hexadecimal characters (a sha256 digest)")
    return digest


class _LocalPendingBlob:
    """Bytes on their way into a ``LocalBlobStore``: hashed, counted and written to a temporary
    file as they come; more than ``max_bytes`` is refused at the chunk that passes it."""

    def __init__(
        self,
        store: LocalBlobStore,
        out: BinaryIO,
        path: Path,
        max_bytes: int,
        *,
        field: str,
        progress: Callable[[int], None] | None,
    ) -> None:
        self._store = store
        self._out = out
        self._path = path
        self._max_bytes = max_bytes
        self._field = field
        self._progress = progress
        self._hasher = hashlib.sha256()
        self._size = 0
        self._done = False  # once finished, the temporary name may be another upload's

    def write(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self._max_bytes:
            raise PayloadTooLarge(
                f"{self._field} is larger than the limit of {self._max_bytes} bytes"
                " (MLGATE_MAX_UPLOAD_BYTES)"
            )
        self._hasher.update(chunk)
        self._out.write(chunk)
        if self._progress is not None:
            self._progress(len(chunk))

    def finish(self, *, expected_sha256: str | None = None) -> StoredBlob:
        field = f"{self._field}.sha256"
        try:
            expected = check_digest(expected_sha256, field=field) if expected_sha256 else None
            self._out.flush()
            os.fsync(self._out.fileno())
            self._out.close()
            digest = self._hasher.hexdigest()
            if expected is not None and digest != expected:
                raise Invalid.field(
                    field, f"expected sha256 {expected} but the upload hashes to {digest}"
                )
            blob = self._store._keep(self._path, digest=digest, size=self._size)
        except BaseException:
            self.discard()
            raise
        self._done = True
        return blob

    def discard(self) -> None:
        if self._done:
            return
        self._done = True
        self._out.close()
        self._path.unlink(missing_ok=True)

    def __enter__(self) -> PendingBlob:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.discard()


class LocalBlobStore:
    """Blobs under ``root/ab/cd/<sha256>``; temporary files under ``root/.tmp``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        digest = check_digest(sha256, field="sha256")
        return self.root / digest[:2] / digest[2:4] / digest

    def put(
        self,
        stream: BinaryIO,
        *,
        max_bytes: int,
        expected_sha256: str | None = None,
        field: str = "file",
        progress: Callable[[int], None] | None = None,
    ) -> StoredBlob:
        expected = (
            check_digest(expected_sha256, field=f"{field}.sha256") if expected_sha256 else None
        )
        with self.begin(max_bytes=max_bytes, field=field, progress=progress) as pending:
            while chunk := stream.read(CHUNK):
                pending.write(chunk)
            return pending.finish(expected_sha256=expected)

    def begin(
        self,
        *,
        max_bytes: int,
        field: str = "file",
        progress: Callable[[int], None] | None = None,
    ) -> PendingBlob:
        tmp_dir = self.root / ".tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir)
        return _LocalPendingBlob(
            self, os.fdopen(fd, "wb"), Path(tmp_name), max_bytes, field=field, progress=progress
        )

    def _keep(self, tmp_path: Path, *, digest: str, size: int) -> StoredBlob:
        """Store the temporary file ``tmp_path``, which hashes to ``digest``, as that blob."""
        final = self.path(digest)
        damaged = final.exists() and not _hashes_to(final, digest)
        if not damaged and _claim(final):
            tmp_path.unlink()
            return StoredBlob(sha256=digest, size=size, created=False)
        final.parent.mkdir(parents=True, exist_ok=True)
        token = time.time_ns()
        os.utime(tmp_path, ns=(token, token))
        os.chmod(tmp_path, 0o444)
        os.replace(tmp_path, final)
        # A damaged blob is replaced by these verified bytes, and is not this upload's to give
        # back: versions registered before still name it.
        return StoredBlob(sha256=digest, size=size, created=not damaged, token=token)

    def open(self, sha256: str) -> BinaryIO:
        path = self.path(sha256)
        if not path.exists():
            raise NotFound(f"blob {sha256} is missing from the blob store")
        return path.open("rb")

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def size(self, sha256: str) -> int:
        return self.path(sha256).stat().st_size

    def delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)

    def release(self, blob: StoredBlob) -> None:
        """Delete a blob this upload created, unless another upload has claimed it since."""
        if not blob.created:
            return
        path = self.path(blob.sha256)
        doomed = path.with_name(f"{path.name}.released-{os.getpid()}-{time.time_ns()}")
        try:
            os.replace(path, doomed)
        except FileNotFoundError:
            return
        if doomed.stat().st_mtime_ns != blob.token:  # claimed before it moved: put it back
            with contextlib.suppress(FileExistsError):  # or a claimer stored its own copy
                os.link(doomed, path)
        doomed.unlink()

    def iter_digests(self) -> Iterator[str]:
        if not self.root.exists():
            return
        for path in self.root.glob("??/??/*"):
            if _SHA256_RE.fullmatch(path.name):
                yield path.name
