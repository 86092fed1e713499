"""Alembic environment: runs online against the engine handed over by mlgate.store.migrate."""

from __future__ import annotations

from alembic import context

from mlgate.store.metadata import load_metadata

target_metadata = load_metadata()
engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
