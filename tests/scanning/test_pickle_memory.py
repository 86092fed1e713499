"""A pickle cannot make the scanner hold memory without bound, whatever it is made of.

The unpickler's stack and memo are replayed with what the checks read and nothing else: data is
one shared placeholder, so millions of small objects cost a pointer each. A pickle that still
grows the replay past its bounds (values on the stack, bytes held) stops with a HIGH
``pickle.too-complex`` finding, never a pass. Memory is measured with tracemalloc.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlgate.scanning import ScanReport, Severity, scan_path
from mlgate.scanning.context import Location, Sink
from mlgate.scanning.pickle_ops import MAX_CONSTANT, replay
from mlgate.scanning.pickle_values import MAX_FAR, MAX_STACK, MAX_TEXT
from mlgate.scanning.pickle_vm import Call, GlobalRef, Machine, Skipped, TooComplex
from mlgate.scanning.pickles import MAX_IMPORTS
from mlgate.scanning.stream import Stream
from tests.scanning.corpus import Exploit
from tests.scanning.factories import peak_memory_of_scan

_PROTO = b"\x80\x04"
# Past the stack bound by more than the values one check interval (64 KiB of opcodes) can add.
_DEEP = MAX_STACK + (MAX_STACK >> 2)
_LINKS = 1 << 18


def _rules(report: ScanReport) -> list[tuple[str, Severity]]:
    return [(f.rule, f.severity) for f in report.findings]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"(" * _DEEP, id="marks"),
        pytest.param(b"]" * _DEEP, id="empty-lists"),
        pytest.param(b"}" * _DEEP, id="empty-dicts"),
        pytest.param(b"N" + b"2" * _DEEP, id="dups"),
        pytest.param(b"]\x94(" + b"}\x94" * _DEEP + b"e", id="tiny-objects-for-one-appends"),
    ],
)
def test_a_stack_grown_without_end_stops_with_a_high_finding(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / "deep.pkl"
    path.write_bytes(_PROTO + body + b"N.")
    report = scan_path(path)
    assert _rules(report) == [("pickle.too-complex", Severity.HIGH)]
    assert "values on the unpickler's stack" in report.findings[0].message


def test_a_stack_grown_without_end_is_not_held(tmp_path: Path) -> None:
    path = tmp_path / "deep.pkl"
    path.write_bytes(_PROTO + b"(" * (8 * MAX_STACK) + b"N.")
    report, peak = peak_memory_of_scan(path)
    assert _rules(report) == [("pickle.too-complex", Severity.HIGH)]
    assert peak < 32 << 20  # the stack it stopped at; all of it is 8 million values (64 MB)


def test_repeated_memoize_holds_a_pointer_an_entry(tmp_path: Path) -> None:
    count = 1 << 20
    path = tmp_path / "memo.pkl"
    path.write_bytes(_PROTO + b"N" + b"\x94" * count + b".")
    report, peak = peak_memory_of_scan(path)
    assert report.findings == []  # it builds nothing: harmless, and held cheaply
    assert peak < count * 8 * 2  # the memo's list; it held ~70 bytes an entry in a dict


def test_memo_keys_written_out_of_order_stop_with_a_high_finding(tmp_path: Path) -> None:
    keys = ((1000 + 2654435761 * i) % (1 << 32) for i in range(MAX_FAR + 1))  # distinct
    path = tmp_path / "far.pkl"
    path.write_bytes(_PROTO + b"N" + b"".join(b"r" + struct.pack("<I", k) for k in keys) + b".")
    report = scan_path(path)
    assert _rules(report) == [("pickle.too-complex", Severity.HIGH)]
    assert "memo keys written out of order" in report.findings[0].message


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"N" + b"N\x86" * _LINKS, id="tuples-of-the-last-tuple"),
        pytest.param(b"N" + b"NR" * _LINKS, id="calls-of-the-last-call"),
        pytest.param(b"(" * _LINKS + b"N" + b"t" * _LINKS, id="tuples-in-marked-tuples"),
    ],
)
def test_values_nested_in_the_last_one_do_not_accumulate(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / "chain.pkl"
    path.write_bytes(_PROTO + body + b".")
    report, peak = peak_memory_of_scan(path)
    assert report.findings == []  # no import anywhere: nothing could run
    assert peak < 8 << 20  # each link held the one before: 13 to 25 MB


def _machine(limit: int) -> Machine:
    def on_import(m: Machine, module: Any, name: Any, offset: int, op: str) -> Any:
        return GlobalRef(str(module), str(name))

    def on_bytes(m: Machine, value: bytes | Skipped, offset: int) -> None:
        return None

    def on_build(m: Machine, target: Call, offset: int) -> None:
        return None

    return Machine(Location("t.pkl", Sink()), on_import, on_bytes, on_build, limit=limit)


def _short_strings(count: int) -> bytes:
    """Distinct two-character strings, each memoised: the dearest thing a memo keeps per byte."""
    alphabet = [chr(c) for c in range(0x100, 0x100 + 1024)]
    parts = [_PROTO]
    for i in range(count):
        text = (alphabet[i % 1024] + alphabet[i // 1024 % 1024]).encode()
        parts.append(b"\x8c" + bytes([len(text)]) + text + b"\x94" + b"0")
    parts.append(b"N.")
    return b"".join(parts)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(_short_strings(200_000), id="memoised-strings"),
        pytest.param(
            _PROTO
            + b"N"
            + b"".join(b"r" + struct.pack("<I", 1000 + 7 * i) for i in range(MAX_FAR))
            + b".",
            id="memo-keys-past-its-end",
        ),
        pytest.param(_PROTO + b"(" + b"I123456\n" * 200_000 + b"t.", id="big-ints-for-a-tuple"),
    ],
)
def test_a_replay_holding_more_than_its_bound_stops(data: bytes) -> None:
    limit = 4 << 20
    m = _machine(limit)
    tracemalloc.start()
    try:
        with pytest.raises(TooComplex):
            replay(Stream(io.BytesIO(data)), m, m.check, 1 << 12)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert limit < m.last_held
    assert peak < 3 * limit  # what it counted is what it held, give or take one interval


def test_a_nested_pickle_too_complex_to_follow_is_reported_and_the_outer_one_scanned(
    tmp_path: Path,
) -> None:
    inner = _PROTO + b"(" * _DEEP + b"N."
    path = tmp_path / "outer.pkl"
    path.write_bytes(pickle.dumps([inner, Exploit()], protocol=4))
    report = scan_path(path)
    found = {(f.rule, f.severity, f.message.startswith("nested pickle: ")) for f in report.findings}
    assert ("pickle.too-complex", Severity.HIGH, True) in found
    assert ("pickle.dangerous-global", Severity.CRITICAL, False) in found


@pytest.mark.parametrize("protocol", [2, 4])
def test_a_pickle_of_many_small_rows_is_clean_and_held_small(tmp_path: Path, protocol: int) -> None:
    rows = [(i, float(i), f"k{i}", {"n": i}) for i in range(20_000)]
    path = tmp_path / "rows.pkl"
    path.write_bytes(pickle.dumps(rows, protocol=protocol))
    del rows
    report, peak = peak_memory_of_scan(path)
    assert report.findings == []
    assert peak < 8 << 20  # the memo kept every row: 13 MB


def test_large_forests_are_clean(tmp_path: Path) -> None:
    joblib = pytest.importorskip("joblib")
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(0)
    features = rng.random((400, 6))
    forest = RandomForestClassifier(n_estimators=300, random_state=0).fit(
        features, features[:, 0] > 0.5
    )
    joblib.dump(forest, tmp_path / "forest.joblib")
    joblib.dump(forest, tmp_path / "forest_z.joblib", compress=3)
    (tmp_path / "forest.pkl").write_bytes(pickle.dumps(forest, protocol=5))
    (tmp_path / "forest_p2.pkl").write_bytes(pickle.dumps(forest, protocol=2))
    report = scan_path(tmp_path)
    assert report.files_scanned == 4
    assert report.findings == []


def test_a_global_imported_again_and_again_is_one_finding(tmp_path: Path) -> None:
    path = tmp_path / "imports.pkl"
    path.write_bytes(_PROTO + b"cos\nsystem\n0" * 50_000 + b"N.")
    report, peak = peak_memory_of_scan(path)
    assert _rules(report) == [("pickle.dangerous-global", Severity.CRITICAL)]
    assert report.findings[0].offset == len(_PROTO)  # where it was first imported
    assert peak < 16 << 20  # a finding an import: 100 MB


def test_more_distinct_imports_than_any_model_makes_stop_with_a_high_finding(
    tmp_path: Path,
) -> None:
    path = tmp_path / "imports.pkl"
    imports = (b"cnot_a_module_%d\nthing\n0" % i for i in range(MAX_IMPORTS + 1))
    path.write_bytes(_PROTO + b"".join(imports) + b"N.")
    report = scan_path(path)
    rules = _rules(report)
    assert rules.count(("pickle.unlisted-global", Severity.HIGH)) == MAX_IMPORTS
    assert rules[-1] == ("pickle.too-complex", Severity.HIGH)


def test_a_global_named_longer_than_any_module_is_high_not_judged_by_its_start(
    tmp_path: Path,
) -> None:
    path = tmp_path / "long.pkl"
    long = b"ccollections\nOrderedDict" + b"x" * 100_000 + b"\n0"  # starts like a safe name
    path.write_bytes(_PROTO + long + b"cos   \nsystem\n0N.")
    report = scan_path(path)
    assert sorted(_rules(report)) == [
        ("pickle.dangerous-global", Severity.CRITICAL),
        ("pickle.unresolved-global", Severity.HIGH),
    ]
    assert all(len(f.subject or "") < 200 for f in report.findings)


def test_a_dangerous_tail_past_any_cut_of_a_long_name_is_not_passed(tmp_path: Path) -> None:
    # Protocol 4 resolves a dotted name attribute by attribute: a loop back into the same
    # module pads the name so that a cut would leave a class-like head and hide the tail.
    padding = "ma.core.np." * (MAX_TEXT // len("ma.core.np.") + 1)
    name = (padding + "ma.MaskedArray.__init__.__builtins__.get").encode()
    path = tmp_path / "tail.pkl"
    path.write_bytes(b"\x80\x04cnumpy\n" + name + b"\n0N.")
    report = scan_path(path)
    assert report.max_severity is not None
    assert report.max_severity.rank >= Severity.HIGH.rank


def _text(value: str) -> bytes:
    raw = value.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw  # BINUNICODE


# Protocol 4 resolves a dotted name attribute by attribute: os.path is posixpath, whose os is
# os again, so this runs os.getcwd() however long it is.
_BACK_TO_OS = "path.os." * (MAX_TEXT // len("path.os.") + 1) + "getcwd"


@pytest.mark.parametrize(
    ("module", "name"),
    [
        pytest.param("os", _BACK_TO_OS, id="a-dangerous-module"),
        pytest.param("numpy", "lib._utils_impl.os." + _BACK_TO_OS, id="os-among-its-first-parts"),
    ],
)
@pytest.mark.parametrize("opcode", ["STACK_GLOBAL", "STACK_GLOBAL-from-the-memo", "GLOBAL"])
def test_a_long_name_whose_seen_start_reaches_os_is_critical_as_a_short_one(
    tmp_path: Path, module: str, name: str, opcode: str
) -> None:
    if opcode == "STACK_GLOBAL":
        data = _PROTO + _text(module) + _text(name) + b"\x93)R."
    elif opcode == "STACK_GLOBAL-from-the-memo":  # memoised, popped, fetched back
        data = _PROTO + _text(module) + b"\x94" + _text(name) + b"\x9400h\x00h\x01\x93)R."
    else:
        data = _PROTO + f"c{module}\n{name}\n".encode() + b")R."
    assert pickle.loads(data) == os.getcwd()  # what any loader runs
    path = tmp_path / "long.pkl"
    path.write_bytes(data)
    assert _rules(scan_path(path)) == [("pickle.dangerous-global", Severity.CRITICAL)]


def test_a_name_too_long_to_read_is_judged_by_its_start_too(tmp_path: Path) -> None:
    # A BINUNICODE8 past MAX_CONSTANT is skipped unread; its start is still what the unpickler
    # would import (numpy.lib._utils_impl.os, then an attribute of os).
    path = tmp_path / "long.pkl"
    head = b"lib._utils_impl.os."
    size = MAX_CONSTANT + (1 << 20)
    with path.open("wb") as out:
        out.write(_PROTO + _text("numpy") + b"\x8d" + size.to_bytes(8, "little") + head)
        out.write(b"x" * (size - len(head)))
        out.write(b"\x93N.")
    report, peak = peak_memory_of_scan(path)
    assert _rules(report) == [("pickle.dangerous-global", Severity.CRITICAL)]
    assert peak < 16 << 20


def _write_long_constant(path: Path, opcode: bytes, payload: bytes) -> None:
    """A constant just longer than MAX_CONSTANT: ``payload``, then zeros."""
    size = MAX_CONSTANT + (1 << 20)
    width = 8 if opcode in (b"\x8e", b"\x8d") else 4  # BINBYTES8, BINUNICODE8; LONG4
    with path.open("wb") as out:
        out.write(_PROTO + opcode + size.to_bytes(width, "little"))
        out.write(payload)
        left = size - len(payload)
        for _ in range(left >> 20):
            out.write(bytes(1 << 20))
        out.write(bytes(left & ((1 << 20) - 1)))
        out.write(b".")


def test_a_number_longer_than_any_check_reads_is_skipped_not_held(tmp_path: Path) -> None:
    path = tmp_path / "long.pkl"
    _write_long_constant(path, b"\x8b", b"\x01")  # LONG4: genops read and decoded 65 MiB
    report, peak = peak_memory_of_scan(path)
    assert report.findings == []
    assert peak < 16 << 20


@pytest.mark.parametrize(
    ("opcode", "payload"),
    [
        pytest.param(b"\x8e", pickle.dumps(Exploit(), protocol=4), id="bytes"),
        pytest.param(
            b"\x8d",
            pickle.dumps(Exploit(), protocol=4).decode("latin-1").encode(),
            id="text-a-loader-encodes-as-latin-1",
        ),
    ],
)
def test_a_pickle_in_a_constant_too_long_to_scan_is_high(
    tmp_path: Path, opcode: bytes, payload: bytes
) -> None:
    path = tmp_path / "hidden.pkl"
    _write_long_constant(path, opcode, payload)
    report, peak = peak_memory_of_scan(path)
    assert _rules(report) == [("pickle.nested-unscanned", Severity.HIGH)]
    assert peak < 16 << 20


def test_a_pickle_nested_deeper_than_the_scanner_follows_is_high(tmp_path: Path) -> None:
    data = pickle.dumps(Exploit(), protocol=4)
    for _ in range(4):
        data = pickle.dumps(data, protocol=4)
    four, five = tmp_path / "four.pkl", tmp_path / "five.pkl"
    four.write_bytes(data)  # the payload at the deepest level the scanner follows
    assert ("pickle.dangerous-global", Severity.CRITICAL) in _rules(scan_path(four))
    five.write_bytes(pickle.dumps(data, protocol=4))
    assert ("pickle.nested-unscanned", Severity.HIGH) in _rules(scan_path(five))
