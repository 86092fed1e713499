"""Registry benchmark: register 10,000 versions, then time list, search and show.

For each database (SQLite, PostgreSQL) it measures register throughput through the service,
then p50/p99 of: list (page of 50) through the service and through HTTP on a live server,
search (models by name substring and tag), show one version; the baseline is the same page
fetched with one raw SQL query on the same connection pool, so the ratio is mlgate's overhead.

    .venv/bin/python bench/registry.py [--versions 10000]
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from pydantic import SecretStr
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).parent))

from common import scratch_postgres, summarise_ms, timed, write_result
from mlgate.app import create_app
from mlgate.auth import service as auth
from mlgate.auth.schemas import ApiKeyCreate, Principal, Scope
from mlgate.config import Settings
from mlgate.registry import service
from mlgate.registry.schemas import ModelCreate, VersionCreate
from mlgate.runtime import Runtime
from mlgate.store.migrate import upgrade

ACTOR = Principal(name="bench", scopes=frozenset({"admin"}))
MODELS = 100


def populate(runtime: Runtime, versions: int) -> dict[str, float]:
    with runtime.db.unit_of_work() as session:
        for index in range(MODELS):
            service.create_model(
                session,
                model_in=ModelCreate(name=f"model-{index:03d}", tags=[f"team{index % 10}"]),
                actor=ACTOR,
            )
    start = time.perf_counter()
    for index in range(versions):
        payload = f"weights-{index}".encode() * 8
        with runtime.db.unit_of_work() as session:
            service.register_version(
                session,
                blobs=runtime.blobs,
                model_name=f"model-{index % MODELS:03d}",
                version_in=VersionCreate(framework="onnx"),
                uploads=[service.ArtifactUpload(name="model.onnx", stream=io.BytesIO(payload))],
                max_bytes=1 << 20,
                actor=ACTOR,
            )
    elapsed = time.perf_counter() - start
    return {
        "versions": versions,
        "seconds": round(elapsed, 2),
        "versions_per_s": round(versions / elapsed, 1),
    }


def serve(runtime: Runtime) -> tuple[uvicorn.Server, str]:
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime=runtime), host="127.0.0.1", port=0, log_level="error")
    )
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


def measure(runtime: Runtime, repeat: int, versions: int) -> dict[str, object]:
    rng = random.Random(7)
    names = [f"model-{i:03d}" for i in range(MODELS)]

    def list_service() -> None:
        with runtime.db.unit_of_work() as session:
            service.list_versions(session, model_name=rng.choice(names), limit=50)

    def list_raw_sql() -> None:
        with runtime.db.engine.connect() as connection:
            model_id = connection.execute(
                text("SELECT id FROM models WHERE name = :n"), {"n": rng.choice(names)}
            ).scalar_one()
            rows = connection.execute(
                text(
                    "SELECT * FROM model_versions WHERE model_id = :m "
                    "ORDER BY version DESC LIMIT 50"
                ),
                {"m": model_id},
            ).all()
            connection.execute(
                text("SELECT * FROM artifacts WHERE version_id IN :ids").bindparams(
                    __import__("sqlalchemy").bindparam("ids", expanding=True)
                ),
                {"ids": [row.id for row in rows]},
            ).all()

    def search_service() -> None:
        with runtime.db.unit_of_work() as session:
            service.list_models(session, query=f"-0{rng.randint(0, 9)}", tag="team3", limit=50)

    def show_service() -> None:
        with runtime.db.unit_of_work() as session:
            service.get_version(
                session, model_name=rng.choice(names), version=rng.randint(1, versions // MODELS)
            )

    with runtime.db.unit_of_work() as session:
        key = auth.create(
            session,
            secret=runtime.secret,
            actor=ACTOR,
            key_in=ApiKeyCreate(name="bench", owner="bench", scopes=[Scope.REGISTRY_READ]),
        ).key.get_secret_value()
    server, url = serve(runtime)
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as http:

            def list_http() -> None:
                response = http.get(f"/api/v1/models/{rng.choice(names)}/versions?limit=50")
                response.raise_for_status()

            for call in (list_service, list_raw_sql, list_http):  # warm up pools and caches
                timed(call, 20)
            results = {
                "list_page50_raw_sql_baseline": summarise_ms(timed(list_raw_sql, repeat)),
                "list_page50_service": summarise_ms(timed(list_service, repeat)),
                "list_page50_http": summarise_ms(timed(list_http, repeat)),
                "search_models": summarise_ms(timed(search_service, repeat)),
                "show_version": summarise_ms(timed(show_service, repeat)),
            }
    finally:
        server.should_exit = True
    base = results["list_page50_raw_sql_baseline"]["p50_ms"]
    results["ratio_service_vs_raw_sql_p50"] = round(
        results["list_page50_service"]["p50_ms"] / base, 2
    )
    results["ratio_http_vs_raw_sql_p50"] = round(results["list_page50_http"]["p50_ms"] / base, 2)
    return results


def run_one(url: str, data_dir: Path, versions: int, repeat: int) -> dict[str, object]:
    settings = Settings(
        database_url=url, data_dir=data_dir, secret_key=SecretStr("bench-secret-" + "x" * 40)
    )
    runtime = Runtime.from_settings(settings)
    upgrade(runtime.db.engine)
    try:
        register = populate(runtime, versions)
        return {"register": register, **measure(runtime, repeat, versions)}
    finally:
        runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=500)
    args = parser.parse_args()
    results: dict[str, object] = {"versions": args.versions, "models": MODELS}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = run_one(
            f"sqlite:///{tmp}/bench.db", Path(tmp) / "s", args.versions, args.repeat
        )
        print("sqlite", results["sqlite"])
        with scratch_postgres() as url:
            results["postgresql"] = run_one(url, Path(tmp) / "p", args.versions, args.repeat)
        print("postgresql", results["postgresql"])
    sqlite_p99 = results["sqlite"]["list_page50_service"]["p99_ms"]  # type: ignore[index]
    results["target"] = {"list_p99_ms_sqlite_under": 20, "met": sqlite_p99 < 20}
    path = write_result("registry", results)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
