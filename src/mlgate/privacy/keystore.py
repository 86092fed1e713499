"""The subject key store: one AES-256 data key per subject, wrapped by the master key.

It is its own database (``keystore_url``, by default ``<data_dir>/keystore.db``), never part of
the main store or its backups. Erasing a subject deletes its key here, which makes every copy of
its ``full`` payloads — live or in any backup of the main store — undecryptable
(crypto-shredding). On SQLite, ``secure_delete`` overwrites the freed pages and the WAL is
truncated after a deletion, so the wrapped key does not survive in the file either.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import cast

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, LargeBinary, MetaData, String, Table, event, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from mlgate.clock import utcnow
from mlgate.privacy.crypto import EnvelopeCipher
from mlgate.store.base import NAMING_CONVENTION, UTCDateTime
from mlgate.store.database import Database

__all__ = ["KeyStore", "SubjectKey"]


class _KeystoreBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class SubjectKey(_KeystoreBase):
    __tablename__ = "subject_keys"

    ref: Mapped[str] = mapped_column(String(100), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(200))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


def _secure_delete(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: object, _record: object) -> None:
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()


class KeyStore:
    """Data keys by reference (a subject pseudonym, or ``route:<name>`` without a subject)."""

    def __init__(self, url: str) -> None:
        self.db = Database(url)
        if self.db.dialect == "sqlite":
            _secure_delete(self.db.engine)
        _KeystoreBase.metadata.create_all(self.db.engine)

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        with self.db.unit_of_work() as session:
            yield session

    @staticmethod
    def data_key(session: Session, *, ref: str, cipher: EnvelopeCipher) -> bytes | None:
        row = session.get(SubjectKey, ref)
        # By the row's own key id: a key wrapped under a pending rotation's key opens too.
        return None if row is None else cipher.unwrap(row.key_id, row.wrapped_key)

    @staticmethod
    def data_key_or_create(session: Session, *, ref: str, cipher: EnvelopeCipher) -> bytes:
        row = session.get(SubjectKey, ref)
        if row is not None:
            return cipher.unwrap(row.key_id, row.wrapped_key)
        key_id, wrapped = cipher.wrap(AESGCM.generate_key(bit_length=256))
        # Another replica may create the same subject's key at the same moment: the first
        # insert wins and everyone uses its key (a plain INSERT failed the loser's batch).
        table = cast(Table, SubjectKey.__table__)
        values = {"ref": ref, "key_id": key_id, "wrapped_key": wrapped, "created_at": utcnow()}
        if session.get_bind().dialect.name == "postgresql":
            session.execute(pg_insert(table).values(values).on_conflict_do_nothing())
        else:
            session.execute(sqlite_insert(table).values(values).on_conflict_do_nothing())
        row = session.get(SubjectKey, ref, populate_existing=True)
        assert row is not None
        return cipher.unwrap(row.key_id, row.wrapped_key)

    @staticmethod
    def destroy(session: Session, *, ref: str) -> bool:
        row = session.get(SubjectKey, ref)
        if row is None:
            return False
        session.delete(row)
        session.flush()
        return True

    @staticmethod
    def rows(session: Session) -> list[SubjectKey]:
        return list(session.scalars(select(SubjectKey).order_by(SubjectKey.ref)))

    def compact(self) -> None:
        """Push a deletion out of old pages: WAL truncation on SQLite, VACUUM on PostgreSQL."""
        if self.db.dialect == "sqlite":
            raw = self.db.engine.raw_connection()
            try:
                cursor = raw.cursor()
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                cursor.close()
            finally:
                raw.close()
            return
        with self.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM subject_keys"))

    def close(self) -> None:
        self.db.dispose()
