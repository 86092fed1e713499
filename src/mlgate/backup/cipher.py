"""Streaming AES-256-GCM: a file is sealed in 1 MiB chunks, each with its own nonce and tag.

Layout: ``MAGIC (8) | nonce prefix (8) | { length (4, big endian) | ciphertext+tag }*``.
Chunk ``i`` uses nonce ``prefix || i`` (4 bytes) and authenticates ``MAGIC | prefix | i | last``
as associated data, so reordered, dropped or truncated chunks fail to open, and memory stays flat
whatever the file size. Keys are 32 random bytes; ``key_id`` names a key without revealing it.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mlgate.errors import Invalid

__all__ = ["CHUNK", "DecryptingReader", "EncryptingWriter", "generate_key", "key_id", "load_key"]

MAGIC = b"MLGAEAD1"
CHUNK = 1024 * 1024
TAG = 16
_MAX_COUNTER = 2**32 - 1


class Sink(Protocol):
    def write(self, data: bytes, /) -> Any: ...


def generate_key() -> bytes:
    return os.urandom(32)


def key_id(key: bytes) -> str:
    """A public fingerprint of a key: enough to tell keys apart, useless to attack them."""
    return hashlib.sha256(b"mlgate-backup-key|" + key).hexdigest()[:16]


def load_key(path: Path) -> bytes:
    """Read a key file holding 64 hex characters (what ``mlgate backup keygen`` writes)."""
    try:
        text = path.read_text().strip()
    except OSError as error:
        raise Invalid.field("key_file", f"cannot read {path}: {error.strerror}") from error
    try:
        key = bytes.fromhex(text)
    except ValueError as error:
        raise Invalid.field("key_file", f"{path} must hold 64 hexadecimal characters") from error
    if len(key) != 32:
        raise Invalid.field("key_file", f"{path} must hold a 32-byte key (64 hex characters)")
    return key


def _aad(prefix: bytes, counter: int, last: bool) -> bytes:
    return MAGIC + prefix + struct.pack(">I?", counter, last)


def _nonce(prefix: bytes, counter: int) -> bytes:
    if counter > _MAX_COUNTER:
        raise ValueError("file too large for one nonce prefix")
    return prefix + struct.pack(">I", counter)


class EncryptingWriter(io.RawIOBase):
    """A write-only stream that seals what it is given onto ``sink``; ``close()`` seals the end."""

    def __init__(self, sink: Sink, key: bytes) -> None:
        super().__init__()
        self._sink = sink
        self._aead = AESGCM(key)
        self._prefix = os.urandom(8)
        self._buffer = bytearray()
        self._counter = 0
        sink.write(MAGIC + self._prefix)

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._buffer += data
        while len(self._buffer) > CHUNK:
            self._seal(bytes(self._buffer[:CHUNK]), last=False)
            del self._buffer[:CHUNK]
        return len(data)

    def _seal(self, plain: bytes, *, last: bool) -> None:
        sealed = self._aead.encrypt(
            _nonce(self._prefix, self._counter), plain, _aad(self._prefix, self._counter, last)
        )
        self._sink.write(struct.pack(">I", len(sealed)) + sealed)
        self._counter += 1

    def close(self) -> None:
        if not self.closed:
            self._seal(bytes(self._buffer), last=True)
            self._buffer.clear()
        super().close()


class DecryptingReader(io.RawIOBase):
    """A read-only stream over a sealed ``source``; raises Invalid on any tampering."""

    def __init__(self, source: BinaryIO, key: bytes, *, name: str) -> None:
        super().__init__()
        self._source = source
        self._aead = AESGCM(key)
        self._name = name
        header = source.read(len(MAGIC) + 8)
        if len(header) != len(MAGIC) + 8 or not header.startswith(MAGIC):
            raise Invalid(f"{name} is not an encrypted backup file (bad header)")
        self._prefix = header[len(MAGIC) :]
        self._counter = 0
        self._plain = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._plain and not self._done:
            self._open_next()
        count = min(len(buffer), len(self._plain))
        buffer[:count] = self._plain[:count]
        self._plain = self._plain[count:]
        return count

    def _open_next(self) -> None:
        length_bytes = self._source.read(4)
        if len(length_bytes) != 4:
            raise Invalid(f"{self._name} is truncated: its last encrypted chunk is missing")
        (length,) = struct.unpack(">I", length_bytes)
        if length < TAG or length > CHUNK + TAG:
            raise Invalid(f"{self._name} is corrupted: chunk {self._counter} has a bad length")
        sealed = self._source.read(length)
        nonce = _nonce(self._prefix, self._counter)
        for last in (False, True):
            try:
                self._plain = self._aead.decrypt(
                    nonce, sealed, _aad(self._prefix, self._counter, last)
                )
            except InvalidTag:
                continue
            self._counter += 1
            if last:
                self._done = True
                if self._source.read(1):
                    raise Invalid(f"{self._name} has data after its last encrypted chunk")
            return
        raise Invalid(
            f"{self._name} cannot be decrypted: wrong key, or chunk {self._counter} is corrupted"
        )
