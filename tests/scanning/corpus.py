"""Builds the scanner's corpora: a malicious artifact per technique, benign real models."""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import struct
import tarfile
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np

COMMAND = "echo pwned > /tmp/mlgate-should-never-exist"


class Exploit:
    """Unpickling this runs a shell command: the canonical malicious pickle."""

    def __reduce__(self) -> tuple[Callable[..., object], tuple[str]]:
        return (os.system, (COMMAND,))


class EvalExploit:
    def __reduce__(self) -> tuple[Callable[..., object], tuple[str]]:
        return (eval, ("__import__('os').getcwd()",))


def _pickle_ops(*parts: bytes) -> bytes:
    return b"".join(parts)


def _short_unicode(text: str) -> bytes:
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def memo_stack_global() -> bytes:
    """Module and name pushed, memoised, popped, then fetched back from the memo."""
    return _pickle_ops(
        b"\x80\x04",
        _short_unicode("os"),
        b"\x94",
        _short_unicode("system"),
        b"\x94",
        b"0",
        b"0",  # POP POP: the strings now live only in the memo
        b"h\x00",
        b"h\x01",
        b"\x93",
        _short_unicode(COMMAND),
        b"\x85",
        b"R",
        b".",
    )


def unresolved_stack_global() -> bytes:
    """STACK_GLOBAL whose module operand is a dict, not a constant string."""
    return _pickle_ops(b"\x80\x04", b"}", _short_unicode("system"), b"\x93", b".")


def inst_protocol0() -> bytes:
    return b"(S'" + COMMAND.encode() + b"'\nios\nsystem\n."


def ext_code() -> bytes:
    return b"\x80\x02\x82\x01)R."


