"""Restore targets: is a store empty, move a store aside (never delete it), create a database.

A SQLite store is a file plus its ``-wal``/``-shm``/``-journal`` side files; moving it aside
renames them all. A side file left without its store (a crash, then the store deleted by hand)
makes the target non-empty: SQLite would replay a stale WAL onto the restored file. A PostgreSQL
store is a database; moving it aside renames the database, after ending the sessions that use
it (the operator asked for ``--force``). Blob directories are renamed the same way.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError

from mlgate.backup.snapshot import sqlite_path
from mlgate.errors import Invalid
from mlgate.registry.blobstore import LocalBlobStore

__all__ = [
    "TargetState",
    "blob_dir_state",
    "create_pg_database",
    "dialect_of",
    "drop_pg_database",
    "move_blob_dir_aside",
    "move_store_aside",
    "sqlite_side_files",
    "store_state",
]

TargetState = Literal["missing", "empty", "non-empty"]
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def dialect_of(url: str) -> Literal["sqlite", "postgresql"]:
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        return "sqlite"
    if backend == "postgresql":
        return "postgresql"
    raise Invalid.field("target", f"'{backend}' stores are not supported (SQLite or PostgreSQL)")


def sqlite_side_files(path: Path) -> list[Path]:
    """The ``-wal``/``-shm``/``-journal`` files beside the SQLite store at ``path`` that exist."""
    sides = (path.with_name(path.name + suffix) for suffix in SQLITE_SIDE_FILES)
    return [side for side in sides if side.exists()]


def _admin_engine(url: str) -> Engine:
    maintenance = make_url(url).set(database="postgres")
    return create_engine(maintenance, isolation_level="AUTOCOMMIT")


def _has_tables(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            return bool(inspect(connection).get_table_names())
    except DatabaseError:
        if engine.dialect.name != "sqlite":
            raise
        return True  # a file that is not a SQLite database: something is there all the same


def store_state(url: str) -> TargetState:
    if dialect_of(url) == "sqlite":
        path = sqlite_path(url)
        if sqlite_side_files(path):  # checked before opening: opening would replay a stale WAL
            return "non-empty"
        if not path.exists():
            return "missing"
        engine = create_engine(f"sqlite:///{path}")
    else:
        name = make_url(url).database
        admin = _admin_engine(url)
        try:
            with admin.connect() as connection:
                found = connection.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
                ).first()
        finally:
            admin.dispose()
        if found is None:
            return "missing"
        engine = create_engine(url)
    try:
        return "non-empty" if _has_tables(engine) else "empty"
    finally:
        engine.dispose()


def _stamp(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%SZ")


def move_store_aside(url: str, *, now: datetime) -> str:
    """Rename the store at ``url`` out of the way; returns where it went."""
    if dialect_of(url) == "sqlite":
        path = sqlite_path(url)
        aside = path.with_name(f"{path.name}.replaced-{_stamp(now)}")
        if aside.exists() or sqlite_side_files(aside):
            raise Invalid(f"{aside} already exists; wait a second and try again")
        suffixes = [side.name.removeprefix(path.name) for side in sqlite_side_files(path)]
        for suffix in suffixes:
            os.rename(path.with_name(path.name + suffix), aside.with_name(aside.name + suffix))
        if suffixes and not path.exists():  # the store was deleted by hand, its side files not
            return f"{aside}{suffixes[0]}"
        os.rename(path, aside)
        return str(aside)
    name = make_url(url).database or ""
    aside_name = f"{name[:40]}_replaced_{_stamp(now).lower()}"
    admin = _admin_engine(url)
    try:
        with admin.connect() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            quote = connection.dialect.identifier_preparer.quote
            connection.execute(text(f"ALTER DATABASE {quote(name)} RENAME TO {quote(aside_name)}"))
    finally:
        admin.dispose()
    return aside_name


def create_pg_database(url: str) -> None:
    name = make_url(url).database or ""
    admin = _admin_engine(url)
    try:
        with admin.connect() as connection:
            quote = connection.dialect.identifier_preparer.quote
            connection.execute(text(f"CREATE DATABASE {quote(name)}"))
    finally:
        admin.dispose()


def drop_pg_database(url: str) -> None:
    """Only for scratch databases mlgate created itself (drills)."""
    name = make_url(url).database or ""
    admin = _admin_engine(url)
    try:
        with admin.connect() as connection:
            quote = connection.dialect.identifier_preparer.quote
            connection.execute(text(f"DROP DATABASE IF EXISTS {quote(name)} WITH (FORCE)"))
    finally:
        admin.dispose()


def blob_dir_state(path: Path) -> TargetState:
    if not path.exists():
        return "missing"
    return "non-empty" if next(LocalBlobStore(path).iter_digests(), None) else "empty"


def move_blob_dir_aside(path: Path, *, now: datetime) -> str:
    aside = path.with_name(f"{path.name}.replaced-{_stamp(now)}")
    if aside.exists():
        raise Invalid(f"{aside} already exists; wait a second and try again")
    os.rename(path, aside)
    return str(aside)
