"""The web UI's sign-in: a session row in the store, named by a random token in a signed cookie.

A person signs in once with an API key; that starts a session (a ``web_sessions`` row) and the
cookie carries ``token.expiry.signature``: 256 random bits, the session's end, and an
HMAC-SHA256 of both under a key derived from the server secret. The cookie never holds the API
key nor names it. Every page load checks, at that moment, the signature and expiry here, then
in one transaction that the session's row still exists and that its key is still valid; so
signing out (which deletes the row), revoking or expiring the key ends a session at once, and a
copied cookie value stops working with it. The store, not the cookie, stays the authority.

What must stay true:

- The store keeps only the token's SHA-256 (the row's id), never the token; the token is
  random, so a plain hash is enough, and a copy of the store names no usable session.
- Signing out deletes the row rather than marking it ended: nothing reads ended sessions, a row
  that exists is live until its ``expires_at``, and there is no third state to get wrong.
- Rows do not pile up: every sign-in deletes every expired row (an indexed delete), so the
  table holds at most the sessions begun in the last ``SESSION_SECONDS`` before the latest
  sign-in. Rows of a revoked key are refused by the key check and purged once they expire.
- Cookies of the first format (``key_id.expiry.signature``, purpose v1) fail the signature
  under purpose v2 and send their holder to sign in again.

Written here rather than with a session library because all it needs is one HMAC and one table.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Delete, delete
from sqlalchemy.orm import Session

from mlgate.clock import ensure_utc, utcnow
from mlgate.errors import Unauthorized
from mlgate.web.models import WebSession

__all__ = [
    "COOKIE",
    "SESSION_SECONDS",
    "SessionCookie",
    "SessionSigner",
    "end_every_session",
    "end_session",
    "purge_expired",
    "session_key",
    "start_session",
]

COOKIE = "mlgate_ui"
SESSION_SECONDS = 8 * 3600
_PURPOSE = b"mlgate web ui session v2"  # v1 cookies named the key itself
_TOKEN_BYTES = 32


@dataclass(frozen=True, slots=True)
class SessionCookie:
    """What a session cookie says: the session's token and when it ends (whole seconds)."""

    token: str
    expires_at: datetime

    def __repr__(self) -> str:
        return f"SessionCookie(token=<secret>, expires_at={self.expires_at!r})"


class SessionSigner:
    """Makes and reads session cookie values for one server secret."""

    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, _PURPOSE, hashlib.sha256).digest()

    def __repr__(self) -> str:
        return "SessionSigner(<secret>)"

    def _signature(self, payload: str) -> str:
        digest = hmac.new(self._key, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def issue(self, cookie: SessionCookie) -> str:
        payload = f"{cookie.token}.{int(cookie.expires_at.timestamp())}"
        return f"{payload}.{self._signature(payload)}"

    def token(self, value: str | None, *, now: datetime | None = None) -> str | None:
        """The session token a cookie value carries, or None when it is missing, forged or
        expired. Whether that session is still live only the store can say (``session_key``)."""
        if not value or value.count(".") != 2:
            return None
        token, expires, signature = value.split(".")
        expected = self._signature(f"{token}.{expires}")
        # As bytes: compare_digest raises on a str that is not ASCII (a crafted cookie).
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            return None
        if not (expires.isascii() and expires.isdigit()):
            return None
        if int(expires) <= (now or utcnow()).timestamp():
            return None
        return token


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, *, key_id: str, now: datetime | None = None) -> SessionCookie:
    """Begin a session for a key already authenticated in this unit of work, and purge every
    expired one. The cookie returned holds the only copy of the token."""
    now = now or utcnow()
    purge_expired(session, now=now)
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    expires_at = datetime.fromtimestamp(int(now.timestamp()) + SESSION_SECONDS, UTC)
    session.add(WebSession(id=_digest(token), key_id=key_id, created_at=now, expires_at=expires_at))
    session.flush()
    return SessionCookie(token=token, expires_at=expires_at)


def session_key(session: Session, *, token: str, now: datetime | None = None) -> str:
    """The key id of a live session; Unauthorized when it was signed out, purged or expired.
    The caller still checks that key (``auth.principal_of_key``) in the same unit of work."""
    row = session.get(WebSession, _digest(token))
    if row is None or ensure_utc(row.expires_at) <= (now or utcnow()):
        raise Unauthorized("the web session has ended; sign in again")
    return row.key_id


def end_session(session: Session, *, token: str) -> bool:
    """End a session (sign-out): its cookie, wherever copied, no longer opens a page.
    False when it had already ended."""
    return bool(_deleted(session, delete(WebSession).where(WebSession.id == _digest(token))))


def end_every_session(session: Session) -> int:
    """End every web session (a restored store: sessions signed out after its backup was taken
    would otherwise open pages again); how many."""
    return _deleted(session, delete(WebSession))


def purge_expired(session: Session, *, now: datetime | None = None) -> int:
    """Delete every expired session; how many."""
    return _deleted(session, delete(WebSession).where(WebSession.expires_at <= (now or utcnow())))


def _deleted(session: Session, statement: Delete) -> int:
    """Run a DELETE; how many rows it removed (a DML statement's result is a cursor's)."""
    return cast("CursorResult[Any]", session.execute(statement)).rowcount
