"""Blobs of a registration whose transaction did not commit are given back.

The registry writes a version's blobs before its rows (see ``registry.service``), so a
transaction that fails after the service returned (its COMMIT refused, a later write in it
failing, a rollback) would leave blobs no version names, forever; so would a savepoint that
rolls back the registration while the transaction around it commits.

Each registration records the blobs it created in ``session.info``, with the savepoint it ran in;
one pair of listeners per session reads that list. A savepoint that is released hands its blobs
to the savepoint or transaction around it; one that rolls back marks them doubtful; when the
transaction ends, the list goes, and the blobs are given back unless a committed version names
them: all of them when it did not commit, the doubtful ones when it did.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import Engine, event, select, text
from sqlalchemy.orm import Session, SessionTransaction

from mlgate.registry.blobstore import BlobStore, StoredBlob
from mlgate.registry.models import Artifact, Model

__all__ = ["GIVE_BACK_LOCK_TIMEOUT", "give_back_unless_committed", "pending_blobs"]

# How long giving back a failed registration's blobs waits for the models' rows: a commit whose
# answer was lost may still be under way, and it holds those rows (PostgreSQL).
GIVE_BACK_LOCK_TIMEOUT = "5s"
_KEY = "mlgate.registry.giveback"

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _Created:
    store: BlobStore
    blob: StoredBlob
    # The savepoint (or the transaction) whose rows name the blob; None once that savepoint
    # rolled back: only a later registration of the same bytes (which does not claim it, see
    # ``pending_blobs``) can name it then.
    level: SessionTransaction | None


@dataclass(slots=True)
class _Registrations:
    """What the registrations of one transaction (``root``) created."""

    root: SessionTransaction
    created: list[_Created] = field(default_factory=list)
    models: set[str] = field(default_factory=set)
    committed: bool = False


def _registrations(session: Session) -> _Registrations | None:
    """This transaction's record, if it registered anything (a record of an earlier one that did
    not reach its end through these listeners is dropped)."""
    found: _Registrations | None = session.info.get(_KEY)
    if found is not None and found.root is not session.get_transaction():
        del session.info[_KEY]
        return None
    return found


def pending_blobs(session: Session) -> list[StoredBlob]:
    """The blobs registrations in the session's transaction created and that are not given
    back yet. A registration of the same bytes passes them to the blob store as ``earlier``:
    claiming one would keep it forever if the transaction fails (``BlobStore.release``)."""
    found = _registrations(session)
    return [] if found is None else [entry.blob for entry in found.created]


def give_back_unless_committed(
    session: Session, *, blobs: BlobStore, created: list[StoredBlob], model_name: str
) -> None:
    """Give back the blobs a registration created unless its rows are committed: when the
    caller's transaction ends without committing (its COMMIT fails, a later write in it fails,
    it rolls back), or commits after the savepoint the registration ran in rolled back.

    What must stay true: a blob a committed version names is never given back. Another
    upload's claim keeps it (``BlobStore.release``); and the database is asked first, so a
    commit whose answer was lost but that landed keeps its blobs. It is asked after the
    models' rows are free (a commit still under way holds them); if it cannot answer, the blobs
    stay, an orphan rather than a lost artifact.
    """
    root = session.get_transaction()
    found = _registrations(session)
    if root is None or (found is None and not created):
        return
    if found is None:
        found = session.info[_KEY] = _Registrations(root)
    level = session.get_nested_transaction() or root
    found.created.extend(_Created(blobs, blob, level) for blob in created)
    found.models.add(model_name)
    # One pair per session, for as long as it lives: SQLAlchemy cannot remove a listener while
    # it dispatches, and the pair is idle in a transaction that registered nothing.
    if not event.contains(session, "after_transaction_end", _on_end):
        event.listen(session, "after_commit", _on_commit)
        event.listen(session, "after_transaction_end", _on_end)


def _on_commit(session: Session) -> None:
    found = session.info.get(_KEY)
    if found is None:
        return
    nested = session.get_nested_transaction()
    if nested is None:  # the transaction itself, not a savepoint's release
        if session.get_transaction() is found.root:
            found.committed = True  # the rows are in the database
        return
    around = nested.parent
    while around is not None and around.parent is not None and not around.nested:
        around = around.parent  # a subtransaction (a flush) is no savepoint
    for entry in found.created:
        if entry.level is nested:
            entry.level = around


def _on_end(session: Session, transaction: SessionTransaction) -> None:
    found = session.info.get(_KEY)
    if found is None:
        return
    if transaction.nested:  # released first (see _on_commit) if it did not roll back
        for entry in found.created:
            if entry.level is transaction:
                entry.level = None
        return
    if transaction is not found.root:
        return
    del session.info[_KEY]
    doubtful = [e for e in found.created if not found.committed or e.level is None]
    if doubtful:
        _give_back(session, doubtful, sorted(found.models))


def _give_back(session: Session, doubtful: list[_Created], models: list[str]) -> None:
    digests = sorted({entry.blob.sha256 for entry in doubtful})
    try:
        named = _named_blobs(session.get_bind().engine, models, digests)
        for entry in doubtful:
            if entry.blob.sha256 not in named:
                entry.store.release(entry.blob)
    except Exception:  # raised here it would hide why the transaction failed
        logger.exception(
            "blobs of a registration that did not commit were kept",
            extra={"model": models, "sha256": digests},
        )


def _named_blobs(engine: Engine, model_names: list[str], digests: list[str]) -> set[str]:
    """Which of ``digests`` a committed artifact names, once no commit that registers a version
    of ``model_names`` is under way (on SQLite, BEGIN IMMEDIATE waits for every writer)."""
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"SET LOCAL lock_timeout = '{GIVE_BACK_LOCK_TIMEOUT}'"))
        connection.execute(
            select(Model.id)
            .where(Model.name.in_(model_names))
            .order_by(Model.name)
            .with_for_update()
        )
        named = connection.scalars(
            select(Artifact.sha256).where(Artifact.sha256.in_(digests)).distinct()
        )
        return set(named)
