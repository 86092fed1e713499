"""A forward-only byte reader that knows its offset, can push bytes back and skip cheaply."""

from __future__ import annotations

from typing import IO, Any, Protocol, cast

__all__ = ["ByteSource", "Stream"]

_CHUNK = 1 << 20


class ByteSource(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


def _origin(source: Any) -> int | None:
    """The source's own position when it can tell one (files, BytesIO), else None."""
    tell = getattr(source, "tell", None)
    if tell is None or getattr(source, "readline", None) is None:
        return None
    try:
        return int(tell())
    except (OSError, ValueError):
        return None


class Stream:
    """Wraps any readable; ``tell`` is the offset from where the wrapping started.

    pickletools.genops reads with ``read``/``readline`` and asks ``tell`` for offsets, so the
    scanner can interleave its own reads (joblib's inline array data) between opcodes. When the
    source can tell its own position, ``direct`` hands it to genops so reads run at C speed.
    """

    def __init__(self, source: ByteSource, *, limit: int | None = None) -> None:
        self._source = source
        self._pushback = b""
        self._left = limit
        self._origin = _origin(source) if limit is None else None
        self._pos = 0  # used only when the source cannot tell

    def _raw(self, size: int) -> bytes:
        if self._left is not None:
            size = min(size, self._left)
            if size <= 0:
                return b""
        data = self._source.read(size)
        if self._left is not None:
            self._left -= len(data)
        self._pos += len(data)
        return data

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            parts = [self._pushback]
            self._pushback = b""
            for _ in range(1 << 40):  # bounded by the source running dry
                chunk = self._raw(_CHUNK)
                if not chunk:
                    break
                parts.append(chunk)
            return b"".join(parts)
        if not self._pushback:
            return self._raw(size)
        data = self._pushback[:size]
        self._pushback = self._pushback[size:]
        if len(data) < size:
            data += self._raw(size - len(data))
        return data

    def readline(self, size: int = -1) -> bytes:
        """Reads through the next newline; capped at 1 MiB so junk cannot exhaust memory."""
        cap = _CHUNK if size is None or size < 0 else size
        native = getattr(self._source, "readline", None)
        if not self._pushback and self._left is None and native is not None:
            line: bytes = native(cap)
            self._pos += len(line)
            return line
        out = bytearray()
        while len(out) < cap:
            byte = self.read(1)
            if not byte:
                break
            out += byte
            if byte == b"\n":
                break
        return bytes(out)

    def tell(self) -> int:
        if self._origin is not None:
            return int(cast(Any, self._source).tell()) - self._origin - len(self._pushback)
        return self._pos - len(self._pushback)

    def direct(self) -> tuple[IO[bytes] | None, int]:
        """The source itself and its origin when genops may read it without this wrapper."""
        if self._pushback or self._origin is None:
            return None, 0
        return cast(IO[bytes], self._source), self._origin

    def peek(self, size: int) -> bytes:
        data = self.read(size)
        self.unread(data)
        return data

    def unread(self, data: bytes) -> None:
        self._pushback = data + self._pushback

    def skip(self, size: int) -> bool:
        """Discards ``size`` bytes without holding them; False when the data ends first."""
        left = size
        while left > 0:
            got = len(self.read(min(left, _CHUNK)))
            if got == 0:
                return False
            left -= got
        return True

    def close(self) -> None:
        self._source.close()

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
