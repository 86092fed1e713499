"""Opens zip, tar and compressed containers member by member, tolerating corruption on purpose.

Zip members are read from their raw local data (not through ``zipfile.open``) so a broken CRC,
a lying name or an odd compression method cannot hide a pickle: every member is sniffed by its
first bytes. Large tensor members are never read past those bytes.
"""

from __future__ import annotations

import bz2
import functools
import gzip
import io
import lzma
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from typing import BinaryIO, cast

import lz4.frame

from mlgate.scanning.blob import MAX_IN_MEMORY, MAX_SPILL, Blob, spilled
from mlgate.scanning.context import Location
from mlgate.scanning.schemas import Severity
from mlgate.scanning.sniff import detect_format, looks_like_pickle, may_be_pickle
from mlgate.scanning.stream import ByteSource, Stream

__all__ = ["ScanFn", "compressed_blob", "escapes_directory", "scan_tar", "scan_zip", "zip_names"]

ScanFn = Callable[[Blob, Location], None]

_MAX_MEMBERS = 100_000
_CHUNK = 1 << 20
_COMMON_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}
_OTHER_METHODS = {zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}


class _Window(io.RawIOBase):
    """``length`` raw bytes of ``path`` from ``start``, optionally inflated."""

    def __init__(
        self, handle: io.BufferedIOBase, start: int, length: int, *, inflate: bool
    ) -> None:
        self._handle = handle
        self._handle.seek(start)
        self._left = length
        self._inflater = zlib.decompressobj(-15) if inflate else None
        self._pending = b""

    def readable(self) -> bool:
        return True

    def _next_raw(self, size: int) -> bytes:
        if self._left <= 0:
            return b""
        chunk = self._handle.read(min(size, self._left))
        self._left -= len(chunk)
        if not chunk:
            self._left = 0
        return chunk

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        want = len(buffer)
        if self._inflater is None:
            data = self._next_raw(want)
        else:
            data = self._pending
            for _ in range(1 << 30):  # ends when enough is inflated or the raw data runs out
                if len(data) >= want or self._inflater.eof:
                    break
                raw = self._inflater.unconsumed_tail or self._next_raw(_CHUNK)
                if not raw:
                    data += self._inflater.flush()
                    break
                try:  # max_length bounds memory against deflate bombs
                    data += self._inflater.decompress(raw, want - len(data) + _CHUNK)
                except zlib.error:
                    break
            data, self._pending = data[:want], data[want:]
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._handle.close()
        super().close()


def zip_names(handle: BinaryIO) -> list[str] | None:
    """The member names of a zip, or None when its central directory cannot be read."""
    try:
        with zipfile.ZipFile(handle) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        return None


def _data_start(handle: io.BufferedIOBase, info: zipfile.ZipInfo) -> int | None:
    handle.seek(info.header_offset)
    header = handle.read(30)
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        return None
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    return int(info.header_offset) + 30 + int(name_len) + int(extra_len)


