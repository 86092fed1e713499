"""Backup fixtures: register versions quickly; restore targets that clean up after themselves."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from mlgate.auth.schemas import Principal
from mlgate.registry import service as registry
from mlgate.registry.schemas import ModelCreate, VersionCreate, VersionRead
from mlgate.runtime import Runtime
from tests.conftest import PG_ADMIN_URL


def create_model(runtime: Runtime, actor: Principal, name: str) -> None:
    with runtime.db.unit_of_work() as session:
        registry.create_model(session, model_in=ModelCreate(name=name), actor=actor)


def register(runtime: Runtime, actor: Principal, model: str, data: bytes) -> VersionRead:
    with runtime.db.unit_of_work() as session:
        return registry.register_version(
            session,
            blobs=runtime.blobs,
            model_name=model,
            version_in=VersionCreate(framework="onnx"),
            uploads=[registry.ArtifactUpload(name="model.onnx", stream=io.BytesIO(data))],
            max_bytes=64 * 1024 * 1024,
            actor=actor,
        )


def populate(
    runtime: Runtime, actor: Principal, *, model: str = "churn", versions: int = 3
) -> None:
    create_model(runtime, actor, model)
    for index in range(versions):
        register(runtime, actor, model, os.urandom(2048) + f"{model}-{index}".encode() * 100)


def drop_pg_databases(prefix: str) -> None:
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            names = (
                connection.execute(
                    text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                    {"p": prefix + "%"},
                )
                .scalars()
                .all()
            )
            for name in names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


@pytest.fixture
def restore_target(db_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty (not yet existing) store of the same kind as ``db_url``."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored' / 'mlgate.db'}"
        return
    name = f"mlgate_r_{uuid.uuid4().hex[:12]}"
    yield f"postgresql+psycopg://127.0.0.1:5432/{name}"
    drop_pg_databases(name)


@pytest.fixture
def backup_root(tmp_path: Path) -> Path:
    return tmp_path / "backups"
