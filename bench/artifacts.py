"""Artifact benchmark: a large artifact through the registry's HTTP API against plain file I/O.

Each round moves the same bytes three ways, side by side:

- upload: the file baseline (a plain Python write in 1 MiB chunks and an fsync, into a file on
  the same disk), a bare HTTP sink (bench/sink.py: the raw body written to a file and fsynced)
  and mlgate (POST of a version with one multipart ``artifact`` part: parsed, hashed, written,
  fsynced, registered in the store);
- download: the file read back in 1 MiB chunks, the sink's GET, and mlgate's GET of the
  artifact (checked against its sha256 as it streams);
- ranged download of the second half: a seek and read, and the sink's and mlgate's GET with
  ``Range: bytes=A-`` (a 206; mlgate checks only the blob's size).

Every upload has fresh bytes (its last 16 differ), so no blob is shared. Each path reads back
what it has just written, from the page cache: the downloads measure the servers, not the disk.
The servers are child processes (`mlgate serve --role control` with its own data dir and SQLite
store; the sink) so their CPU seconds and the bytes they sent towards the disk (write_bytes of
/proc/PID/io) are theirs alone; for the file baseline they are this process's. The HTTP paths
share this machine's two cores with their client (httpx, in this process: ``client_cpu_s``),
which the file baseline does without; the sink shows what HTTP alone costs here. Rates are
medians over the rounds in MiB/s (1 MiB = 2^20 bytes), the ratios the median of per-round
ratios: this machine's speed drifts, and rounds put each ratio's runs seconds apart.

    .venv/bin/python bench/artifacts.py [--artifact-mb 200] [--repeat 5]
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).parent))

from common import cpu_seconds, free_port, io_counters, wait_up, write_result
from mlgate.auth import service as auth
from mlgate.auth.schemas import ApiKeyCreate, Principal, Scope
from mlgate.config import Settings
from mlgate.registry import service as registry
from mlgate.registry.schemas import ModelCreate
from mlgate.runtime import Runtime
from mlgate.store.migrate import upgrade

MIB = 1024 * 1024
CHUNK = MIB
STAMP = 16  # bytes at the end of the artifact that differ between uploads
SECRET = "bench-secret-" + "x" * 40
ADMIN = Principal(name="bench", scopes=frozenset({"admin"}))
MODEL = "big"
BOUNDARY = "mlgate-bench-boundary-7f3a9c2e"
MLGATE = str(Path(sys.executable).parent / "mlgate")
PATHS = ("file", "sink", "mlgate")
# Ratios reported per phase: name, numerator path, denominator path.
RATIOS = (("mlgate_vs_file", "mlgate", "file"), ("mlgate_vs_sink", "mlgate", "sink"))
RATIOS += (("sink_vs_file", "sink", "file"),)


@dataclass(frozen=True, slots=True)
class Transfer:
    """One timed transfer, and what the process doing the work spent on it."""

    size: int
    seconds: float
    cpu_s: float
    write_bytes: int
    client_cpu_s: float  # this process's: the HTTP client's work (the file baseline's own)

    @property
    def mib_s(self) -> float:
        return self.size / MIB / self.seconds


def timed_transfer(move: Callable[[], int], pid: int) -> Transfer:
    """Run ``move`` (it returns the bytes it moved), measuring process ``pid`` around it."""
    cpu, written = cpu_seconds(pid), io_counters(pid)["write_bytes"]
    client = time.process_time()
    start = time.perf_counter()
    size = move()
    seconds = time.perf_counter() - start
    return Transfer(
        size,
        seconds,
        cpu_s=cpu_seconds(pid) - cpu,
        write_bytes=io_counters(pid)["write_bytes"] - written,
        client_cpu_s=time.process_time() - client,
    )


class Payload:
    """The artifact's bytes, random like model weights; each upload ends in its own stamp."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.data = memoryview(os.urandom(size - STAMP))
        self._hashed = hashlib.sha256(self.data)  # so each upload's digest costs 16 bytes

    def chunks(self, stamp: bytes) -> Iterator[bytes | memoryview]:
        for start in range(0, len(self.data), CHUNK):
            yield self.data[start : start + CHUNK]
        yield stamp

    def sha256(self, stamp: bytes) -> str:
        hasher = self._hashed.copy()
        hasher.update(stamp)
        return hasher.hexdigest()


