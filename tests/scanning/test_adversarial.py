"""Crafted artifacts from a security review: each one got past the scanner (or stalled it) once.

Every artifact is built here, byte by byte where a library would not write it; nothing is loaded
except where a test proves that the real loader runs the payload the scanner must find.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import struct
import tarfile
import tempfile
import warnings
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mlgate.cli.main import app
from mlgate.errors import Invalid
from mlgate.scanning import scan_path, sign_artifacts, verify_artifacts
from mlgate.scanning.onnx_proto import NotOnnx, TooDeep, read_onnx
from mlgate.scanning.schemas import ScanReport, Severity
from mlgate.scanning.stream import Stream
from tests.scanning.corpus import Exploit, _onnx_external
from tests.scanning.factories import peak_memory_of_scan, write_keypair


def _worst(report: ScanReport) -> Severity | None:
    return report.max_severity


def _rules(report: ScanReport) -> set[str]:
    return {f.rule for f in report.findings}


def _at_least_high(report: ScanReport) -> bool:
    return report.max_severity is not None and report.max_severity.rank >= Severity.HIGH.rank


# -- raw pickle building blocks (protocol 2+ opcodes) ----------------------------------------


def _str(text: str) -> bytes:
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw  # SHORT_BINUNICODE


def _global(module: str, name: str) -> bytes:
    return _str(module) + _str(name) + b"\x93"  # STACK_GLOBAL


def _int(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)  # BININT


def _dtype(code: str, *, elsize: int = -1, flags: int = 0) -> bytes:
    """``numpy.dtype(code, False, True)`` with a version-3 BUILD state, as NumPy pickles one."""
    order = "|" if code[0] in "SUVaO" else "<"
    state = b"(K\x03" + _str(order) + b"NNN" + _int(elsize) + _int(1 if elsize > 0 else -1)
    return _global("numpy", "dtype") + _str(code) + b"\x89\x88\x87R" + state + _int(flags) + b"tb"


# posix.getcwd(): harmless to run, critical to find; its result proves a loader ran it.
_PAYLOAD = _global("posix", "getcwd") + b")R"


def _wrapper_state(count: int, dtype: bytes, *, alignment: bool = True) -> bytes:
    """A NumpyArrayWrapper's state dict, as joblib.dump writes it (SETITEMS in one MARK)."""
    items = _str("subclass") + _global("numpy", "ndarray") + _str("shape") + _int(count) + b"\x85"
    items += _str("order") + _str("C") + _str("dtype") + dtype + _str("allow_mmap") + b"\x89"
    if alignment:
        items += _str("numpy_array_alignment_bytes") + b"K\x10"
    return b"}(" + items + b"u"


_WRAPPER = _global("joblib.numpy_pickle", "NumpyArrayWrapper") + b")\x81"  # NEWOBJ, no args


def _desync(scanner_resumes: int, loader_resumes: int) -> bytes:
    """Bytes after an array wrapper's BUILD where the scanner and joblib disagree on its size.

    The scanner resumes at ``scanner_resumes`` and reads a bytes constant that swallows the
    payload; joblib resumes at ``loader_resumes`` and runs it. Both then meet at STOP.
    """
    region = bytearray(loader_resumes)
    length = loader_resumes + len(_PAYLOAD) - (scanner_resumes + 2)
    assert 0 < length < 256
    assert scanner_resumes + 2 <= loader_resumes
    region[scanner_resumes : scanner_resumes + 2] = b"C" + bytes([length])  # SHORT_BINBYTES
    return bytes(region) + _PAYLOAD + b"."


def _hidden_pickle() -> tuple[bytes, int]:
    """A malicious pickle padded to whole float64s: (its bytes, how many floats it spans)."""
    inner = pickle.dumps([Exploit()], protocol=2)
    for pad in range(8):
        padded = inner[:2] + _str("x" * pad) + b"0" + inner[2:]  # a string, popped
        if len(padded) % 8 == 0:
            return padded, len(padded) // 8
    raise AssertionError("unreachable")


def _assert_joblib_runs_the_payload(path: Path) -> None:
    with warnings.catch_warnings():  # NumPy 2 warns on the 'a' alias, and still honours it
        warnings.simplefilter("ignore", DeprecationWarning)
        assert joblib.load(path) == os.getcwd()


# -- NumPy .npy: np.load(allow_pickle=True) judges the descr with NumPy, so must we ------------


def _npy(descr: object, payload: bytes) -> bytes:
    header = repr({"descr": descr, "fortran_order": False, "shape": (1,)}).encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + payload


