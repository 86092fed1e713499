"""What someone with write access to the store can do to the audit log, without any secret."""

from __future__ import annotations

from sqlalchemy import text

from mlgate.store.database import Database


def tamper(db: Database, *statements: str) -> None:
    with db.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


def cut_off_the_end(db: Database, keep: int) -> None:
    """Delete every entry after ``keep`` and rewind the head row to it: the chain still holds."""
    with db.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_entries WHERE seq > :keep"), {"keep": keep})
        connection.execute(
            text(
                "UPDATE audit_head SET seq = :keep, "
                "hash = (SELECT hash FROM audit_entries WHERE seq = :keep)"
            ),
            {"keep": keep},
        )