def write_file(path: Path, payload: Payload, stamp: bytes) -> int:
    with path.open("wb") as out:
        for chunk in payload.chunks(stamp):
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return payload.size


def read_file(path: Path, offset: int = 0) -> int:
    read = 0
    with path.open("rb", buffering=0) as source:
        source.seek(offset)
        while chunk := source.read(CHUNK):
            read += len(chunk)
    return read


def post_sink(http: httpx.Client, name: str, payload: Payload, stamp: bytes) -> int:
    response = http.post(
        f"/{name}",
        content=payload.chunks(stamp),
        headers={"Content-Length": str(payload.size)},
    )
    _expect(response, 201)
    return payload.size


def post_version(http: httpx.Client, payload: Payload, stamp: bytes) -> tuple[int, int]:
    """Register a version of MODEL with the artifact; returns (bytes sent, version number)."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n'
        '{"framework": "onnx"}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="artifact"; filename="model.bin"'
        "\r\nContent-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    response = http.post(
        f"/api/v1/models/{MODEL}/versions",
        content=itertools.chain([head], payload.chunks(stamp), [tail]),
        headers={
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Content-Length": str(len(head) + payload.size + len(tail)),
        },
    )
    _expect(response, 201)
    artifact = response.json()["artifacts"][0]
    if artifact["sha256"] != payload.sha256(stamp):
        raise RuntimeError(f"mlgate stored {artifact['sha256']}, not what was sent")
    return payload.size, int(response.json()["version"])


def get(http: httpx.Client, url: str, offset: int = 0) -> int:
    """GET ``url`` (from ``offset`` on, with a Range) and count the body's bytes."""
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    received = 0
    with http.stream("GET", url, headers=headers) as response:
        _expect(response, 206 if offset else 200)
        for chunk in response.iter_raw():
            received += len(chunk)
    return received


def _expect(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        response.read()
        raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text}")


def prepare(data_dir: Path) -> tuple[Settings, str]:
    """A store with model MODEL and a registry:write key for it; returns settings and key."""
    settings = Settings(
        database_url=f"sqlite:///{data_dir}/mlgate.db",
        data_dir=data_dir,
        secret_key=SecretStr(SECRET),
    )
    runtime = Runtime.from_settings(settings)
    try:
        upgrade(runtime.db.engine)
        with runtime.db.unit_of_work() as session:
            registry.create_model(session, model_in=ModelCreate(name=MODEL), actor=ADMIN)
            created = auth.create(
                session,
                secret=runtime.secret,
                actor=ADMIN,
                key_in=ApiKeyCreate(name="bench", owner="bench", scopes=[Scope.REGISTRY_WRITE]),
            )
    finally:
        runtime.close()
    return settings, created.key.get_secret_value()


def round_moves(
    baseline: Path, name: str, payload: Payload, sink: httpx.Client, mlgate: httpx.Client
) -> dict[str, dict[str, Callable[[], int]]]:
    """One round's transfers, phase by phase and path by path, to run in this order."""
    version = 0
    half = payload.size // 2

    def upload() -> int:
        nonlocal version
        sent, version = post_version(mlgate, payload, uuid.uuid4().bytes)
        return sent

    def artifact() -> str:
        return f"/api/v1/models/{MODEL}/versions/{version}/artifacts/model.bin"

    return {
        "upload": {
            "file": lambda: write_file(baseline, payload, uuid.uuid4().bytes),
            "sink": lambda: post_sink(sink, name, payload, uuid.uuid4().bytes),
            "mlgate": upload,
        },
        "download": {
            "file": lambda: read_file(baseline),
            "sink": lambda: get(sink, f"/{name}"),
            "mlgate": lambda: get(mlgate, artifact()),
        },
        "ranged_download": {
            "file": lambda: read_file(baseline, half),
            "sink": lambda: get(sink, f"/{name}", half),
            "mlgate": lambda: get(mlgate, artifact(), half),
        },
    }


