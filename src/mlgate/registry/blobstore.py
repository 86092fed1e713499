"""Content-addressed artifact storage: bytes are kept once, under their sha256.

``LocalBlobStore`` streams each upload to a temporary file in the same directory tree while
hashing it, enforces the size limit and the expected digest, fsyncs, then links it into place
atomically, so a failed upload never leaves a partial blob behind. The bytes come from a stream
(``put``) or are pushed as they arrive (``begin``): an HTTP upload writes each part straight
into its temporary file, so its bytes touch the disk once. Bytes already stored are hashed again
before an upload is deduplicated against them, so uploading the original bytes repairs a blob
damaged on disk. Another store (S3, GCS) implements the same ``BlobStore`` protocol.

A registration that fails gives back the blobs it created (``release``), but a concurrent
upload of the same bytes may already use one. So each blob's modification time is a claim
marker: the creator sets a token of its own; an upload that finds the blob present bumps it
(``put`` returns ``created=False``). ``release`` moves the blob aside atomically, then deletes
it only if the token is still the creator's: a claim made before the move puts it back, and a
claim that comes after finds no blob and stores its own copy. What must stay true:

- one upload creates a blob: it is linked into place (``os.link`` fails when it exists), so two
  uploads of the same bytes never both believe they created it;
- a claim is never lost: when ``release`` cannot put a claimed blob back because another
  upload stored its own copy meanwhile, it claims that copy;
- an upload does not claim a blob it created itself (bytes sent twice in one upload): its
  blobs are given back together, and its own claim would keep the blob forever.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
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
    unfinished discards them. ``earlier`` are the blobs the same upload stored before: bytes
    equal to one it created are not claimed again (see the module's docstring)."""

    def write(self, chunk: bytes) -> None: ...

    def finish(
        self, *, expected_sha256: str | None = None, earlier: Iterable[StoredBlob] = ()
    ) -> StoredBlob: ...

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
        earlier: Iterable[StoredBlob] = (),
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


def _put_back(doomed: Path, path: Path) -> None:
    """Put a released blob that was claimed back at ``path``; if another upload stored its own
    copy there meanwhile, the claim carries over to that copy (its creator may fail too)."""
    while True:  # again only when that copy was released before it could be claimed
        try:
            os.link(doomed, path)
        except FileExistsError:
            if _claim(path):
                return
        else:
            return


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

    def finish(
        self, *, expected_sha256: str | None = None, earlier: Iterable[StoredBlob] = ()
    ) -> StoredBlob:
        field = f"{self._field}.sha256"
        try:
            expected = (
                None if expected_sha256 is None else check_digest(expected_sha256, field=field)
            )
            self._out.flush()
            os.fsync(self._out.fileno())
            self._out.close()
            digest = self._hasher.hexdigest()
            if expected is not None and digest != expected:
                raise Invalid.field(
                    field, f"expected sha256 {expected} but the upload hashes to {digest}"
                )
            blob = self._store._keep(self._path, digest=digest, size=self._size, earlier=earlier)
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
        earlier: Iterable[StoredBlob] = (),
    ) -> StoredBlob:
        expected = (
            None
            if expected_sha256 is None
            else check_digest(expected_sha256, field=f"{field}.sha256")
        )
        with self.begin(max_bytes=max_bytes, field=field, progress=progress) as pending:
            while chunk := stream.read(CHUNK):
                pending.write(chunk)
            return pending.finish(expected_sha256=expected, earlier=earlier)

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

    def _keep(
        self, tmp_path: Path, *, digest: str, size: int, earlier: Iterable[StoredBlob]
    ) -> StoredBlob:
        """Store the temporary file ``tmp_path``, which hashes to ``digest``, as that blob."""
        final = self.path(digest)
        if any(blob.created and blob.sha256 == digest for blob in earlier):
            tmp_path.unlink()  # this upload's own blob: given back with it, so not claimed
            return StoredBlob(sha256=digest, size=size, created=False)
        token = time.time_ns()
        os.utime(tmp_path, ns=(token, token))
        os.chmod(tmp_path, 0o444)
        final.parent.mkdir(parents=True, exist_ok=True)
        while True:  # again only when the blob found was released before it could be claimed
            if final.exists() and not _hashes_to(final, digest):
                # A damaged blob is replaced by these verified bytes, and is not this upload's
                # to give back: versions registered before still name it.
                os.replace(tmp_path, final)
                return StoredBlob(sha256=digest, size=size, created=False)
            try:
                os.link(tmp_path, final)  # never over another upload's copy, as a rename is
            except FileExistsError:
                if _claim(final):
                    tmp_path.unlink()
                    return StoredBlob(sha256=digest, size=size, created=False)
                continue
            tmp_path.unlink()
            return StoredBlob(sha256=digest, size=size, created=True, token=token)

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
            _put_back(doomed, path)
        doomed.unlink()

    def iter_digests(self) -> Iterator[str]:
        if not self.root.exists():
            return
        for path in self.root.glob("??/??/*"):
            if _SHA256_RE.fullmatch(path.name):
                yield path.name
