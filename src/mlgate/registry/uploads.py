"""A version's multipart upload, read as it streams in: each artifact part is hashed and written
straight into the blob store, so its bytes touch the disk once (Starlette's form parser spooled
every part to a temporary file first, and the blob store then wrote it again).

Parts named ``artifact`` are the artifacts, in their order, each named by its filename (one
without is refused, not dropped); one ``metadata`` part (text or file) holds the version's
JSON; other parts are read past and dropped. A request holds at most ``CHUNK`` bytes of a part
in memory, beside the chunk of the body being parsed.
"""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from anyio import to_thread
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from mlgate.errors import Invalid, PayloadTooLarge
from mlgate.registry.blobstore import CHUNK, BlobStore, PendingBlob
from mlgate.registry.service import StoredArtifact

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

__all__ = ["MAX_FILES", "MAX_METADATA_BYTES", "ReceivedVersion", "receive_version"]

MAX_FILES = 1000
MAX_FIELDS = 10
# Metadata as a text or a file part gets the same bound; its nesting is bounded too
# (schemas.MAX_JSON_DEPTH), checked before a model is built from it.
MAX_METADATA_BYTES = 1024 * 1024
# Python's own text codecs ("Python Specific Encodings"), which no client means by a charset.
_NOT_CHARSETS = frozenset({"idna", "punycode", "raw-unicode-escape", "unicode-escape", "undefined"})


@dataclass
class ReceivedVersion:
    """What an upload sent: its metadata text and the blobs it wrote, which are the receiver's
    to register or to ``release``."""

    metadata: str | None = None
    artifacts: list[StoredArtifact] = field(default_factory=list)

    def release(self, blobs: BlobStore) -> None:
        for artifact in self.artifacts:
            blobs.release(artifact.blob)


@dataclass
class _Part:
    kind: str  # "artifact", "metadata" or "ignored"
    name: str = ""
    index: int = 0  # of an artifact among the artifacts
    buffer: bytearray = field(default_factory=bytearray)
    pending: PendingBlob | None = None