@pytest.mark.parametrize("descr", ["object", "object_", "O,i4", "<i4,O"])
def test_npy_object_dtype_in_any_spelling_numpy_accepts_is_scanned(
    tmp_path: Path, descr: str
) -> None:
    path = tmp_path / "weights.npy"
    path.write_bytes(_npy(descr, pickle.dumps([Exploit()], protocol=2)))
    assert np.lib.format.descr_to_dtype(descr).hasobject  # np.load would unpickle the data
    report = scan_path(path)
    assert _worst(report) is Severity.CRITICAL
    assert "npy.object-array" in _rules(report)


def test_npy_descr_numpy_rejects_is_high_not_a_pass(tmp_path: Path) -> None:
    path = tmp_path / "weights.npy"
    path.write_bytes(_npy("Object", pickle.dumps([Exploit()], protocol=2)))
    report = scan_path(path)
    assert "npy.malformed" in _rules(report)
    assert _at_least_high(report)


# -- joblib: the scanner must skip exactly the array bytes joblib reads, or follow its pickle --


def test_joblib_float_dtype_whose_flags_say_objects_is_followed_as_a_pickle(
    tmp_path: Path,
) -> None:
    """NumPy takes a version-3 dtype state's flags as they are: a float64 with the "holds
    objects" flag makes joblib unpickle what follows instead of reading floats."""
    inner, floats = _hidden_pickle()
    body = _WRAPPER + _wrapper_state(floats, _dtype("f8", flags=1), alignment=False) + b"b"
    path = tmp_path / "model.joblib"
    path.write_bytes(b"\x80\x02" + body + inner + b".")
    report = scan_path(path)
    assert _worst(report) is Severity.CRITICAL
    assert "os.system" in {f.subject for f in report.findings} or "posix.system" in {
        f.subject for f in report.findings
    }


def test_joblib_state_overwritten_past_the_tracked_size_is_not_a_pass(tmp_path: Path) -> None:
    """64 junk keys, then "dtype" set again to object: the replay stopped following the dict."""
    inner, floats = _hidden_pickle()
    state = _wrapper_state(floats, _dtype("f8"), alignment=False)
    junk = b"".join(_str(f"k{i}") + b"Ns" for i in range(64))
    body = _WRAPPER + state + junk + _str("dtype") + _dtype("O", flags=0x3F) + b"s" + b"b"
    path = tmp_path / "model.joblib"
    path.write_bytes(b"\x80\x02" + body + inner + b".")
    assert _at_least_high(scan_path(path))


def test_joblib_state_key_made_by_a_call_is_not_a_pass(tmp_path: Path) -> None:
    """builtins.str is allowlisted; the key it returns is "dtype" for joblib, unknown to us."""
    inner, floats = _hidden_pickle()
    state = _wrapper_state(floats, _dtype("f8"), alignment=False)
    key = _global("builtins", "str") + _str("dtype") + b"\x85R"
    body = _WRAPPER + state + key + _dtype("O", flags=0x3F) + b"sb"
    path = tmp_path / "model.joblib"
    path.write_bytes(b"\x80\x02" + body + inner + b".")
    assert _at_least_high(scan_path(path))


def test_joblib_wrapper_built_twice_keeps_what_the_first_build_set(tmp_path: Path) -> None:
    """A second BUILD updates the wrapper's __dict__: the alignment from the first still holds,
    so joblib reads a padding byte (15 here) the scanner once did not."""
    first = _WRAPPER + b"\x94" + _wrapper_state(1, _dtype("f8")) + b"b" + b"\x00" + bytes(8)
    again = b"h\x00" + _wrapper_state(1, _dtype("f8"), alignment=False) + b"b"
    tail = bytearray(_desync(8, 1 + 15 + 8))
    tail[0] = 15  # the padding length joblib reads
    path = tmp_path / "model.joblib"
    path.write_bytes(b"\x80\x02" + first + b"0" + again + bytes(tail))
    _assert_joblib_runs_the_payload(path)
    report = scan_path(path)
    assert _worst(report) is Severity.CRITICAL


