"""Engine and unit of work: one transaction per request, CLI command or job.

On SQLite every unit of work starts with ``BEGIN IMMEDIATE``: writers queue on the database lock
(``busy_timeout``) instead of failing with "database is locked" when a read turns into a write.
The control plane is low-traffic, so serialising its transactions costs nothing that matters,
and it makes read-modify-write sequences (the audit chain head, version numbers) safe.

A long pure read (walking the whole audit chain, exporting it) must not hold that lock, or
every write waits for it and fails past the busy timeout: it takes ``read_only()``. On SQLite
that is a deferred ``BEGIN`` with ``query_only`` on, which WAL lets run beside the one writer;
on PostgreSQL a ``READ ONLY`` transaction at ``REPEATABLE READ``. Both read one snapshot, from
the first statement to the end, and refuse writes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, select, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["UNREACHABLE", "Database", "already_written", "make_engine"]

SQLITE_BUSY_TIMEOUT_MS = 30_000
PG_CONNECT_TIMEOUT_S = 10
UNREACHABLE = (InterfaceError, OperationalError)
"""What a store that is down, restarting or locked raises: worth trying again later."""
# An execution option naming a read-only unit of work on SQLite (see _install_sqlite_pragmas).
_READ_ONLY = "mlgate_read_only"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with mlgate's pragmas: WAL and foreign keys on SQLite, sane pools on both.

    Statement parameters never appear in errors: they hold request-log bodies, subject
    pseudonyms and sealed values, and a failed statement's exception is logged.
    """
    kwargs.setdefault("hide_parameters", True)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            _private_file(Path(database))
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            **kwargs,
        )
        _install_sqlite_pragmas(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    # A host that drops packets would hold each connect for the OS's two minutes; a URL's own
    # connect_timeout wins.
    kwargs.setdefault("connect_args", {})
    if "connect_timeout" not in parsed.query:
        kwargs["connect_args"].setdefault("connect_timeout", PG_CONNECT_TIMEOUT_S)
    return create_engine(url, **kwargs)


def already_written(connection: Connection | Session, column: Any, ids: list[str]) -> set[str]:
    """Which of ``ids`` ``column`` (a primary key) already holds: what an attempt whose commit
    answer was lost wrote after all. In chunks, within any driver's limit on bound values."""
    found: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found.update(connection.scalars(select(column).where(column.in_(chunk))))
    return found


def _private_file(path: Path) -> None:
    """Create the store's file readable by its owner only (SQLite's WAL files take its mode).

    It holds the audit log, route specs and request logs; sqlite3 would create it 0644.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _install_sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event, not pysqlite, decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = bool(connection.get_execution_options().get(_READ_ONLY, False))
        # query_only belongs to the pooled connection, not the transaction: a connection that
        # served a read-only unit must be able to write again in the next one.
        if connection.info.get(_READ_ONLY, False) != read_only:
            connection.exec_driver_sql(f"PRAGMA query_only={int(read_only)}")
            connection.info[_READ_ONLY] = read_only
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


class Database:
    """An engine plus a session factory; ``unit_of_work()`` commits or rolls back as one,
    ``read_only()`` reads one snapshot without ever taking the write lock."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        reading = (
            {_READ_ONLY: True}
            if self.engine.dialect.name == "sqlite"
            else {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        )
        self._read_only_sessions = sessionmaker(
            self.engine.execution_options(**reading), expire_on_commit=False
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def unit_of_work(self) -> AbstractContextManager[Session]:
        """A session whose work commits when the block ends and rolls back if it raises."""
        return _unit(self.sessions)

    def read_only(self) -> AbstractContextManager[Session]:
        """A unit of work for a long pure read: one snapshot, no write lock, writes refused.

        It ends with a commit like any unit, so a write added but never flushed is refused
        there too, not dropped in silence.
        """
        return _unit(self._read_only_sessions)

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def _unit(sessions: sessionmaker[Session]) -> Iterator[Session]:
    session = sessions()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
