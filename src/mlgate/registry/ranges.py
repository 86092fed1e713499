"""Which bytes of an artifact a download asks for: one HTTP byte range (RFC 9110 §14), so an
interrupted download of a large model resumes instead of starting over.

One range is answered with 206 Partial Content. Several ranges (``bytes=0-9,20-29``) are
answered with the whole artifact (200), as RFC 9110 allows a server to ignore ``Range``: no
client of a model store asks for them, and multipart/byteranges would be one more format to
get right. A range that is malformed, in another unit, or sent with an ``If-Range`` that is not
the artifact's ETag is ignored the same way; one that starts past the end is a 416.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlgate.errors import MlgateError

__all__ = ["ByteRange", "RangeNotSatisfiable", "etag", "requested_range"]

_SPEC = re.compile(r"([0-9]*)-([0-9]*)")


@dataclass(frozen=True, slots=True)
class ByteRange:
    start: int
    end: int  # inclusive, as in Content-Range

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


class RangeNotSatisfiable(MlgateError):
    """416: the range starts past the artifact's end; ``Content-Range: bytes */size`` tells the
    client the size it can ask within."""

    status = 416
    slug = "range-not-satisfiable"
    title = "Range not satisfiable"

    def __init__(self, detail: str, *, size: int) -> None:
        super().__init__(detail)
        self.size = size


def etag(sha256: str) -> str:
    """An artifact's strong ETag: its bytes never change, so their digest names them."""
    return f'"{sha256}"'


def requested_range(
    header: str | None, *, size: int, sha256: str, if_range: str | None = None
) -> ByteRange | None:
    """The one range of a ``size``-byte artifact that ``header`` asks for, or None to send it
    whole; raises RangeNotSatisfiable when that range holds none of its bytes."""
    if header is None or size == 0:  # an empty artifact has no byte to select
        return None
    if if_range is not None and if_range.strip() != etag(sha256):
        return None  # changed since the client's first part, says If-Range (or a date)
    unit, sep, ranges = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    specs = [spec.strip() for spec in ranges.split(",") if spec.strip()]
    if len(specs) != 1 or not (match := _SPEC.fullmatch(specs[0])):
        return None
    try:
        first, last = (int(text) if text else None for text in match.groups())
    except ValueError:  # more digits than Python converts: no artifact is that large
        return None
    if first is None:
        if last is None:
            return None
        if last == 0:
            raise RangeNotSatisfiable("the range asks for the last 0 bytes", size=size)
        return ByteRange(max(0, size - last), size - 1)
    if last is not None and last < first:
        return None
    if first >= size:
        raise RangeNotSatisfiable(
            f"the range starts at byte {first}, past the artifact's {size} bytes", size=size
        )
    return ByteRange(first, size - 1 if last is None else min(last, size - 1))
