"""The schema check ``mlgate serve``, ``db current`` and /readyz rely on."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from mlgate.store.database import Database
from mlgate.store.migrate import current_revisions, is_current, upgrade


def test_a_store_migrated_to_every_head_is_current(db_url: str) -> None:
    db = Database(db_url)
    try:
        # A migration that depends on another branch's head replaces it in the version table.
        assert "0005_gateway" not in current_revisions(db.engine)
        assert is_current(db.engine)
    finally:
        db.dispose()


def test_a_store_behind_on_one_branch_is_not_current(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        upgrade(db.engine, "0007_readiness")
        assert not is_current(db.engine)
        upgrade(db.engine)
        assert is_current(db.engine)
    finally:
        db.dispose()


def test_an_empty_store_and_one_migrated_by_a_newer_mlgate_are_not_current(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        assert not is_current(db.engine)
        upgrade(db.engine)
        with db.engine.begin() as connection:
            connection.execute(text("INSERT INTO alembic_version VALUES ('0099_from_the_future')"))
        assert not is_current(db.engine)
    finally:
        db.dispose()
