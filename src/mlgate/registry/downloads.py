"""Registered artifacts read back from the blob store: whole and checked against their sha256,
or one byte range of them (a resumed download)."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from sqlalchemy.orm import Session

from mlgate.errors import MlgateError, NotFound
from mlgate.registry.blobstore import CHUNK, BlobStore
from mlgate.registry.schemas import ArtifactRead
from mlgate.registry.service import get_version_row

__all__ = ["OpenedArtifact", "open_artifact"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OpenedArtifact:
    """A registered artifact whose blob is open and of the registered size. Read it once,
    with ``whole`` or ``span``, or ``close`` it."""

    artifact: ArtifactRead
    stream: BinaryIO
    where: str

    def whole(self) -> Iterator[bytes]:
        """Every byte, checked against the sha256 as they are read.

        The bytes come in chunks and the last one is held back until all of them hash to the
        registered digest, so a damaged blob is never handed out whole: the iterator raises
        instead (before the first chunk when the blob fits in one).
        """
        return _checked_chunks(self.stream, sha256=self.artifact.sha256, where=self.where)

    def span(self, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``start`` to ``end`` (inclusive).

        A part cannot be checked against the digest of the whole, and hashing the whole file
        for every resumed piece would cost what the range saves. So a part is checked only as
        far as it can be: the blob exists and has the registered size (``open_artifact``), and
        does not end before ``end``. The client checks the file it assembles against the sha256
        (``X-Content-SHA256``, the ETag). A range that covers every byte is checked whole.
        """
        if start == 0 and end == self.artifact.size - 1:
            return self.whole()
        return _span_chunks(self, start, end)

    def close(self) -> None:
        self.stream.close()


def open_artifact(
    session: Session, *, blobs: BlobStore, model_name: str, version: int, name: str
) -> OpenedArtifact:
    """The artifact ``name`` of ``model_name@version`` with its blob open; a blob that is
    missing or not of the registered size is a 500 (lost data, not a wrong address)."""
    row = get_version_row(session, model_name=model_name, version=version)
    artifact = next((a for a in row.artifacts if a.name == name), None)
    if artifact is None:
        raise NotFound(f"{model_name}@{version} has no artifact named {name!r}")
    read = ArtifactRead.model_validate(artifact)
    where = f"artifact {name!r} of {model_name}@{version}"
    try:
        stream = blobs.open(read.sha256)
    except NotFound:  # the registry names it, so this is lost data, not a wrong address
        raise _damaged(where, read.sha256, "is missing from the blob store") from None
    if os.fstat(stream.fileno()).st_size != read.size:  # the file opened, not a path again
        stream.close()
        raise _damaged(where, read.sha256, f"is damaged in the blob store (not {read.size} bytes)")
    return OpenedArtifact(artifact=read, stream=stream, where=where)


def _checked_chunks(stream: BinaryIO, *, sha256: str, where: str) -> Iterator[bytes]:
    hasher = hashlib.sha256()
    with stream:
        held = stream.read(CHUNK)
        while held:
            hasher.update(held)
            following = stream.read(CHUNK)
            if not following and hasher.hexdigest() != sha256:
                raise _damaged(where, sha256, "is damaged in the blob store (its bytes changed)")
            yield held
            held = following


def _span_chunks(opened: OpenedArtifact, start: int, end: int) -> Iterator[bytes]:
    with opened.stream as stream:
        stream.seek(start)
        left = end - start + 1
        while left > 0:
            chunk = stream.read(min(CHUNK, left))
            if not chunk:  # truncated since it was opened
                what = f"is damaged in the blob store (not {opened.artifact.size} bytes)"
                raise _damaged(opened.where, opened.artifact.sha256, what)
            left -= len(chunk)
            yield chunk


def _damaged(where: str, sha256: str, what: str) -> MlgateError:
    logger.error("artifact blob lost or damaged", extra={"artifact": where, "sha256": sha256})
    return MlgateError(
        f"{where} {what} (blob {sha256}); registering the original file again, to any model,"
        " repairs it, or restore a backup"
    )