def test_joblib_wrapper_built_by_its_constructor_is_not_a_pass(tmp_path: Path) -> None:
    """REDUCE runs __init__, whose default alignment BUILD's state then leaves in place."""
    args = b"(" + _global("numpy", "ndarray") + _int(1) + b"\x85" + _str("C") + _dtype("f8")
    wrapper = _global("joblib.numpy_pickle", "NumpyArrayWrapper") + args + b"tR"
    state = _wrapper_state(1, _dtype("f8"), alignment=False)
    tail = bytearray(_desync(8, 1 + 15 + 8))
    tail[0] = 15
    path = tmp_path / "model.joblib"
    path.write_bytes(b"\x80\x02" + wrapper + state + b"b" + bytes(tail))
    _assert_joblib_runs_the_payload(path)
    assert _at_least_high(scan_path(path))


def test_joblib_legacy_bytes_alias_takes_its_size_from_the_state(tmp_path: Path) -> None:
    """'a8' is NumPy's deprecated alias of 'S8': its item size is the state's elsize (16)."""
    body = _WRAPPER + _wrapper_state(1, _dtype("a8", elsize=16), alignment=False) + b"b"
    path = tmp_path / "model.joblib"
    path.write_bytes(b"\x80\x02" + body + _desync(8, 16))
    _assert_joblib_runs_the_payload(path)
    assert _at_least_high(scan_path(path))  # 8 and 16 disagree: no benign pickler writes that
    body = _WRAPPER + _wrapper_state(1, _dtype("a", elsize=16), alignment=False) + b"b"
    path.write_bytes(b"\x80\x02" + body + _desync(8, 16))
    _assert_joblib_runs_the_payload(path)
    assert _worst(scan_path(path)) is Severity.CRITICAL  # followed: 16 bytes, then the payload


