"""Crafted ONNX models of many tiny messages: the scan's memory, time and findings stay bounded.

A review measured 4 MiB of five-byte custom-domain nodes at 1.1 GB and 839k findings; models here
are built byte by byte (field numbers from onnx.proto), as no writer makes them.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from mlgate.scanning import scan_path
from mlgate.scanning.onnx_proto import MAX_KEPT, MAX_KEPT_BYTES, MAX_MESSAGES
from mlgate.scanning.schemas import Finding, ScanReport, Severity


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    size, varint = len(payload), bytearray()
    while size >= 0x80:
        varint.append(size & 0x7F | 0x80)
        size >>= 7
    varint.append(size)
    return bytes([number << 3 | 2]) + bytes(varint) + payload


def _node(op_type: str, domain: str = "", name: str = "") -> bytes:
    """A graph's node field: NodeProto name 3, op_type 4, domain 7."""
    fields = _field(3, name.encode()) if name else b""
    return _field(1, fields + _field(4, op_type.encode()) + _field(7, domain.encode()))


def _initializer(name: str, location: str) -> bytes:
    """A graph's initializer field: a TensorProto (name 8) with external data (entries 13)."""
    entry = _field(1, b"location") + _field(2, location.encode())
    return _field(5, _field(8, name.encode()) + _field(13, entry) + b"\x70\x01")  # EXTERNAL


def _write_model(path: Path, graph: bytes) -> Path:
    path.write_bytes(b"\x08\x08" + _field(7, graph))  # ir_version 8, graph
    return path


def _found(report: ScanReport, rule: str) -> list[Finding]:
    return [f for f in report.findings if f.rule == rule]


def test_many_custom_domain_nodes_are_one_finding_per_op_with_the_count(tmp_path: Path) -> None:
    graph = (
        _node("Gelu", "x", name="gelu_0")
        + _node("Gelu", "x") * 23_999
        + _node("Swish", "y", name="swish_0") * 6_000
        + _node("Add") * 1_000
    )
    path = _write_model(tmp_path / "model.onnx", graph)
    tracemalloc.start()
    try:
        report = scan_path(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20  # one object and finding per node: 39 MiB
    custom = sorted(_found(report, "onnx.custom-domain"), key=lambda f: f.message)
    assert [(f.subject, f.severity) for f in custom] == [
        ("x", Severity.MEDIUM),
        ("y", Severity.MEDIUM),
    ]
    assert "node 'gelu_0' uses op 'Gelu'" in custom[0].message
    assert "24,000 nodes use it" in custom[0].message
    assert "6,000 nodes use it" in custom[1].message
    assert len(report.findings) == 2


def test_tensors_sharing_an_escaping_location_are_one_critical_finding(tmp_path: Path) -> None:
    graph = b"".join(_initializer(f"w{i}", "../../etc/passwd") for i in range(1_000))
    report = scan_path(_write_model(tmp_path / "model.onnx", graph))
    [escape] = report.findings
    assert (escape.rule, escape.severity) == ("onnx.external-data-escape", Severity.CRITICAL)
    assert "tensor 'w0' reads external data from '../../etc/passwd'" in escape.message
    assert "1,000 tensors name it" in escape.message


def test_a_location_too_long_for_the_filesystem_does_not_end_the_scan(tmp_path: Path) -> None:
    graph = _initializer("long", "a" * 5_000) + _initializer("w", "../../etc/passwd")
    report = scan_path(_write_model(tmp_path / "model.onnx", graph))
    assert {f.rule for f in report.findings} == {
        "onnx.external-data-missing",
        "onnx.external-data-escape",
    }


def test_a_model_past_the_message_cap_is_high_and_keeps_what_came_before(tmp_path: Path) -> None:
    """The reviewer's 8 MiB of empty nodes passed as clean; what precedes the cap is reported."""
    graph = _initializer("w", "/etc/shadow") + _node("Evil", "x") + _field(1, b"") * MAX_MESSAGES
    report = scan_path(_write_model(tmp_path / "model.onnx", graph))
    assert report.max_severity is Severity.CRITICAL
    assert {f.rule for f in report.findings} == {
        "onnx.external-data-escape",
        "onnx.custom-domain",
        "onnx.unscannable",
    }
    [stopped] = _found(report, "onnx.unscannable")
    assert stopped.severity is Severity.HIGH
    assert f"more than {MAX_MESSAGES:,} messages" in stopped.message


def _distinct_ops() -> bytes:
    return b"".join(_node(f"Op{i}", "x") for i in range(MAX_KEPT + 1))


def _long_locations() -> bytes:
    long = 60_000  # each under the 64 KiB past which a name is "too long to judge"
    count = MAX_KEPT_BYTES // long + 1
    return b"".join(_initializer("w", f"{i:05}".ljust(long, "a")) for i in range(count))


@pytest.mark.parametrize("graph", [_distinct_ops, _long_locations], ids=["ops", "locations"])
def test_a_model_keeping_too_much_is_high_with_bounded_findings(
    tmp_path: Path, graph: Callable[[], bytes]
) -> None:
    report = scan_path(_write_model(tmp_path / "model.onnx", graph()))
    [stopped] = _found(report, "onnx.unscannable")
    assert stopped.severity is Severity.HIGH
    assert "cannot be fully checked" in stopped.message
    assert len(report.findings) <= MAX_KEPT + 2  # what was kept, and where reading stopped
