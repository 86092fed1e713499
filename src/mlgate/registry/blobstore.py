"""Content-addressed artifact storage: bytes are kept once, under their sha256.

``LocalBlobStore`` streams each upload to a temporary file in the same directory tree while
hashing it, enforces the size limit and the expected digest, fsyncs, then renames atomically,
so a failed upload never leaves a partial blob behind. Another store (S3, GCS) implements the
same ``BlobStore`` protocol.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
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

    def size(self, sha256: str) -> int: ...

    def iter_digests(self) -> Iterator[str]: ...


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
            if final.exists():
                tmp_path.unlink()
                return StoredBlob(sha256=digest, size=size, created=False)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_path, final)
            os.chmod(final, 0o444)
            return StoredBlob(sha256=digest, size=size, created=True)
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

    def iter_digests(self) -> Iterator[str]:
        if not self.root.exists():
            return
        for path in self.root.glob("??/??/*"):
            if _SHA256_RE.fullmatch(path.name):
                yield path.name
