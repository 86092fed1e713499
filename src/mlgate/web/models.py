"""The web UI's sessions: one row per sign-in, so signing out can end it on the server.

The row's id is the SHA-256 of the random token the cookie carries, never the token: a copy of
the store (a backup, a read-only replica) holds nothing a browser could present.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from mlgate.store.base import Base, UTCDateTime

__all__ = ["WebSession"]


class WebSession(Base):
    """A live sign-in until ``expires_at``; signing out deletes it (see ``web.session``)."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the token
    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

    def __repr__(self) -> str:  # the id is a digest, but still no business of a log line
        return f"WebSession(key_id={self.key_id!r}, expires_at={self.expires_at!r})"
