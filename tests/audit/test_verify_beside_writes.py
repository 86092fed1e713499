"""A full chain check never holds the write lock: writes commit beside it, and it reads one
snapshot from its first entry to the head row."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from mlgate.audit import service
from mlgate.auth.schemas import Principal
from mlgate.store.database import Database

WRITER_WAIT_MS = 200


def impatient_writer(url: str) -> Database:
    """Another pool on the same store whose writes give up after WRITER_WAIT_MS, not the
    store's 30 s: a writer kept waiting by the check fails the test at once."""
    if url.startswith("postgresql"):
        return Database(url, connect_args={"options": f"-c lock_timeout={WRITER_WAIT_MS}"})
    db = Database(url)

    @event.listens_for(db.engine, "connect")  # after make_engine's own pragmas
    def _short_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA busy_timeout={WRITER_WAIT_MS}")

    return db


def record(db: Database, actor: Principal, object_id: str) -> None:
    with db.unit_of_work() as session:
        service.record(
            session, actor=actor, action="thing.changed", object_type="thing", object_id=object_id
        )


def test_a_write_commits_while_a_verify_holds_its_snapshot(
    db: Database, db_url: str, admin: Principal
) -> None:
    for index in range(3):
        record(db, admin, f"t{index}")
    writer = impatient_writer(db_url)
    try:
        with db.read_only() as session:
            before = service.verify(session)  # has read every entry and the head row
            record(writer, admin, "during")  # another connection: commits, no waiting
            again = service.verify(session)
        with writer.read_only() as session:
            after = service.verify(session)
    finally:
        writer.dispose()
    assert (before.ok, before.head_seq) == (True, 3)
    assert again == before  # the same snapshot to the end: the new entry is not in it
    assert (after.ok, after.head_seq) == (True, 4)
