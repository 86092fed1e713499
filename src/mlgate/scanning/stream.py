"""A forward-only byte reader that knows its offset, can push bytes back and skip cheaply."""

from __future__ import annotations

from typing import Protocol

__all__ = ["ByteSource", "Stream"]

_CHUNK = 1 << 20


class ByteSource(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class Stream:
    """Wraps any readable; ``tell`` is the offset from where the wrapping started.

    Bytes read from the source and not yet consumed (pushed back, or read ahead for the pickle
    decoder's ``window``) sit in one buffer that every read takes from first, so the decoder and
    the scanner's own reads (joblib's inline array data) see one position. Nothing is read
    ahead unless ``window`` asks: a member whose head alone is sniffed is read no further.
    """

    def __init__(self, source: ByteSource) -> None:
        self._source = source
        self._buf = b""  # bytes from the source; those from _at on are not consumed yet
        self._at = 0
        self._pos = 0  # bytes read from the source

    def _raw(self, size: int) -> bytes:
        data = self._source.read(size)
        self._pos += len(data)
        return data

    def _take_buffered(self) -> bytes:
        data = self._buf[self._at :] if self._at else self._buf
        self._buf, self._at = b"", 0
        return data

    def read(self, size: int = -1) -> bytes:
        left = len(self._buf) - self._at
        if size is None or size < 0:
            parts = [self._take_buffered()]
            for _ in range(1 << 40):  # bounded by the source running dry
                chunk = self._raw(_CHUNK)
                if not chunk:
                    break
                parts.append(chunk)
            return b"".join(parts)
        if left >= size:
            data = self._buf[self._at : self._at + size]
            self._at += size
            return data
        if not left:
            self._buf, self._at = b"", 0
            return self._raw(size)
        data = self._take_buffered()
        return data + self._raw(size - len(data))

    def readline(self, size: int = -1) -> bytes:
        """Reads through the next newline; capped at 1 MiB so junk cannot exhaust memory."""
        cap = _CHUNK if size is None or size < 0 else size
        if len(self._buf) > self._at:
            stop = min(len(self._buf), self._at + cap)
            newline = self._buf.find(b"\n", self._at, stop)
            if newline >= 0:
                return self.read(newline + 1 - self._at)
            head = self.read(stop - self._at)
            return head if len(head) == cap else head + self.readline(cap - len(head))
        native = getattr(self._source, "readline", None)
        if native is not None:
            line: bytes = native(cap)
            self._pos += len(line)
            return line
        out = bytearray()
        while len(out) < cap:
            byte = self._raw(1)
            if not byte:
                break
            out += byte
            if byte == b"\n":
                break
        return bytes(out)

    def tell(self) -> int:
        return self._pos - (len(self._buf) - self._at)

    def window(self, need: int) -> tuple[bytes, int]:
        """The buffer and where its unconsumed bytes start: at least ``need`` of them unless the
        content ends first. Reads ahead a MiB at a time; ``consume`` says how far the caller got.
        """
        left = len(self._buf) - self._at
        if left < need:
            parts = [self._take_buffered()]
            for _ in range(1 << 40):  # ends once enough is read or the source runs dry
                chunk = self._raw(max(need - left, _CHUNK))
                if not chunk:
                    break
                parts.append(chunk)
                left += len(chunk)
                if left >= need:
                    break
            self._buf = b"".join(parts)
        return self._buf, self._at

    def consume(self, at: int) -> None:
        """Marks the window's bytes before ``at`` as read (``at`` as ``window`` counts it)."""
        self._at = at

    def peek(self, size: int) -> bytes:
        if len(self._buf) - self._at >= size:
            return self._buf[self._at : self._at + size]
        data = self.read(size)
        self.unread(data)
        return data

    def unread(self, data: bytes) -> None:
        self._buf = data + self._buf[self._at :]
        self._at = 0

    def skip(self, size: int) -> bool:
        """Discards ``size`` bytes without holding them; False when the data ends first."""
        left = len(self._buf) - self._at
        if left >= size:
            self._at += size
            return True
        self._buf, self._at = b"", 0
        size -= left
        while size > 0:
            got = len(self._raw(min(size, _CHUNK)))
            if got == 0:
                return False
            size -= got
        return True

    def close(self) -> None:
        self._source.close()

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
