"""Hostile bytes never crash the scanner: malformed input becomes a finding, not an exception."""

from __future__ import annotations

import gzip
import io
import pickle
import zipfile
from collections import OrderedDict

import joblib
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlgate.scanning.blob import memory_blob
from mlgate.scanning.context import Location, Sink
from mlgate.scanning.pickle_probe import Replay, probe
from mlgate.scanning.pickles import scan_pickle_bytes
from mlgate.scanning.scanner import scan_blob
from mlgate.scanning.schemas import Severity
from mlgate.scanning.sniff import detect_format
from tests.scanning.corpus import Exploit, memo_stack_global
from tests.scanning.factories import headerless_pickle

SEEDS = [
    pickle.dumps(OrderedDict(a=[1, 2.5, "x"], b=(b"\x00" * 8, None)), protocol=p) for p in range(6)
] + [pickle.dumps(Exploit(), protocol=2), memo_stack_global()]


def _containers() -> list[bytes]:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("archive/data.pkl", SEEDS[2])
        archive.writestr(
            "archive/data/0", b"\x80\x02" + b"\x01" * 30, compress_type=zipfile.ZIP_DEFLATED
        )
    npy = io.BytesIO()
    np.save(npy, np.arange(4.0))
    return [buf.getvalue(), gzip.compress(SEEDS[4]), npy.getvalue()]


CONTAINERS = _containers()


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 8))):
        action = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if action == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif action == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete" and data:
            del data[pos]
        elif action == "truncate":
            del data[pos:]
    return bytes(data)


def mutated_pickles() -> st.SearchStrategy[bytes]:
    return mutated(SEEDS)


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=512) | mutated_pickles())
def test_pickle_scanner_never_raises(data: bytes) -> None:
    sink = Sink()
    scan_pickle_bytes(data, Location("fuzz.pkl", sink))
    for finding in sink.findings:
        assert finding.severity in Severity


@FUZZ
@given(mutated_pickles())
def test_mutated_pickle_is_never_silently_clean_when_it_breaks(data: bytes) -> None:
    sink = Sink()
    scan_pickle_bytes(data, Location("fuzz.pkl", sink))
    try:
        pickletools_ok = _parses(data)
    except Exception:
        pickletools_ok = False
    if not pickletools_ok:
        assert sink.findings, "a stream pickletools rejects must produce a finding"


def _joblib_dumps() -> list[bytes]:
    objects = np.empty(2, dtype=object)
    objects[:] = ["a", (1, 2)]
    dumps = []
    for protocol in (0, 2, 4):  # copyreg._reconstructor, then NEWOBJ, makes each wrapper
        out = io.BytesIO()
        joblib.dump({"w": np.arange(3, dtype=np.uint8), "o": objects}, out, protocol=protocol)
        dumps.append(out.getvalue())
    return dumps


JOBLIB_SEEDS = _joblib_dumps()


@FUZZ
@given(mutated(JOBLIB_SEEDS))
def test_joblib_wrappers_used_every_which_way_never_raise(data: bytes) -> None:
    """Once a wrapper class is imported every opcode is looked at (pickle_watch)."""
    sink = Sink()
    scan_pickle_bytes(data, Location("fuzz.joblib", sink))


def _parses(data: bytes) -> bool:
    import pickletools

    return any(opcode.name == "STOP" for opcode, _, _ in pickletools.genops(data))


@FUZZ
@given(
    st.sampled_from(
        [
            b"PK\x03\x04",
            b"\x93NUMPY\x01\x00",
            b"GGUF\x03\x00\x00\x00",
            b"\x1f\x8b\x08",
            b"\x78\x9c",
            b"\x89HDF\r\n\x1a\n",
            b"\x10\x00\x00\x00\x00\x00\x00\x00{",
            b"\x08\x07",
        ]
    ),
    st.binary(max_size=300),
)
def test_every_format_reader_survives_garbage(magic: bytes, tail: bytes) -> None:
    sink = Sink()
    scan_blob(memory_blob("fuzz.bin", magic + tail), Location("fuzz.bin", sink))


@FUZZ
@given(mutated(CONTAINERS))
def test_mutated_containers_never_raise(data: bytes) -> None:
    sink = Sink()
    scan_blob(memory_blob("fuzz.pt", data), Location("fuzz.pt", sink))


@FUZZ
@given(st.binary(max_size=512) | mutated_pickles() | mutated(CONTAINERS))
def test_format_sniffing_never_raises(data: bytes) -> None:
    assert isinstance(detect_format(memory_blob("fuzz.bin", data)), str)
    assert probe(data) in Replay


# Opcodes that push one value each and take no import: padding an attacker may put in front.
_PUSHES = [b"N", b"\x88", b"\x89", b")", b"]", b"}", b"K\x07", b"M\x01\x02", b"G" + b"\x00" * 8]


@FUZZ
@given(st.lists(st.sampled_from(_PUSHES), max_size=400))
def test_import_free_padding_never_hides_a_headerless_payload(pushes: list[bytes]) -> None:
    data = b"".join(pushes) + b"0" * len(pushes) + headerless_pickle()
    assert detect_format(memory_blob("fuzz.dat", data)) == "pickle"
    sink = Sink()
    scan_blob(memory_blob("fuzz.dat", data), Location("fuzz.dat", sink))
    assert any(f.subject == "posix.system" for f in sink.findings)