def test_benign_joblib_dumps_still_pass(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    objects = np.empty(2, dtype=object)
    objects[:] = ["a", "b"]
    for compress in (0, 3):
        path = tmp_path / f"model-{compress}.joblib"
        joblib.dump(
            {"w": rng.random((3, 4)), "s": np.array(["ab", "c"]), "o": objects},
            path,
            compress=compress,
        )
        joblib.dump({"again": rng.random(5)}, io.BytesIO())
        report = scan_path(path)
        assert report.max_severity in (None, Severity.INFO), report.findings


# -- Keras: config.json is read by Keras whatever else the archive holds -----------------------

_LAMBDA = {
    "class_name": "Lambda",
    "config": {"name": "evil", "function": {"class_name": "__lambda__", "config": {"code": "4w"}}},
}


def _keras(path: Path, layers: list[object], extra: dict[str, bytes] | None = None) -> None:
    config = {"class_name": "Sequential", "module": "keras", "config": {"layers": layers}}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.6.0"}))
        for name, data in (extra or {}).items():
            archive.writestr(name, data)


def test_keras_lambda_is_found_when_the_archive_also_holds_a_data_pkl(tmp_path: Path) -> None:
    path = tmp_path / "model.keras"
    _keras(path, [_LAMBDA], {"assets/data.pkl": pickle.dumps([1, 2])})
    report = scan_path(path)
    assert _worst(report) is Severity.CRITICAL
    assert [f.rule for f in report.findings].count("keras.lambda-layer") == 1


def test_keras_object_from_another_module_is_judged_like_a_pickle_global(tmp_path: Path) -> None:
    """Keras before 3.9 imports any module a config names (CVE-2025-1550)."""
    system = {"module": "os", "class_name": "function", "config": "system"}
    custom = {"module": "acme_layers", "class_name": "Fancy", "config": {}}
    dense = {"module": "keras.layers", "class_name": "Dense", "config": {"activation": system}}
    path = tmp_path / "model.keras"
    _keras(path, [dense, custom])
    report = scan_path(path)
    by_subject = {
        f.subject: f.severity for f in report.findings if f.rule == "keras.foreign-module"
    }
    assert by_subject == {"os.system": Severity.CRITICAL, "acme_layers.Fancy": Severity.HIGH}


def test_keras_functions_that_fetch_files_or_disable_safe_mode_are_flagged(tmp_path: Path) -> None:
    unsafe = {"module": "keras.config", "class_name": "function"}
    layers = [
        {**unsafe, "config": "enable_unsafe_deserialization"},
        {"module": "keras.utils", "class_name": "function", "config": "get_file"},
        {"module": "keras.layers", "class_name": "Dense", "config": {"units": 2}},
    ]
    path = tmp_path / "model.keras"
    _keras(path, layers)
    found = {f.subject: f.severity for f in scan_path(path).findings}
    assert found == {
        "keras.config.enable_unsafe_deserialization": Severity.CRITICAL,
        "keras.utils.get_file": Severity.HIGH,
    }


def test_keras_lambda_nested_deeper_than_any_fixed_bound_is_found(tmp_path: Path) -> None:
    layer: dict[str, object] = _LAMBDA
    for _ in range(300):
        layer = {"class_name": "Sequential", "config": {"layers": [layer]}}
    path = tmp_path / "model.keras"
    _keras(path, [layer])
    assert "keras.lambda-layer" in _rules(scan_path(path))


def _deflate_bomb(path: Path, member: str, size: int, extra: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in extra.items():
            archive.writestr(name, data)
        with archive.open(member, "w", force_zip64=True) as out:
            chunk = b" " * (8 << 20)
            for _ in range(size // len(chunk) + 1):
                out.write(chunk)


def test_keras_config_bomb_is_not_inflated_into_memory(tmp_path: Path) -> None:
    path = tmp_path / "model.keras"
    _deflate_bomb(path, "config.json", 96 << 20, {"metadata.json": b"{}"})
    report, peak = peak_memory_of_scan(path)
    assert peak < 48 << 20
    assert "keras.unscannable" in _rules(report)
    assert _at_least_high(report)


def test_skops_members_inflating_past_the_cap_are_not_handed_to_skops(tmp_path: Path) -> None:
    pytest.importorskip("skops.io")  # imported before memory is measured
    path = tmp_path / "model.skops"
    _deflate_bomb(path, "data.npy", 520 << 20, {"schema.json": b'{"__class__": "dict"}'})
    report, peak = peak_memory_of_scan(path)
    assert peak < 64 << 20
    assert "skops.unscannable" in _rules(report)


# -- archives inside archives: copied out to temporary files, never held in memory -------------

_FILLER = 32 << 20  # stored raw in each nested archive, so each one is at least this large


def _zip_bytes(members: dict[str, bytes], compression: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _nested(path: Path, container: str) -> str:
    """A payload two archives deep, each nested archive over 32 MiB; returns its member path."""
    filler = bytes(_FILLER)
    inner = _zip_bytes(
        {"payload.pkl": pickle.dumps(Exploit(), protocol=4), "data/0": filler}, zipfile.ZIP_STORED
    )
    middle = _zip_bytes({"inner.zip": inner, "data/1": filler}, zipfile.ZIP_DEFLATED)
    if container == "tar":
        with tarfile.open(path, "w") as archive:
            info = tarfile.TarInfo("middle.zip")
            info.size = len(middle)
            archive.addfile(info, io.BytesIO(middle))
    else:
        path.write_bytes(_zip_bytes({"middle.zip": middle}, zipfile.ZIP_DEFLATED))
    return "middle.zip!inner.zip!payload.pkl"


@pytest.mark.parametrize("container", ["zip", "tar"])
def test_archives_nested_in_archives_are_scanned_without_holding_them_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, container: str
) -> None:
    path = tmp_path / f"bundle.{container}"
    member = _nested(path, container)
    spills = tmp_path / "spills"
    spills.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spills))  # where nested archives are copied
    report, peak = peak_memory_of_scan(path)
    assert peak < 16 << 20  # each nested archive is over 32 MiB
    assert [(f.member, f.subject) for f in report.findings if f.severity is Severity.CRITICAL] == [
        (member, "posix.system")
    ]
    assert list(spills.iterdir()) == []  # the copies are gone with the scan


def test_a_member_copied_out_to_be_read_is_not_judged_by_where_the_copy_lies(
    tmp_path: Path,
) -> None:
    # A tar member over 1 MiB is read from a temporary copy; an ONNX model's external data is
    # still judged by its name alone, as inside any archive, not next to the copy.
    import onnx

    source = tmp_path / "model.onnx"
    _onnx_external(source, "weights.bin")
    model = onnx.load(str(source), load_external_data=False)
    model.doc_string = "x" * (2 << 20)
    data = model.SerializeToString()
    path = tmp_path / "bundle.tar"
    with tarfile.open(path, "w") as archive:
        info = tarfile.TarInfo("model.onnx")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    report = scan_path(path)
    assert report.files[0].format == "tar"
    assert "onnx.external-data-missing" not in _rules(report)
    assert report.passed


# -- ONNX: every tensor a loader resolves, read without holding the model ----------------------


def _escaping_tensor(location: str = "../../../etc/passwd", *, external: bool = True) -> object:
    from onnx import TensorProto, helper

    tensor = helper.make_tensor("w", TensorProto.FLOAT, [1], [1.0])
    tensor.ClearField("float_data")
    if external:
        tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", location
    return tensor


def _value(name: str) -> object:
    from onnx import TensorProto, helper

    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [1])


