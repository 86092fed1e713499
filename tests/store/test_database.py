"""The read-only unit of work on both databases: it refuses writes and leaves no trace."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.store.database import Database


def record(db: Database, actor: Principal) -> None:
    with db.unit_of_work() as session:
        audit.record(session, actor=actor, action="thing.changed", object_type="t", object_id="1")


def test_a_write_inside_a_read_only_unit_is_refused(db: Database, admin: Principal) -> None:
    record(db, admin)
    with pytest.raises(DBAPIError), db.read_only() as session:
        audit.record(session, actor=admin, action="thing.changed", object_type="t", object_id="2")
    with pytest.raises(DBAPIError), db.read_only() as session:
        session.execute(text("DELETE FROM audit_entries"))
    with db.read_only() as session:
        assert audit.count(session) == 1
        assert audit.verify(session).ok


def test_a_connection_that_served_a_read_only_unit_writes_again(
    db_url: str, admin: Principal
) -> None:
    db = Database(db_url, pool_size=1, max_overflow=0)  # one connection serves every unit
    try:
        with db.read_only() as session:
            assert audit.count(session) == 0
        record(db, admin)
        with db.read_only() as session:
            assert audit.count(session) == 1
        record(db, admin)
        with db.read_only() as session:
            assert audit.verify(session).entries == 2
    finally:
        db.dispose()