def _member_blob(blob: Blob, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Blob | None:
    handle = blob.seekable()
    if handle is None:
        return None
    with handle:
        start = _data_start(handle, info)
    if start is None:
        return None
    inflate = info.compress_type == zipfile.ZIP_DEFLATED

    def opener() -> ByteSource:
        if info.compress_type in _COMMON_METHODS:
            fresh = blob.seekable()
            assert fresh is not None
            return io.BufferedReader(_Window(fresh, start, info.compress_size, inflate=inflate))
        member = archive.open(info)
        member._expected_crc = None  # type: ignore[attr-defined]  # CRC is checked separately
        return member

    return Blob(name=info.filename, size=info.file_size, opener=opener)


def escapes_directory(name: str) -> bool:
    """True when ``name``, joined to a directory, may land outside it on POSIX or Windows.

    Absolute names, '..' segments under either separator, and any ':' (a drive letter, or an
    NTFS alternate data stream) all count: the name is judged as every loader might read it.
    """
    return name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/") or ":" in name


def _check_name(name: str, loc: Location, seen: set[str]) -> None:
    if escapes_directory(name):
        loc.report(
            Severity.HIGH,
            "archive.path-traversal",
            f"member name '{name}' escapes the extraction directory",
            subject=name,
        )
    if name in seen:
        loc.report(
            Severity.MEDIUM,
            "archive.duplicate-member",
            f"member '{name}' appears twice; loaders may read either copy",
            subject=name,
        )
    seen.add(name)


def _check_crc(member: Blob, info: zipfile.ZipInfo, loc: Location) -> None:
    if member.size > MAX_IN_MEMORY:
        return
    crc = 0
    with member.stream() as stream:
        for _ in range(member.size // _CHUNK + 2):
            chunk = stream.read(_CHUNK)
            if not chunk:
                break
            crc = zlib.crc32(chunk, crc)
    if crc != info.CRC:
        loc.report(
            Severity.MEDIUM,
            "archive.bad-crc",
            "member CRC does not match its data: the archive was altered or is corrupt",
            subject=info.filename,
        )


def _report_truncated(loc: Location, count: str) -> None:
    """Members past the cap go unscanned, so the archive as a whole cannot be vouched for."""
    loc.report(
        Severity.HIGH,
        "archive.too-many-members",
        f"the archive holds {count} members; only the first {_MAX_MEMBERS} were scanned",
        subject=count,
    )


def scan_zip(blob: Blob, loc: Location, scan: ScanFn) -> list[str]:
    """Scans every member of a zip through ``scan``; returns the member names."""
    handle = blob.seekable()
    if handle is None:
        loc.report(
            Severity.HIGH,  # unscanned content is no pass
            "archive.too-large",
            "archive cannot be opened for random access; not scanned",
        )
        return []
    names: list[str] = []
    seen: set[str] = set()
    try:
        with handle, zipfile.ZipFile(handle) as archive:
            members = archive.infolist()
            if len(members) > _MAX_MEMBERS:
                _report_truncated(loc, str(len(members)))
            for info in members[:_MAX_MEMBERS]:
                names.append(info.filename)
                member_loc = loc.inside(info.filename)
                _check_name(info.filename, member_loc, seen)
                if info.filename.endswith("/"):
                    continue
                if info.flag_bits & 0x1:
                    member_loc.report(
                        Severity.HIGH,
                        "archive.encrypted-member",
                        "member is encrypted and cannot be scanned",
                    )
                    continue
                if info.compress_type not in _COMMON_METHODS | _OTHER_METHODS:
                    member_loc.report(
                        Severity.HIGH,
                        "archive.unsupported-compression",
                        f"compression method {info.compress_type} cannot be scanned",
                        subject=str(info.compress_type),
                    )
                    continue
                if info.compress_type in _OTHER_METHODS:
                    member_loc.report(
                        Severity.LOW,
                        "archive.unusual-compression",
                        f"compression method {info.compress_type} is unusual for model files",
                        subject=str(info.compress_type),
                    )
                member = _member_blob(blob, archive, info)
                if member is None:
                    member_loc.report(
                        Severity.HIGH,
                        "archive.malformed",
                        "member's local header is missing or corrupt",
                    )
                    continue
                if looks_like_pickle(member.head(64)):
                    _check_crc(member, info, member_loc)
                scan(member, member_loc)
    except (
        zipfile.BadZipFile,
        OSError,
        ValueError,
        EOFError,
        NotImplementedError,
        lzma.LZMAError,
        zlib.error,
    ) as exc:
        loc.report(Severity.HIGH, "archive.malformed", f"zip archive cannot be read ({exc})")
    return names


def scan_tar(blob: Blob, loc: Location, scan: ScanFn) -> None:
    """Scans every regular member of a (possibly compressed) tar archive in one streaming pass."""
    seen: set[str] = set()
    with blob.stream() as stream:
        try:
            with tarfile.open(fileobj=stream, mode="r|*") as archive:  # type: ignore[call-overload]
                for count, member in enumerate(archive):
                    if count >= _MAX_MEMBERS:
                        _report_truncated(loc, f"more than {_MAX_MEMBERS}")
                        break
                    member_loc = loc.inside(member.name)
                    _check_name(member.name, member_loc, seen)
                    if member.issym() or member.islnk():
                        member_loc.report(
                            Severity.MEDIUM,
                            "archive.link-member",
                            f"member links to '{member.linkname}'",
                            subject=member.linkname,
                        )
                    if not member.isfile():
                        continue
                    extracted = archive.extractfile(member)
                    if extracted is None:
                        continue
                    head = extracted.read(1024)
                    probe = Blob(member.name, member.size, functools.partial(io.BytesIO, head))
                    if detect_format(probe) == "unknown" and not may_be_pickle(head, member.size):
                        scan(probe, member_loc)  # its head stands for it: judged by its name
                        continue  # tensor data: only its first bytes are read
                    rest = Stream(cast(ByteSource, extracted))
                    rest.unread(head)
                    with spilled(member.name, rest) as copy:  # the pass cannot come back
                        if copy is None:
                            member_loc.report(
                                Severity.HIGH,  # unscanned content is no pass
                                "archive.member-too-large",
                                f"tar member larger than {MAX_SPILL >> 20} MiB; not scanned",
                            )
                            continue
                        scan(copy, member_loc)
        except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
            loc.report(Severity.HIGH, "archive.malformed", f"tar archive cannot be read ({exc})")


def compressed_blob(blob: Blob, kind: str) -> Blob:
    """The decompressed content of a gzip/bz2/xz/lzma/lz4/zlib stream (joblib's dumps)."""

    def opener() -> ByteSource:
        source = blob.opener()
        raw = cast(BinaryIO, source)
        if kind == "gzip":
            return _Layered(gzip.GzipFile(fileobj=raw), source)
        if kind == "bz2":
            return _Layered(bz2.BZ2File(raw), source)
        if kind == "xz":
            return _Layered(lzma.LZMAFile(raw), source)
        if kind == "lzma":  # joblib's compress="lzma": the legacy LZMA_Alone container
            return _Layered(lzma.LZMAFile(raw, format=lzma.FORMAT_ALONE), source)
        if kind == "lz4":
            return _Layered(lz4.frame.LZ4FrameFile(raw), source)
        return io.BufferedReader(_ZlibReader(source))

    return Blob(name=blob.name, size=-1, opener=opener)


class _Layered:
    """A decompressor over a source it does not own; closing it closes both."""

    def __init__(self, outer: ByteSource, inner: ByteSource) -> None:
        self._outer, self._inner = outer, inner

    def read(self, size: int = -1, /) -> bytes:
        try:
            return self._outer.read(size)
        except (OSError, EOFError, lzma.LZMAError, zlib.error, RuntimeError):
            # RuntimeError: lz4's word for a corrupt frame.
            return b""  # a corrupt stream ends here; the pickle scan reports the truncation

    def close(self) -> None:
        self._outer.close()
        self._inner.close()


class _ZlibReader(io.RawIOBase):
    """Inflates a zlib stream (joblib's default compressor) lazily."""

    def __init__(self, source: ByteSource) -> None:
        self._source = source
        self._inflater = zlib.decompressobj()
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        want = len(buffer)
        data = self._pending
        for _ in range(1 << 30):  # ends when enough is inflated or the input runs out
            if len(data) >= want or self._inflater.eof:
                break
            raw = self._inflater.unconsumed_tail or self._source.read(_CHUNK)
            if not raw:
                break
            try:
                data += self._inflater.decompress(raw, want - len(data) + _CHUNK)
            except zlib.error:
                break
        data, self._pending = data[:want], data[want:]
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._source.close()
        super().close()
