"""A byte source the scanner can reopen: a file, a zip member or a decompressed stream."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from mlgate.scanning.stream import ByteSource, Stream

__all__ = ["MAX_IN_MEMORY", "MAX_SPILL", "Blob", "file_blob", "memory_blob", "random_access"]

# Content a library reads whole into memory (skops' members) is refused past this size.
MAX_IN_MEMORY = 512 << 20
# Nested content that needs random access (a zip in a zip, a tar member) is copied to a
# temporary file, never into memory, up to this size; past it it is a finding, not scanned.
MAX_SPILL = 512 << 20
_KEPT_IN_MEMORY = 1 << 20  # smaller nested content is simply held
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Blob:
    """``opener`` returns a fresh reader at offset 0; ``size`` is -1 when unknown (compressed)."""

    name: str
    size: int
    opener: Callable[[], ByteSource]
    path: Path | None = None
    data: bytes | None = None

    def stream(self) -> Stream:
        return Stream(self.opener())

    def head(self, size: int = 1024) -> bytes:
        with self.stream() as stream:
            return stream.read(size)

    def seekable(self) -> io.BufferedIOBase | None:
        """A seekable handle on a file or in-memory blob (the caller closes it); None for
        nested content, which ``random_access`` makes seekable first."""
        if self.path is not None:
            return open(self.path, "rb")
        if self.data is not None:
            return io.BytesIO(self.data)
        return None


def file_blob(path: Path) -> Blob:
    return Blob(
        name=path.name, size=path.stat().st_size, opener=lambda: open(path, "rb"), path=path
    )


def memory_blob(name: str, data: bytes) -> Blob:
    return Blob(name=name, size=len(data), opener=lambda: io.BytesIO(data), data=data)


@contextlib.contextmanager
def random_access(blob: Blob, cap: int = MAX_SPILL) -> Iterator[Blob | None]:
    """``blob`` as one that can be reopened and seeked: itself when it is a file or in memory,
    else its content copied to a temporary file that is removed on exit (held in memory when
    small); None when it holds more than ``cap`` bytes.

    Memory stays at a chunk whatever the content's size, so archives nested four deep cost
    four temporary files, not four copies in memory.
    """
    if blob.path is not None or blob.data is not None:
        yield blob
        return
    with blob.stream() as stream, spilled(blob.name, stream, cap) as copy:
        yield copy


@contextlib.contextmanager
def spilled(name: str, source: ByteSource, cap: int = MAX_SPILL) -> Iterator[Blob | None]:
    """What is left in ``source`` as a reopenable Blob (see ``random_access``)."""
    head = _read(source, _KEPT_IN_MEMORY + 1)
    if len(head) <= _KEPT_IN_MEMORY:
        yield memory_blob(name, head)
        return
    with tempfile.NamedTemporaryFile(prefix="mlgate-scan-") as spill:
        if _copy(source, spill, head, cap) is None:
            yield None
            return
        spill.flush()
        yield dataclasses.replace(file_blob(Path(spill.name)), name=name)


def _read(source: ByteSource, size: int) -> bytes:
    """Up to ``size`` bytes, however few each read returns."""
    parts: list[bytes] = []
    left = size
    for _ in range(1 << 40):  # ends at the end of the content or once ``size`` is read
        chunk = source.read(min(left, _CHUNK))
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
        if left <= 0:
            break
    return b"".join(parts)


def _copy(source: ByteSource, target: IO[bytes], head: bytes, cap: int) -> int | None:
    """Writes ``head`` and the rest of ``source`` to ``target``: the bytes written, or None
    once past ``cap``."""
    target.write(head)
    size = len(head)
    for _ in range(1 << 40):  # ends at the end of the content or past cap
        if size > cap:  # a member may inflate past its declared size
            return None
        chunk = source.read(_CHUNK)
        if not chunk:
            break
        size += len(chunk)
        target.write(chunk)
    return size if size <= cap else None
