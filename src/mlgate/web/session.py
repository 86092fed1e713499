"""The web UI's sign-in: a signed cookie that names a key by its id, never the key itself.

A person signs in once with an API key; the cookie then carries ``key_id.expiry.signature``,
the signature an HMAC-SHA256 under a key derived from the server secret. Every page load checks
the signature and expiry here and the key's row in the store (the page's own transaction), so
revoking or expiring the key ends its sessions at once. Written here rather than with a session
library because all it needs is one HMAC, and the store, not the cookie, stays the authority.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

__all__ = ["COOKIE", "SESSION_SECONDS", "SessionSigner"]

COOKIE = "mlgate_ui"
SESSION_SECONDS = 8 * 3600
_PURPOSE = b"mlgate web ui session v1"


class SessionSigner:
    """Makes and reads session cookie values for one server secret."""

    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, _PURPOSE, hashlib.sha256).digest()

    def __repr__(self) -> str:
        return "SessionSigner(<secret>)"

    def _signature(self, payload: str) -> str:
        digest = hmac.new(self._key, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def issue(self, key_id: str, *, now: float | None = None) -> str:
        expires = int((time.time() if now is None else now) + SESSION_SECONDS)
        payload = f"{key_id}.{expires}"
        return f"{payload}.{self._signature(payload)}"

    def key_id(self, value: str | None, *, now: float | None = None) -> str | None:
        """The key id a cookie value names, or None when it is missing, forged or expired."""
        if not value or value.count(".") != 2:
            return None
        key_id, expires, signature = value.split(".")
        if not hmac.compare_digest(signature, self._signature(f"{key_id}.{expires}")):
            return None
        if not (expires.isascii() and expires.isdigit()) or int(expires) <= (
            time.time() if now is None else now
        ):
            return None
        return key_id
