"""Alembic, driven from code: ``mlgate init`` and ``mlgate db upgrade`` call ``upgrade()``.

Each domain's migrations form a branch off the foundation revision, so domains evolve their own
tables independently; ``upgrade`` always goes to every head.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

__all__ = ["alembic_config", "current_revisions", "is_current", "script_heads", "upgrade"]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Bring the schema to ``revision`` (every head by default); safe to run again."""
    command.upgrade(alembic_config(engine), revision)


def script_heads(engine: Engine) -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())


def current_revisions(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def is_current(engine: Engine) -> bool:
    """True when every head the code knows is applied, and nothing the code does not know.

    Not "the stored heads equal the code's heads": a migration that depends on another
    branch's head (``depends_on``) takes that head's place in Alembic's version table.
    """
    script = ScriptDirectory.from_config(alembic_config(engine))
    current = current_revisions(engine)
    if not current <= {revision.revision for revision in script.walk_revisions()}:
        return False  # a newer mlgate migrated this store
    applied = {r.revision for r in script.revision_map.iterate_revisions(tuple(current), "base")}
    return set(script.get_heads()) <= applied