def _crc_patch(path: Path, member: str) -> None:
    """Flips the stored CRC of ``member`` in both the local and the central header."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
        start_dir = archive.start_dir  # type: ignore[attr-defined]
    data[info.header_offset + 14] ^= 0xFF
    pos = start_dir
    for _ in range(10_000):
        if data[pos : pos + 4] != b"PK\x01\x02":
            break
        n, m, k = struct.unpack("<HHH", data[pos + 28 : pos + 34])
        if data[pos + 46 : pos + 46 + n].decode() == member:
            data[pos + 16] ^= 0xFF
        pos += 46 + n + m + k
    path.write_bytes(bytes(data))


def _torch_zip(
    path: Path,
    payload: bytes,
    *,
    pkl_name: str = "archive/data.pkl",
    compression: int = zipfile.ZIP_STORED,
) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/version", "3\n")
        archive.writestr(pkl_name, payload, compress_type=compression)
        archive.writestr("archive/data/0", b"\0" * 64)


def _gguf(path: Path, template: str) -> None:
    def string(text: str) -> bytes:
        raw = text.encode()
        return struct.pack("<Q", len(raw)) + raw

    body = b"GGUF" + struct.pack("<IQQ", 3, 0, 3)
    body += string("general.architecture") + struct.pack("<I", 8) + string("llama")
    scores = struct.pack("<IIQ", 9, 6, 2) + struct.pack("<ff", 1, 2)
    body += string("tokenizer.ggml.scores") + scores
    body += string("tokenizer.chat_template") + struct.pack("<I", 8) + string(template)
    path.write_bytes(body)


def _keras_zip(path: Path, layers: list[dict[str, object]]) -> None:
    config = {"class_name": "Sequential", "config": {"name": "seq", "layers": layers}}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.6.0"}))


_LAMBDA = {
    "class_name": "Lambda",
    "config": {
        "name": "evil",
        "function": {
            "class_name": "__lambda__",
            "config": {"code": "4wEAAAAAAAAAAAAAAAEAAAADAAAA"},
        },
    },
}
_DENSE = {"class_name": "Dense", "config": {"name": "dense", "units": 2}}


def _h5(path: Path, layers: list[dict[str, object]]) -> bool:
    try:
        import h5py
    except ImportError:
        return False
    config = {"class_name": "Sequential", "config": {"name": "seq", "layers": layers}}
    with h5py.File(path, "w") as h5:
        h5.attrs["model_config"] = json.dumps(config)
    return True


def _saved_model(directory: Path, ops: list[str]) -> None:
    directory.mkdir()
    body = b"\x08\x01"
    for op in ["Const", "MatMul", "SaveV2", "RestoreV2", *ops]:
        body += b"\x0a\x04node" + b"\x12" + bytes([len(op)]) + op.encode()
    (directory / "saved_model.pb").write_bytes(body)


def _onnx_external(path: Path, location: str) -> None:
    import onnx
    from onnx import TensorProto, helper

    tensor = helper.make_tensor("w", TensorProto.FLOAT, [1], [1.0])
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", location
    node = helper.make_node("Add", ["x", "w"], ["y"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        [tensor],
    )
    model = helper.make_model(graph)
    path.write_bytes(model.SerializeToString())
    del onnx


def _safetensors(
    path: Path, header: dict[str, object], data: bytes, length: int | None = None
) -> None:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + data)


def build_malicious(root: Path) -> list[Path]:
    """Writes one artifact per attack technique; every one must be flagged critical or high."""
    root.mkdir(parents=True, exist_ok=True)
    made: list[Path] = []

    def write(name: str, data: bytes) -> None:
        (root / name).write_bytes(data)
        made.append(root / name)

    for protocol in range(6):
        write(f"os_system_p{protocol}.pkl", pickle.dumps({"x": Exploit()}, protocol=protocol))
    write("eval_p2.pkl", pickle.dumps(EvalExploit(), protocol=2))
    write("memo_stack_global.pkl", memo_stack_global())
    write("unresolved_stack_global.pkl", unresolved_stack_global())
    write("inst_p0.pkl", inst_protocol0())
    write("ext_code.pkl", ext_code())
    inner = pickle.dumps(Exploit(), protocol=4)
    write("nested_bytes.pkl", pickle.dumps({"blob": inner}, protocol=4))
    write(
        "nested_loads.pkl",
        b"\x80\x03c_pickle\nloads\nq\x00C" + bytes([len(inner)]) + inner + b"\x85R.",
    )
    write("trailing_pickle.pkl", pickle.dumps([1, 2, 3]) + pickle.dumps(Exploit()))
    write("truncated.pkl", pickle.dumps(Exploit(), protocol=4)[:-6])
    write("disguised.safetensors", pickle.dumps(Exploit(), protocol=2))
    write("joblib_zlib.joblib", zlib.compress(pickle.dumps(Exploit(), protocol=4)))
    write("joblib_gzip.joblib", gzip.compress(pickle.dumps(Exploit(), protocol=4)))

    _torch_zip(root / "torch_zip.pt", pickle.dumps({"w": Exploit()}, protocol=2))
    _torch_zip(
        root / "torch_odd_name.pt",
        pickle.dumps(Exploit(), protocol=2),
        pkl_name="archive/data/weights.bin",
    )
    _torch_zip(
        root / "torch_bzip2.pt", pickle.dumps(Exploit(), protocol=2), compression=zipfile.ZIP_BZIP2
    )
    _torch_zip(
        root / "torch_deflate.pt",
        pickle.dumps(Exploit(), protocol=2),
        compression=zipfile.ZIP_DEFLATED,
    )
    _torch_zip(root / "torch_bad_crc.pt", pickle.dumps(Exploit(), protocol=2))
    _crc_patch(root / "torch_bad_crc.pt", "archive/data.pkl")
    made += [
        root / n
        for n in (
            "torch_zip.pt",
            "torch_odd_name.pt",
            "torch_bzip2.pt",
            "torch_deflate.pt",
            "torch_bad_crc.pt",
        )
    ]
    with zipfile.ZipFile(root / "zip_slip.zip", "w") as archive:
        archive.writestr("../../evil.pkl", pickle.dumps([1]))
    made.append(root / "zip_slip.zip")

    tar_payload = pickle.dumps(Exploit(), protocol=2)
    with tarfile.open(root / "legacy_tar.pt", "w") as archive:
        info = tarfile.TarInfo("pickle")
        info.size = len(tar_payload)
        archive.addfile(info, io.BytesIO(tar_payload))
    made.append(root / "legacy_tar.pt")

    objects = np.empty(2, dtype=object)
    objects[0] = Exploit()
    np.save(root / "object_array.npy", objects, allow_pickle=True)
    np.savez(root / "object_array.npz", a=objects, b=np.arange(3))
    made += [root / "object_array.npy", root / "object_array.npz"]

    _keras_zip(root / "lambda.keras", [_DENSE, _LAMBDA])
    made.append(root / "lambda.keras")
    if _h5(root / "lambda.h5", [_DENSE, _LAMBDA]):
        made.append(root / "lambda.h5")
    _saved_model(root / "savedmodel_pyfunc", ["PyFunc"])
    _saved_model(root / "savedmodel_files", ["ReadFile", "WriteFile"])
    made += [root / "savedmodel_pyfunc", root / "savedmodel_files"]

    (root / "onnx_escape").mkdir()
    _onnx_external(root / "onnx_escape" / "model.onnx", "../../../../etc/passwd")
    _onnx_external(root / "onnx_absolute.onnx", "/etc/shadow")
    made += [root / "onnx_escape", root / "onnx_absolute.onnx"]

    header = {"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 4096]}}
    _safetensors(root / "out_of_bounds.safetensors", header, b"\0" * 16)
    _safetensors(root / "huge_header.safetensors", {"w": {}}, b"", length=1 << 40)
    made += [root / "out_of_bounds.safetensors", root / "huge_header.safetensors"]

    import skops.io as sio

    sio.dump({"f": os.system}, root / "function.skops")
    made.append(root / "function.skops")

    _gguf(
        root / "ssti.gguf",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}{{ messages[0]['content'] }}",
    )
    made.append(root / "ssti.gguf")

    try:
        import torch
    except ImportError:
        return made
    torch.save({"w": torch.zeros(2), "x": Exploit()}, root / "torch_real.pt")
    made.append(root / "torch_real.pt")
    return made


def _save_safetensors(tensors: dict[str, np.ndarray], path: Path) -> None:
    """With the safetensors package when installed, else by the format's own rules."""
    try:
        from safetensors.numpy import save_file
    except ImportError:
        header: dict[str, object] = {}
        blobs, offset = [], 0
        for name, array in tensors.items():
            raw = np.ascontiguousarray(array).tobytes()
            dtype = {"float32": "F32", "int64": "I64"}[str(array.dtype)]
            header[name] = {
                "dtype": dtype,
                "shape": list(array.shape),
                "data_offsets": [offset, offset + len(raw)],
            }
            blobs.append(raw)
            offset += len(raw)
        _safetensors(path, header, b"".join(blobs))
        return
    save_file(tensors, str(path))


