"""Privacy tables in the main store: secrets, request payloads, legal holds, purposes.

Subject data keys are *not* here: they live in the key store (``keystore.py``), a separate
database kept out of the main store's backups, so destroying a key there shreds every copy of
the payloads it encrypted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mlgate.store.base import Base, JSONType, UTCDateTime

__all__ = ["LegalHold", "ProcessingPurpose", "RequestPayload", "StoredSecret"]


class StoredSecret(Base):
    """A named secret: its value sealed under a data key that the master key wraps."""

    __tablename__ = "secrets"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    key_id: Mapped[str] = mapped_column(String(200))
    envelope: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(100))


class RequestPayload(Base):
    """The payload side of a request log (same id as ``request_logs.id``).

    ``redacted`` rows keep the PII-redacted JSON in ``body``; ``full`` rows keep only
    ``sealed``: nonce + AES-256-GCM ciphertext under the key ``key_ref`` names in the key store.
    """

    __tablename__ = "request_payloads"
    __table_args__ = (Index("ix_request_payloads_route_at", "route", "at"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    route: Mapped[str] = mapped_column(String(63))
    subject: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    mode: Mapped[str] = mapped_column(String(20))
    categories: Mapped[list[str]] = mapped_column(JSONType)
    body: Mapped[Any] = mapped_column(JSONType, nullable=True)
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    key_ref: Mapped[str | None] = mapped_column(String(100), nullable=True)


class LegalHold(Base):
    """Suspends purging and erasure for one subject (by pseudonym) or one route."""

    __tablename__ = "legal_holds"
    __table_args__ = (UniqueConstraint("kind", "target", name="uq_legal_holds_kind_target"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    target: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(100))


class ProcessingPurpose(Base):
    """What a route's processing is for and on which legal basis (records of processing)."""

    __tablename__ = "processing_purposes"

    route: Mapped[str] = mapped_column(String(63), primary_key=True)
    purposes: Mapped[list[str]] = mapped_column(JSONType)
    legal_basis: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(100))
