"""Backup benchmark: back up, verify, restore and drill a >= 1 GB store (SQLite and PostgreSQL).

For each database it builds a store with many small versions (rows, audit entries) and large
artifacts (half random bytes like model weights, half compressible), then measures, while a
writer keeps registering versions: backup MB/s (plain and encrypted), deep verify MB/s, restore
MB/s into an empty store, and a drill's RTO. MB/s counts original (uncompressed) bytes.

    .venv/bin/python bench/backup.py [--gib 1.0] [--small 2000]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).parent))

from common import scratch_postgres, write_result
from mlgate.auth.schemas import Principal
from mlgate.backup import jobs, service
from mlgate.backup.cipher import generate_key
from mlgate.backup.restore import restore_backup
from mlgate.config import Settings
from mlgate.registry import service as registry
from mlgate.registry.schemas import ModelCreate, VersionCreate
from mlgate.runtime import Runtime
from mlgate.store.migrate import upgrade

ACTOR = Principal(name="bench", scopes=frozenset({"admin"}))
ARTIFACT = 16 * 1024 * 1024
MB = 1024 * 1024


def register(runtime: Runtime, model: str, data: bytes) -> None:
    with runtime.db.unit_of_work() as session:
        registry.register_version(
            session,
            blobs=runtime.blobs,
            model_name=model,
            version_in=VersionCreate(framework="onnx"),
            uploads=[registry.ArtifactUpload(name="model.onnx", stream=io.BytesIO(data))],
            max_bytes=4 * ARTIFACT,
            actor=ACTOR,
        )


def populate(runtime: Runtime, *, gib: float, small: int) -> dict[str, Any]:
    start = time.perf_counter()
    with runtime.db.unit_of_work() as session:
        for name in ("small", "large", "live"):
            registry.create_model(session, model_in=ModelCreate(name=name), actor=ACTOR)
    for index in range(small):
        register(runtime, "small", f"weights-{index}".encode() * 64)
    large = max(1, int(gib * 1024**3 / ARTIFACT) + 1)
    for _ in range(large):
        half = ARTIFACT // 2
        register(runtime, "large", os.urandom(half) + os.urandom(16 * 1024) * (half // (16 * 1024)))
    blob_bytes = sum(runtime.blobs.size(d) for d in runtime.blobs.iter_digests())
    return {
        "small_versions": small,
        "large_versions": large,
        "blob_bytes": blob_bytes,
        "populate_seconds": round(time.perf_counter() - start, 1),
    }


def run_store(
    url: str, scratch: Path, restore_url: str, *, gib: float, small: int
) -> dict[str, Any]:
    settings = Settings(
        database_url=url,
        data_dir=scratch / "data",
        secret_key=SecretStr("b" * 40),
        max_upload_bytes=4 * ARTIFACT,
    )
    runtime = Runtime.from_settings(settings)
    upgrade(runtime.db.engine)
    result: dict[str, Any] = populate(runtime, gib=gib, small=small)
    root = scratch / "backups"
    key = generate_key()

    stop = threading.Event()
    live_writes = [0]

    def writer() -> None:
        for index in range(100_000):
            if stop.is_set():
                return
            register(runtime, "live", f"live-{index}".encode() * 16)
            live_writes[0] += 1

    for label, use_key in (("plain", None), ("encrypted", key)):
        thread = threading.Thread(target=writer)
        before = live_writes[0]
        thread.start()
        start = time.perf_counter()
        backup = jobs.backup_job(runtime, actor=ACTOR, root=root, key=use_key)
        seconds = time.perf_counter() - start
        stop.set()
        thread.join(timeout=60)
        stop.clear()
        manifest_bytes = sum(e.content_size for e in _files(backup.path))
        result[f"backup_{label}"] = {
            "seconds": round(seconds, 2),
            "mb_per_s": round(manifest_bytes / MB / seconds, 1),
            "content_bytes": manifest_bytes,
            "stored_bytes": backup.size_bytes,
            "concurrent_writes_committed": live_writes[0] - before,
        }
        result[f"backup_{label}_path"] = backup.path

    encrypted = Path(result.pop("backup_encrypted_path"))
    result.pop("backup_plain_path")
    content = result["backup_encrypted"]["content_bytes"]
    start = time.perf_counter()
    report = service.verify_backup(path=encrypted, key=key)
    seconds = time.perf_counter() - start
    assert report.ok, report.problems
    result["verify_deep_encrypted"] = {
        "seconds": round(seconds, 2),
        "mb_per_s": round(content / MB / seconds, 1),
    }

    start = time.perf_counter()
    restored = restore_backup(
        backup=encrypted,
        target_url=restore_url,
        blob_dir=scratch / "restored-blobs",
        key=key,
        actor=ACTOR,
    )
    seconds = time.perf_counter() - start
    assert restored.verified
    result["restore_encrypted"] = {
        "seconds": round(seconds, 2),
        "mb_per_s": round(restored.bytes_restored / MB / seconds, 1),
        "note": "includes checking every checksum first and verifying rows, chain and blobs after",
    }
    drill = jobs.drill_job(runtime, actor=ACTOR, backup=encrypted, key=key, scratch_root=scratch)
    assert drill.ok, drill.detail
    result["drill"] = {
        "rto_seconds": drill.rto_seconds,
        "rpo_seconds": drill.rpo_seconds,
        "gateway_check": drill.gateway_check,
    }
    runtime.close()
    return result


def _files(path: str) -> list[Any]:
    from mlgate.backup.archive import read_manifest

    return read_manifest(Path(path)).files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gib", type=float, default=1.0, help="Artifact bytes to generate.")
    parser.add_argument("--small", type=int, default=2000, help="Small versions (rows).")
    args = parser.parse_args()
    results: dict[str, Any] = {"gib": args.gib}
    with tempfile.TemporaryDirectory(prefix="mlgate-bench-backup-") as tmp:
        scratch = Path(tmp) / "sqlite"
        scratch.mkdir()
        results["sqlite"] = run_store(
            f"sqlite:///{scratch / 'mlgate.db'}",
            scratch,
            f"sqlite:///{scratch / 'restored.db'}",
            gib=args.gib,
            small=args.small,
        )
        print("sqlite", results["sqlite"], flush=True)
        shutil.rmtree(scratch)
        scratch = Path(tmp) / "postgresql"
        scratch.mkdir()
        restore_name = f"mlgate_bench_restore_{uuid.uuid4().hex[:8]}"
        with scratch_postgres() as url:
            restore_url = url.rsplit("/", 1)[0] + "/" + restore_name
            try:
                results["postgresql"] = run_store(
                    url, scratch, restore_url, gib=args.gib, small=args.small
                )
            finally:
                from mlgate.backup.targets import drop_pg_database

                drop_pg_database(restore_url)
        print("postgresql", results["postgresql"], flush=True)
    print(write_result("backup", results))


if __name__ == "__main__":
    main()
