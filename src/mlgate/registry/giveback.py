"""Blobs of a registration whose transaction did not commit are given back.

The registry writes a version's blobs before its rows (see ``registry.service``), so a
transaction that fails after the service returned (its COMMIT refused, a later write in it
failing, a rollback) would leave blobs no version names, forever.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine, event, select, text
from sqlalchemy.orm import Session, SessionTransaction

from mlgate.registry.blobstore import BlobStore, StoredBlob
from mlgate.registry.models import Artifact, Model

__all__ = ["GIVE_BACK_LOCK_TIMEOUT", "give_back_unless_committed"]

# How long giving back a failed registration's blobs waits for the model's row: a commit whose
# answer was lost may still be under way, and it holds that row (PostgreSQL).
GIVE_BACK_LOCK_TIMEOUT = "5s"

logger = logging.getLogger(__name__)


def give_back_unless_committed(
    session: Session, *, blobs: BlobStore, created: list[StoredBlob], model_name: str
) -> None:
    """Give back the blobs a registration created when the caller's transaction ends without
    committing (its COMMIT fails, a later write in it fails, it rolls back): the version's rows
    go, and a blob no version names would stay forever.

    What must stay true: a blob a committed version names is never given back. Another
    upload's claim keeps it (``BlobStore.release``); and the database is asked first, so a
    commit whose answer was lost but that landed keeps its blobs. It is asked after the
    model's row is free (a commit still under way holds it); if it cannot answer, the blobs
    stay, an orphan rather than a lost artifact.
    """
    root = session.get_transaction()
    if not created or root is None:
        return
    committed = False
    # The listeners stay on the session, idle once ``root`` has ended (SQLAlchemy cannot remove
    # a listener while it dispatches); the session goes when its unit of work does.

    def on_commit(session: Session) -> None:
        nonlocal committed
        if session.get_transaction() is root and session.get_nested_transaction() is None:
            committed = True  # not a savepoint's release: the rows are in the database

    def on_end(session: Session, transaction: SessionTransaction) -> None:
        if transaction is not root or committed:
            return
        digests = sorted({blob.sha256 for blob in created})
        try:
            named = _named_blobs(session.get_bind().engine, model_name, digests)
            for blob in created:
                if blob.sha256 not in named:
                    blobs.release(blob)
        except Exception:  # raised here it would hide why the transaction failed
            logger.exception(
                "blobs of a registration that did not commit were kept",
                extra={"model": model_name, "sha256": digests},
            )

    event.listen(session, "after_commit", on_commit)
    event.listen(session, "after_transaction_end", on_end)


def _named_blobs(engine: Engine, model_name: str, digests: list[str]) -> set[str]:
    """Which of ``digests`` a committed artifact names, once no commit that registers a version
    of ``model_name`` is under way (on SQLite, BEGIN IMMEDIATE waits for every writer)."""
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"SET LOCAL lock_timeout = '{GIVE_BACK_LOCK_TIMEOUT}'"))
        connection.execute(select(Model.id).where(Model.name == model_name).with_for_update())
        named = connection.scalars(
            select(Artifact.sha256).where(Artifact.sha256.in_(digests)).distinct()
        )
        return set(named)