def build_benign(root: Path) -> list[Path]:
    """Writes real models saved the ordinary way; none may get a finding above info."""
    import joblib
    import skops.io as sio
    from skl2onnx import to_onnx
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    features = rng.random((40, 4)).astype(np.float32)
    labels = np.arange(40) % 2
    linear = make_pipeline(StandardScaler(), LogisticRegression()).fit(features, labels)
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(features, labels)

    joblib.dump(linear, root / "pipeline.joblib")
    joblib.dump(forest, root / "forest.joblib")
    joblib.dump(forest, root / "forest_zlib.joblib", compress=3)
    joblib.dump(forest, root / "forest_gzip.joblib", compress=("gzip", 3))
    (root / "forest.pkl").write_bytes(pickle.dumps(forest, protocol=5))
    (root / "linear_p2.pkl").write_bytes(pickle.dumps(linear, protocol=2))
    sio.dump(linear, root / "pipeline.skops")
    np.save(root / "array.npy", features)
    np.savez(root / "arrays.npz", a=features, b=labels)
    np.savez_compressed(root / "arrays_compressed.npz", a=features)
    (root / "model.onnx").write_bytes(
        to_onnx(linear, features[:1], target_opset=17).SerializeToString()
    )
    _save_safetensors({"w": features, "b": labels.astype(np.int64)}, root / "weights.safetensors")
    (root / "state.pkl").write_bytes(pickle.dumps(OrderedDict(a=1.5, b=[1, 2]), protocol=4))
    _keras_zip(root / "dense.keras", [_DENSE])
    _h5(root / "dense.h5", [_DENSE])
    _saved_model(root / "savedmodel", [])
    _gguf(
        root / "chat.gguf",
        "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}",
    )
    try:
        import torch
    except ImportError:
        return sorted(root.iterdir())
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    torch.save(net.state_dict(), root / "state_dict.pt")
    torch.save(net, root / "full_model.pt")
    torch.save(net.state_dict(), root / "legacy.pt", _use_new_zipfile_serialization=False)
    _save_safetensors(
        {k: v.detach().numpy() for k, v in net.state_dict().items()}, root / "torch.safetensors"
    )
    return sorted(root.iterdir())
