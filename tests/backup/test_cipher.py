"""Streaming AES-256-GCM: round-trips in flat memory; truncation, reordering and tampering fail."""

from __future__ import annotations

import io
import os

import pytest

from mlgate.backup.cipher import CHUNK, DecryptingReader, EncryptingWriter, generate_key
from mlgate.errors import Invalid


def seal(data: bytes, key: bytes) -> bytes:
    out = io.BytesIO()
    writer = EncryptingWriter(out, key)
    for start in range(0, len(data), 77_777):
        writer.write(data[start : start + 77_777])
    writer.close()
    return out.getvalue()


def unseal(blob: bytes, key: bytes) -> bytes:
    return DecryptingReader(io.BytesIO(blob), key, name="f").read()


@pytest.mark.parametrize("size", [0, 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5])
def test_round_trip(size: int) -> None:
    key = generate_key()
    data = os.urandom(size)
    assert unseal(seal(data, key), key) == data


def test_wrong_key_truncation_and_tampering_fail() -> None:
    key = generate_key()
    sealed = seal(os.urandom(2 * CHUNK + 10), key)
    with pytest.raises(Invalid, match="wrong key"):
        unseal(sealed, generate_key())
    first_chunk_end = 16 + 4 + CHUNK + 16
    with pytest.raises(Invalid, match="truncated"):
        unseal(sealed[:first_chunk_end], key)  # cut at a chunk boundary: the end marker is missing
    tampered = bytearray(sealed)
    tampered[100] ^= 1
    with pytest.raises(Invalid):
        unseal(bytes(tampered), key)
    with pytest.raises(Invalid, match="data after"):
        unseal(sealed + b"x", key)