def test_onnx_external_data_inside_a_local_function_is_critical(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    from onnx import helper

    const = helper.make_node("Constant", [], ["c"], value=_escaping_tensor())
    add = helper.make_node("Add", ["x", "c"], ["y"])
    opset = helper.make_opsetid("", 17)
    function = helper.make_function("local", "F", ["x"], ["y"], [const, add], [opset])
    call = helper.make_node("F", ["x"], ["y"], domain="local")
    graph = helper.make_graph([call], "g", [_value("x")], [_value("y")])
    opsets = [opset, helper.make_opsetid("local", 1)]
    model = helper.make_model(graph, functions=[function], opset_imports=opsets)
    path = tmp_path / "model.onnx"
    path.write_bytes(model.SerializeToString())
    report = scan_path(path)
    assert _worst(report) is Severity.CRITICAL
    assert "onnx.external-data-escape" in _rules(report)
    assert "onnx.custom-domain" not in _rules(report)  # a local function needs no library


def test_onnx_external_data_of_a_sparse_attribute_is_critical(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    indices = helper.make_tensor("i", TensorProto.INT64, [1], [0])
    sparse = helper.make_sparse_tensor(_escaping_tensor(), indices, [1])
    const = helper.make_node("Constant", [], ["y"], sparse_value=sparse)
    graph = helper.make_graph([const], "g", [], [_value("y")])
    path = tmp_path / "model.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    assert "onnx.external-data-escape" in _rules(scan_path(path))


@pytest.mark.parametrize("location", ["..\\..\\secret.bin", "C:secret.bin", "sub/../../x"])
def test_onnx_location_escaping_on_any_platform_is_critical(tmp_path: Path, location: str) -> None:
    pytest.importorskip("onnx")
    path = tmp_path / "model.onnx"
    _onnx_external(path, location)
    report = scan_path(path)
    assert "onnx.external-data-escape" in _rules(report)
    assert _worst(report) is Severity.CRITICAL


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field; appending one to a message merges it in."""
    size, varint = len(payload), bytearray()
    while size >= 0x80:
        varint.append(size & 0x7F | 0x80)
        size >>= 7
    varint.append(size)
    return bytes([number << 3 | 2]) + bytes(varint) + payload


def test_onnx_location_in_a_copy_without_the_external_flag_is_still_checked(
    tmp_path: Path,
) -> None:
    """Two copies of one tensor attribute merge: the location in one, EXTERNAL in the other."""
    onnx = pytest.importorskip("onnx")
    from onnx import AttributeProto, TensorProto, helper

    inline = AttributeProto(name="value", type=AttributeProto.TENSOR)
    inline.t.CopyFrom(_escaping_tensor(external=False))
    flag = AttributeProto()
    flag.t.data_location = TensorProto.EXTERNAL
    attribute = inline.SerializeToString() + flag.SerializeToString()
    node = helper.make_node("Constant", [], ["y"]).SerializeToString() + _field(5, attribute)
    graph = helper.make_graph([], "g", [], [_value("y")]).SerializeToString() + _field(1, node)
    model = helper.make_model(helper.make_graph([], "g", [], []))
    model.ClearField("graph")
    path = tmp_path / "model.onnx"
    path.write_bytes(model.SerializeToString() + _field(7, graph))
    loaded = onnx.load_from_string(path.read_bytes()).graph.node[0].attribute[0].t
    assert loaded.data_location == TensorProto.EXTERNAL  # what a loader sees
    assert loaded.external_data[0].value == "../../../etc/passwd"
    assert "onnx.external-data-escape" in _rules(scan_path(path))


def test_unreadable_file_named_onnx_is_not_a_pass(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    whole = tmp_path / "whole.onnx"
    _onnx_external(whole, "weights.bin")
    path = tmp_path / "model.onnx"
    path.write_bytes(whole.read_bytes()[:-7])
    report = scan_path(path)
    assert "onnx.malformed" in _rules(report)
    assert _at_least_high(report)


def _onnx_seeds() -> list[bytes]:
    from onnx import helper

    const = helper.make_node("Constant", [], ["c"], value=_escaping_tensor("weights.bin"))
    node = helper.make_node("Add", ["x", "c"], ["y"], domain="custom.ops")
    graph = helper.make_graph([const, node], "g", [_value("x")], [_value("y")])
    return [helper.make_model(graph).SerializeToString()]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_onnx_reader_only_ever_says_not_onnx_or_too_deep(data: st.DataObject) -> None:
    """Hostile bytes never crash the streaming reader (a crash would be a scanner.error)."""
    pytest.importorskip("onnx")
    seed = bytearray(data.draw(st.sampled_from(_onnx_seeds())))
    for _ in range(data.draw(st.integers(1, 6))):
        pos = data.draw(st.integers(0, len(seed) - 1)) if seed else 0
        if data.draw(st.booleans()) and seed:
            seed[pos] = data.draw(st.integers(0, 255))
        else:
            del seed[pos:]
    raw = bytes(seed) if data.draw(st.booleans()) else b"\x08" + data.draw(st.binary(max_size=256))
    with contextlib.suppress(NotOnnx, TooDeep):
        read_onnx(Stream(io.BytesIO(raw)), len(raw))


def test_onnx_nesting_deeper_than_protobuf_accepts_is_high(tmp_path: Path) -> None:
    """If-branches inside If-branches: past protobuf's limit no loader reads it, nor do we."""
    graph = b""
    for _ in range(40):  # graph -> node -> attribute -> graph: three messages a level
        attribute = _field(1, b"then_branch") + b"\xa0\x01\x05" + _field(6, graph)  # type=GRAPH
        graph = _field(1, _field(4, b"If") + _field(5, attribute))
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x08\x08" + _field(7, graph))  # ir_version 8, graph
    report = scan_path(path)
    assert "onnx.malformed" in _rules(report)
    assert _at_least_high(report)


# -- the directory walk ----------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_a_pipe_in_the_scanned_directory_is_reported_not_waited_on(tmp_path: Path) -> None:
    (tmp_path / "model.pkl").write_bytes(pickle.dumps([1]))
    os.mkfifo(tmp_path / "weights.pkl")
    report = scan_path(tmp_path)
    assert "file.not-regular" in _rules(report)
    assert [f.path for f in report.files] == ["model.pkl"]


@pytest.mark.timeout(60)
def test_scanning_a_pipe_itself_is_a_one_line_usage_error(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "model.pkl")
    with pytest.raises(Invalid, match="not a regular file"):
        scan_path(tmp_path / "model.pkl")
    result = CliRunner().invoke(app, ["scan", "file", str(tmp_path / "model.pkl")])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_a_directory_symlink_leading_out_of_the_model_is_high(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "data.pkl").write_bytes(pickle.dumps(Exploit()))
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights").symlink_to(outside, target_is_directory=True)
    report = scan_path(model)
    assert "file.symlink-escape" in _rules(report)
    assert _at_least_high(report)


# -- signatures: the files verified are exactly the files signed -----------------------------


def test_a_listed_file_the_signature_does_not_cover_does_not_verify(tmp_path: Path) -> None:
    pytest.importorskip("model_signing")
    private, public = write_keypair(tmp_path, "signer")
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.pkl").write_bytes(pickle.dumps([1.0]))
    bundle = sign_artifacts([model / "weights.pkl"], private_key=private, signature=tmp_path / "s")
    (model / "evil.pkl").write_bytes(pickle.dumps(Exploit()))
    verify_artifacts([model / "weights.pkl"], public_key=public, signature=bundle)
    for listed in ([model / "evil.pkl"], [model / "weights.pkl", model / "evil.pkl"]):
        with pytest.raises(Invalid, match=r"evil\.pkl"):
            verify_artifacts(listed, public_key=public, signature=bundle)


def test_a_file_added_to_a_signed_directory_does_not_verify(tmp_path: Path) -> None:
    pytest.importorskip("model_signing")
    private, public = write_keypair(tmp_path, "signer")
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.pkl").write_bytes(pickle.dumps([1.0]))
    bundle = sign_artifacts(model, private_key=private, signature=model / "model.sig")
    verify_artifacts(model, public_key=public, signature=bundle)  # its own bundle is ignored
    (model / "extra.pkl").write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(Invalid, match=r"extra\.pkl"):
        verify_artifacts(model, public_key=public, signature=bundle)


def test_escape_sequences_in_member_names_reach_the_terminal_as_text(tmp_path: Path) -> None:
    """A member named to clear the screen and conceal what follows is shown, not obeyed."""
    path = tmp_path / "model.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a\x1b[2J\x1b[8mhidden\x9b.pkl", b"\x80\x02cos\nsystem\n.")
    result = CliRunner().invoke(app, ["scan", "file", str(path)])
    assert result.exit_code == 1
    assert "\x1b" not in result.output
    assert "\x9b" not in result.output
    assert "\\x" in result.output  # shown as text, as \x1b