class _Receiver:
    """Feeds a multipart body to python-multipart's streaming parser; its callbacks only
    record, and ``drain`` does the blob store's (blocking) work in a worker thread."""

    def __init__(self, charset: str, blobs: BlobStore, max_bytes: int) -> None:
        self.charset = charset
        self.blobs = blobs
        self.max_bytes = max_bytes
        self.received = ReceivedVersion()
        self.part = _Part("ignored")
        self.opened: list[_Part] = []  # artifact parts whose headers ended, not yet begun
        self.closed: list[_Part] = []  # parts whose data ended, not yet finished or read
        self.header = (bytearray(), bytearray())
        self.disposition = b""
        self.files = self.fields = self.artifacts = self.metadata_parts = 0
        self.ended = False

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": lambda data, start, end: self.header[0].extend(data[start:end]),
            "on_header_value": lambda data, start, end: self.header[1].extend(data[start:end]),
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self.disposition = b""

    def on_header_end(self) -> None:
        name, value = self.header
        if bytes(name).lower() == b"content-disposition":
            self.disposition = bytes(value)
        self.header = (bytearray(), bytearray())

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.disposition)
        if b"name" not in options:
            raise Invalid.field("body", "a part's Content-Disposition has no name")
        name = self._decode(options[b"name"])
        if b"filename" in options:
            self.files += 1
            if self.files > MAX_FILES:
                raise Invalid.field("body", f"holds more than {MAX_FILES} files")
        else:
            self.fields += 1
            if self.fields > MAX_FIELDS:
                raise Invalid.field("body", f"holds more than {MAX_FIELDS} fields")
        if name == "metadata":
            self.metadata_parts += 1
            if self.metadata_parts > 1:
                raise Invalid.field("metadata", "is given twice; send one metadata part")
            self.part = _Part("metadata")
        elif name == "artifact":
            if b"filename" not in options:  # `curl -F artifact=<file` sends the file as text
                raise Invalid.field(
                    "artifact",
                    f"part {self.files + self.fields} of the body has no filename, and an"
                    " artifact's filename is its name: send the file as a file part"
                    " (curl -F artifact=@FILE, not artifact=<FILE)",
                )
            filename = self._decode(options[b"filename"])
            self.part = _Part("artifact", name=filename, index=self.artifacts)
            self.artifacts += 1
            self.opened.append(self.part)
        else:
            self.part = _Part("ignored")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.part.kind == "ignored":
            return
        self.part.buffer.extend(data[start:end])
        if self.part.kind == "metadata" and len(self.part.buffer) > MAX_METADATA_BYTES:
            raise PayloadTooLarge(f"the metadata part is larger than {MAX_METADATA_BYTES} bytes")

    def on_part_end(self) -> None:
        if self.part.kind != "ignored":
            self.closed.append(self.part)

    def on_end(self) -> None:
        self.ended = True

    def _decode(self, raw: bytes) -> str:
        # As Starlette decodes names: the request's charset, else Latin-1 (never an error; idna
        # and punycode raise a plain UnicodeError).
        try:
            return raw.decode(self.charset)
        except UnicodeError:
            return raw.decode("latin-1")

    async def drain(self) -> None:
        """Begin, write and finish blobs for what the parser has recorded so far: in one worker
        thread call, which records what it did there, so a request cancelled meanwhile still
        knows what to give back."""
        if self.opened or self.closed or self.filled():
            await to_thread.run_sync(self.work)

    def filled(self) -> bool:
        return self.part.kind == "artifact" and len(self.part.buffer) >= CHUNK

    def work(self) -> None:
        for part in self.opened:
            self.begin(part)
        self.opened.clear()
        for part in self.closed:
            if part.kind == "metadata":
                self.received.metadata = _metadata_text(part.buffer)
            elif part.kind == "artifact":
                self.finish(part)
        self.closed.clear()
        if self.filled():
            self.flush(self.part)

    def begin(self, part: _Part) -> None:
        field = f"artifacts[{part.index}]"
        part.pending = self.blobs.begin(max_bytes=self.max_bytes, field=field)

    def flush(self, part: _Part) -> None:
        assert part.pending is not None
        data, part.buffer = bytes(part.buffer), bytearray()
        part.pending.write(data)

    def finish(self, part: _Part) -> None:
        self.flush(part)
        assert part.pending is not None
        blob = part.pending.finish(earlier=[stored.blob for stored in self.received.artifacts])
        self.received.artifacts.append(StoredArtifact(name=part.name, blob=blob))
        part.pending = None

    def abandon(self) -> None:
        """Give back every blob begun or written; quick file operations, run in place so that
        a cancelled request (the client went away) still cleans up."""
        for part in (self.part, *self.opened, *self.closed):
            if part.pending is not None:
                part.pending.discard()
        self.received.release(self.blobs)


async def receive_version(
    content_type: str, body: AsyncIterator[bytes], *, blobs: BlobStore, max_bytes: int
) -> ReceivedVersion:
    """Read a multipart/form-data upload, writing each artifact into ``blobs`` as it arrives
    (each up to ``max_bytes``). On any failure the blobs it wrote are given back."""
    kind, params = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        raise Invalid.field("body", "must be multipart/form-data: one `artifact` part per file")
    if b"boundary" not in params:
        raise Invalid.field("body", "the multipart Content-Type names no boundary")
    receiver = _Receiver(_charset(params.get(b"charset")), blobs, max_bytes)
    try:
        parser = MultipartParser(params[b"boundary"], receiver.callbacks())
        async for chunk in body:
            parser.write(chunk)
            await receiver.drain()
        parser.finalize()
        if not receiver.ended:  # python-multipart does not say so itself
            raise Invalid.field("body", "ends before the multipart closing boundary")
    except FormParserError as error:
        receiver.abandon()
        raise Invalid.field("body", f"is not valid multipart data: {error}") from error
    except BaseException:
        receiver.abandon()
        raise
    return receiver.received


def _metadata_text(data: bytearray) -> str:
    # JSON between systems is UTF-8 (RFC 8259), whatever charset the form declares.
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Invalid.field("metadata", "is not UTF-8 text") from error


def _charset(value: bytes | None) -> str:
    """The encoding of the names in the form: its charset when that names a character set,
    else UTF-8, as when it names none. Python also has codecs from bytes to bytes (hex, base64,
    zlib), from text to text (rot13) and of its own (undefined, the escapes): none decodes a
    name, and each was a 500."""
    if not value:
        return "utf-8"
    try:
        name = codecs.lookup(value.decode("latin-1")).name
        "".encode(name)  # LookupError: not a text encoding; UnicodeError: "undefined"
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        return "utf-8"
    return "utf-8" if name in _NOT_CHARSETS else name
