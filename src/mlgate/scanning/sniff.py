"""Recognises artifact formats by content (magic bytes and opcode structure), not by name."""

from __future__ import annotations

import itertools
import pickletools
import re
import warnings

from mlgate.scanning.blob import Blob
from mlgate.scanning.pickle_probe import Replay, probe, replay

__all__ = ["detect_format", "looks_like_pickle", "may_be_pickle", "zip_kind"]

_HEAD = 1024

_P0_GLOBAL = re.compile(rb"^\(?[ci][A-Za-z_][\w.]*\n[A-Za-z_][\w.]*\n")
_P0_START = frozenset(b"(c}])NIFLSVXKJMGTUBCi")


def _opcodes_parse(head: bytes) -> bool:
    """True when ``head`` reads as at least two valid opcodes (running out of bytes is fine)."""
    count = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            for opcode, _, _ in itertools.islice(pickletools.genops(head), 64):
                count += 1
                if opcode.name == "STOP":
                    break
        except ValueError as exc:
            return count >= 2 and ("exhausted" in str(exc) or "only" in str(exc))
    return count >= 2


def might_be_protocol0(head: bytes) -> bool:
    """A cheap first test on ``head`` alone; only then is the content's last byte worth reading."""
    return bool(head) and head[0] in _P0_START and _opcodes_parse(head)


def looks_like_pickle(head: bytes, last: bytes | None = None) -> bool:
    """True when ``head`` starts like a pickle of any protocol (0-5).

    Protocols 2-5 announce themselves with PROTO; for 0 and 1 the stream must open with a
    global or, when ``last`` (the final byte of the content) is known, parse and end in STOP.
    """
    if len(head) >= 2 and head[0] == 0x80:
        return head[1] <= 5
    if not head or head[0] not in _P0_START:
        return False
    if _P0_GLOBAL.match(head):
        return True
    return last == b"." and _opcodes_parse(head)


def may_be_pickle(head: bytes, size: int = -1) -> bool:
    """False only when ``head`` (of content ``size`` long) breaks as a pickle before any import."""
    return might_be_protocol0(head) or probe(head, size) is not Replay.NOT_PICKLE


def _runs_to_an_import(blob: Blob, head: bytes) -> bool:
    """A pickle without a PROTO header: its opcodes, replayed, reach an import."""
    verdict = probe(head, blob.size)
    if verdict is Replay.UNDECIDED and len(head) == _HEAD and blob.size != _HEAD:
        with blob.stream() as stream:  # the head parsed cleanly: follow the whole content
            verdict = replay(stream, blob.size)
    return verdict is Replay.PICKLE


# joblib's own prefixes; "]\x00" opens the legacy .lzma (LZMA_Alone) header joblib writes.
_COMPRESSED = {b"\x1f\x8b": "gzip", b"BZ": "bz2", b"\xfd7": "xz", b"]\x00": "lzma"}
_LZ4_FRAME = b"\x04\x22\x4d\x18"  # joblib's compress="lz4": an LZ4 frame


_LAST_BYTE_WITHIN = 64 << 20  # members longer than this are not read to their end
_CHUNK = 1 << 20


def _last_byte(blob: Blob) -> bytes | None:
    if blob.path is None:
        if blob.data is not None:
            return blob.data[-1:]
        if not 0 < blob.size <= _LAST_BYTE_WITHIN:
            return None
        last, total = b"", 0
        with blob.stream() as stream:  # read through, holding one chunk at a time
            for _ in range(1 << 40):  # ends at the end of the content or past the bound
                chunk = stream.read(_CHUNK)
                if not chunk:
                    break
                last, total = chunk[-1:], total + len(chunk)
                if total > _LAST_BYTE_WITHIN:  # inflated past its declared size
                    return None
        return last or None
    with open(blob.path, "rb") as handle:
        handle.seek(max(blob.size - 1, 0))
        return handle.read(1)


def _is_safetensors(head: bytes, size: int, name: str) -> bool:
    if len(head) < 10:
        return False
    length = int.from_bytes(head[:8], "little")
    if name.endswith(".safetensors"):  # named so: a header past the end is a finding
        return head[8:9] == b"{" and length >= 2
    # Unnamed, the header must fit in the file: a chunk of raw weights (a tensor member of a
    # PyTorch zip) with "{" as its ninth byte was taken for a broken safetensors file.
    return head[8:9] == b"{" and 2 <= length <= size - 8


def detect_format(blob: Blob) -> str:
    """The format of ``blob`` judged from its bytes (SavedModel is the one judged by name)."""
    head = blob.head(_HEAD)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if head[:6] == b"\x93NUMPY":
        return "npy"
    if head[:8] == b"\x89HDF\r\n\x1a\n":
        return "hdf5"
    if head[:4] == b"GGUF":
        return "gguf"
    if head[:2] in _COMPRESSED and (head[:3] == b"BZh" or head[:2] != b"BZ"):
        return _COMPRESSED[head[:2]]
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if head[:4] == _LZ4_FRAME:
        return "lz4"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    if looks_like_pickle(head) or (
        might_be_protocol0(head) and looks_like_pickle(head, _last_byte(blob))
    ):
        return "pickle"
    if head[:1] == b"\x78" and head[1:2] in (b"\x01", b"\x5e", b"\x9c", b"\xda"):
        return "zlib"
    if _runs_to_an_import(blob, head):
        return "pickle"
    if _is_safetensors(head, blob.size, blob.name):
        return "safetensors"
    base = blob.name.replace("\\", "/").rsplit("/", 1)[-1]
    if base == "saved_model.pb":  # also export/saved_model.pb inside an archive
        return "savedmodel"
    # ir_version usually comes first, but protobuf fields may come in any order: a file named
    # .onnx is parsed as ONNX whatever its first byte.
    if head[:1] == b"\x08" or base.lower().endswith(".onnx"):
        return "onnx?"
    return "unknown"


def zip_kind(names: list[str]) -> str:
    base = {n.rsplit("/", 1)[-1] for n in names}
    if "data.pkl" in base:
        return "pytorch-zip"
    if "schema.json" in names:
        return "skops"
    # Keras 3 reads only the root config.json, and deserialises it before anything else.
    if "config.json" in names:
        return "keras-zip"
    if names and all(n.endswith(".npy") for n in names):
        return "npz"
    return "zip"
