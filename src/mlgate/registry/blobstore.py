"""Content-addressed artifact storage: bytes are kept once, under their sha256.

``LocalBlobStore`` streams each upload to a temporary file in the same directory tree while
hashing it, enforces the size limit and the expected digest, fsyncs, then renames atomically,
so a failed upload never leaves a partial blob behind. Bytes already stored are hashed again
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

__all__ = ["BlobStore", "LocalBlobStore", "StoredBlob"]

CHUNK = 1024 * 1024
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class StoredBlob:
    sha256: str
    size: int
    created: bool  # False when identical bytes were already stored
    token: int = 0  # what ``release`` needs to give back a blob this upload created


class BlobStore(Protocol):
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
        tmp_dir = self.root / ".tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir)
        tmp_path = Path(tmp_name)
        try:
            digest, size = self._write(
                fd, stream, max_bytes=max_bytes, field=field, progress=progress
            )
            if expected is not None and digest != expected:
                raise Invalid.field(
                    f"{field}.sha256",
                    f"expected sha256 {expected} but the upload hashes to {digest}",
                )
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
            # A damaged blob is replaced by these verified bytes, and is not this upload's to
            # give back: versions registered before still name it.
            return StoredBlob(sha256=digest, size=size, created=not damaged, token=token)
        except BaseException:
            tmp_path.unlink(missing_ok=True)
            raise

    @staticmethod
    def _write(
        fd: int,
        stream: BinaryIO,
        *,
        max_bytes: int,
        field: str,
        progress: Callable[[int], None] | None,
    ) -> tuple[str, int]:
        hasher = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise PayloadTooLarge(
                        f"{field} is larger than the limit of {max_bytes} bytes"
                        " (MLGATE_MAX_UPLOAD_BYTES)"
                    )
                hasher.update(chunk)
                out.write(chunk)
                if progress is not None:
                    progress(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        return hasher.hexdigest(), size

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
