"""A byte source the scanner can reopen: a file, a zip member or a decompressed stream."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlgate.scanning.stream import ByteSource, Stream

__all__ = ["Blob", "file_blob", "memory_blob"]

# Members and decompressed streams up to this size are held in memory when a format needs
# random access (a zip inside a zip); larger ones are streamed or skipped with a finding.
MAX_IN_MEMORY = 512 << 20
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

    def read_all(self, cap: int = MAX_IN_MEMORY) -> bytes | None:
        """The whole content, or None when it exceeds ``cap``.

        Read chunk by chunk: one ``read(cap + 1)`` reserves ``cap`` bytes whatever the size.
        """
        if self.size > cap:
            return None
        parts: list[bytes] = []
        total = 0
        with self.stream() as stream:
            for _ in range(cap // _CHUNK + 2):  # ends at the end of the content or past cap
                chunk = stream.read(_CHUNK)
                if not chunk:
                    break
                parts.append(chunk)
                total += len(chunk)
                if total > cap:  # a member may inflate past its declared size
                    return None
        return b"".join(parts)

    def seekable(self, cap: int = MAX_IN_MEMORY) -> io.BufferedIOBase | None:
        """A seekable handle (the file itself, or the content in memory); None past ``cap``."""
        if self.path is not None:
            return open(self.path, "rb")  # the caller closes it
        if self.data is not None:
            return io.BytesIO(self.data)
        data = self.read_all(cap)
        return None if data is None else io.BytesIO(data)


def file_blob(path: Path) -> Blob:
    return Blob(
        name=path.name, size=path.stat().st_size, opener=lambda: open(path, "rb"), path=path
    )


def memory_blob(name: str, data: bytes) -> Blob:
    return Blob(name=name, size=len(data), opener=lambda: io.BytesIO(data), data=data)