def summarise(runs: dict[str, list[Transfer]]) -> dict[str, Any]:
    """Medians per path, the bytes its process wrote, and the ratios of rates between paths."""
    phase: dict[str, Any] = {
        path: {
            "mib_s": round(statistics.median(t.mib_s for t in transfers), 1),
            "seconds": round(statistics.median(t.seconds for t in transfers), 3),
            "cpu_s": round(statistics.median(t.cpu_s for t in transfers), 2),
            "write_mib": round(statistics.median(t.write_bytes for t in transfers) / MIB, 1),
            "client_cpu_s": round(statistics.median(t.client_cpu_s for t in transfers), 2),
            "rounds_mib_s": [round(t.mib_s, 1) for t in transfers],
        }
        for path, transfers in runs.items()
    }
    for name, numerator, denominator in RATIOS:
        pairs = zip(runs[numerator], runs[denominator], strict=True)
        phase[f"ratio_{name}"] = round(statistics.median(a.mib_s / b.mib_s for a, b in pairs), 3)
    return phase


@dataclass(frozen=True, slots=True)
class Servers:
    sink: httpx.Client
    mlgate: httpx.Client
    pids: dict[str, int]  # path -> the process that does its work


@contextmanager
def servers(root: Path, size: int) -> Iterator[Servers]:
    """The sink and `mlgate serve --role control` in child processes, under ``root``."""
    settings, key = prepare(root / "mlgate")
    sink_port, mlgate_port = free_port(), free_port()
    env = {
        **os.environ,
        "MLGATE_SECRET_KEY": SECRET,
        "MLGATE_LOG_LEVEL": "WARNING",
        "MLGATE_DATABASE_URL": settings.database_url,
        "MLGATE_DATA_DIR": str(settings.data_dir),
        "MLGATE_MAX_UPLOAD_BYTES": str(max(settings.max_upload_bytes, 2 * size)),
    }
    sink_cmd = [sys.executable, str(Path(__file__).parent / "sink.py"), str(sink_port)]
    serve_cmd = [MLGATE, "serve", "--role", "control", "--port", str(mlgate_port)]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes.append(subprocess.Popen([*sink_cmd, str(root / "sink")]))
        processes.append(subprocess.Popen(serve_cmd, env=env, stdout=subprocess.DEVNULL))
        sink_url, mlgate_url = (f"http://127.0.0.1:{port}" for port in (sink_port, mlgate_port))
        wait_up(f"{sink_url}/up")
        wait_up(f"{mlgate_url}/healthz")
        with (
            httpx.Client(base_url=sink_url, timeout=300) as sink,
            httpx.Client(
                base_url=mlgate_url, headers={"Authorization": f"Bearer {key}"}, timeout=300
            ) as mlgate,
        ):
            pids = {"file": os.getpid(), "sink": processes[0].pid, "mlgate": processes[1].pid}
            yield Servers(sink, mlgate, pids)
    finally:
        for process in processes:
            process.kill()
            process.wait()


def run(size: int, repeat: int) -> dict[str, Any]:
    payload = Payload(size)
    started = time.perf_counter()
    hashlib.sha256(payload.data)
    hashing = size / MIB / (time.perf_counter() - started)
    phases = ("upload", "download", "ranged_download")  # as round_moves orders them
    runs: dict[str, dict[str, list[Transfer]]] = {p: {path: [] for path in PATHS} for p in phases}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for path in PATHS:
            (root / path).mkdir()
        with servers(root, size) as serving:
            for index in range(repeat):
                name = f"round-{index}.bin"
                baseline = root / "file" / name
                moves = round_moves(baseline, name, payload, serving.sink, serving.mlgate)
                for phase, by_path in moves.items():
                    for path, move in by_path.items():
                        runs[phase][path].append(timed_transfer(move, serving.pids[path]))
                baseline.unlink()
                (root / "sink" / name).unlink()
                print(f"round {index + 1}/{repeat} done", file=sys.stderr)
    return {
        "artifact_mib": round(size / MIB, 1),
        "repeat": repeat,
        "sha256_in_memory_mib_s": round(hashing, 1),
        **{phase: summarise(runs[phase]) for phase in phases},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--artifact-mb", type=float, default=200, help="artifact size in MiB")
    parser.add_argument("--repeat", type=int, default=5, help="rounds (every path once each)")
    args = parser.parse_args()
    results = run(int(args.artifact_mb * MIB), args.repeat)
    print(json.dumps(results, indent=2))
    print(f"wrote {write_result('artifacts', results)}")


if __name__ == "__main__":
    main()
