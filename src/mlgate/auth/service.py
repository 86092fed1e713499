"""Issue, list, revoke and rotate API keys, and turn a presented key into a Principal."""

from __future__ import annotations

import hmac
import os
from collections.abc import Collection
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from mlgate.audit import service as audit
from mlgate.auth.keys import generate_key, hash_key, parse_key
from mlgate.auth.models import ApiKey
from mlgate.auth.schemas import ApiKeyCreate, ApiKeyIssued, ApiKeyRead, Principal, Scope
from mlgate.clock import ensure_utc, utcnow
from mlgate.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from mlgate.ids import new_id

__all__ = [
    "authenticate",
    "bootstrap_admin",
    "create",
    "get",
    "get_all",
    "identify",
    "mark_used",
    "principal_of_key",
    "revoke",
    "rotate",
]

# Writing last_used_at on every call would turn each read into a write; a minute is precise
# enough to answer "is this key still in use?".
LAST_USED_RESOLUTION = timedelta(seconds=60)


def _read(row: ApiKey) -> ApiKeyRead:
    return ApiKeyRead.model_validate(row)


def _issued(row: ApiKey, value: str) -> ApiKeyIssued:
    return ApiKeyIssued(**_read(row).model_dump(), key=SecretStr(value))


def create(
    session: Session,
    *,
    secret: bytes,
    key_in: ApiKeyCreate,
    actor: Principal,
    now: datetime | None = None,
) -> ApiKeyIssued:
    """Issue a key. The returned value is shown once; only its keyed hash is stored."""
    now = now or utcnow()
    if key_in.expires_at is not None and ensure_utc(key_in.expires_at) <= now:
        raise Invalid.field("expires_at", "must be in the future")
    if not actor.is_admin:
        missing = {scope.value for scope in key_in.scopes} - set(actor.scopes)
        if missing:
            raise Forbidden(
                f"you cannot grant scopes you do not hold: {', '.join(sorted(missing))}"
            )
    _check_owner_spelling(session, key_in.owner)
    parsed = generate_key()
    row = ApiKey(
        id=new_id(),
        name=key_in.name,
        owner=key_in.owner,
        lookup=parsed.lookup,
        key_hash=hash_key(secret, parsed.value),
        scopes=sorted({scope.value for scope in key_in.scopes}),
        groups=sorted(set(key_in.groups)),
        allowed_routes=key_in.allowed_routes,
        created_at=now,
        created_by=actor.name,
        expires_at=ensure_utc(key_in.expires_at) if key_in.expires_at else None,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="key.created",
        object_type="api_key",
        object_id=row.id,
        change={"name": row.name, "owner": row.owner, "scopes": row.scopes, "lookup": row.lookup},
        now=now,
    )
    return _issued(row, parsed.value)


def _check_owner_spelling(session: Session, owner: str) -> None:
    """Refuse an owner that differs from an existing one only in case: separation of duties
    compares owners exactly, so 'Rita' could approve what 'rita' requested."""
    existing = session.scalars(
        select(ApiKey.owner)
        .where(func.lower(ApiKey.owner) == owner.lower(), ApiKey.owner != owner)
        .limit(1)
    ).first()
    if existing is not None:
        raise Conflict(
            f"owner {owner!r} differs from the existing owner {existing!r} only in case; "
            f"give it as {existing!r}: separation of duties tells owners apart by exact name"
        )


def get(session: Session, *, key_id: str) -> ApiKeyRead:
    return _read(_get_row(session, key_id))


def _get_row(session: Session, key_id: str, *, lock: bool = False) -> ApiKey:
    # Revoke and rotate lock the row: on PostgreSQL two of them would otherwise both pass the
    # "already revoked/rotated" check and both land (two live successors of one key).
    row = session.get(ApiKey, key_id, with_for_update=lock)
    if row is None:
        raise NotFound(f"API key '{key_id}' does not exist; list keys with `mlgate keys list`")
    return row


def get_all(session: Session, *, owner: str | None = None) -> list[ApiKeyRead]:
    query = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if owner:
        query = query.where(ApiKey.owner == owner)
    return [_read(row) for row in session.scalars(query)]


def revoke(
    session: Session, *, key_id: str, actor: Principal, now: datetime | None = None
) -> ApiKeyRead:
    now = now or utcnow()
    row = _get_row(session, key_id, lock=True)
    if row.revoked_at is not None:
        raise Conflict(f"API key '{key_id}' is already revoked")
    row.revoked_at = now
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="key.revoked",
        object_type="api_key",
        object_id=row.id,
        change={"name": row.name, "owner": row.owner},
        now=now,
    )
    return _read(row)


def rotate(
    session: Session,
    *,
    secret: bytes,
    key_id: str,
    grace_seconds: int,
    actor: Principal,
    now: datetime | None = None,
) -> ApiKeyIssued:
    """Issue a successor with the same grants; the old key works ``grace_seconds`` longer."""
    now = now or utcnow()
    old = _get_row(session, key_id, lock=True)
    if old.revoked_at is not None:
        raise Conflict(f"API key '{key_id}' is revoked; create a new key instead")
    if old.successor_id is not None:
        raise Conflict(f"API key '{key_id}' was already rotated to '{old.successor_id}'")
    if old.expires_at is not None and ensure_utc(old.expires_at) <= now:
        # Its successor would inherit the expiry and be dead on arrival.
        raise Conflict(
            f"API key '{key_id}' expired at {ensure_utc(old.expires_at).isoformat()}; an expired "
            "key cannot be rotated: issue a new one with `mlgate keys create`"
        )
    parsed = generate_key()
    new = ApiKey(
        id=new_id(),
        name=old.name,
        owner=old.owner,
        lookup=parsed.lookup,
        key_hash=hash_key(secret, parsed.value),
        scopes=list(old.scopes),
        groups=list(old.groups),
        allowed_routes=old.allowed_routes,
        created_at=now,
        created_by=actor.name,
        expires_at=old.expires_at,
    )
    session.add(new)
    session.flush()
    grace_end = now + timedelta(seconds=grace_seconds)
    old.expires_at = min(old.expires_at, grace_end) if old.expires_at else grace_end
    old.successor_id = new.id
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="key.rotated",
        object_type="api_key",
        object_id=old.id,
        change={"successor": new.id, "old_key_expires_at": old.expires_at.isoformat()},
        now=now,
    )
    return _issued(new, parsed.value)


def authenticate(
    session: Session, *, secret: bytes, presented: str | None, now: datetime | None = None
) -> Principal:
    """The principal behind a presented key, or Unauthorized saying why (never echoing it).

    Touches the key's ``last_used_at`` (at most once per LAST_USED_RESOLUTION): a write.
    """
    now = now or utcnow()
    principal, stale = identify(session, secret=secret, presented=presented, now=now)
    if stale and principal.key_id is not None:
        mark_used(session, key_ids=[principal.key_id], now=now)
    return principal


def identify(
    session: Session, *, secret: bytes, presented: str | None, now: datetime | None = None
) -> tuple[Principal, bool]:
    """``authenticate`` without its write: the principal, and whether its last use is stale.

    It reads only, so a read-only unit of work (no SQLite write lock) can run it.
    """
    if not presented:
        raise Unauthorized("an API key is required: send 'Authorization: Bearer mlg_…'")
    parsed = parse_key(presented.strip())
    if parsed is None:
        raise Unauthorized("the API key is malformed or its checksum does not match")
    now = now or utcnow()
    presented_hash = hash_key(secret, parsed.value)
    candidates = session.scalars(select(ApiKey).where(ApiKey.lookup == parsed.lookup)).all()
    row = next((c for c in candidates if hmac.compare_digest(c.key_hash, presented_hash)), None)
    if row is None:
        raise Unauthorized("the API key is not known")
    return _principal(row, now), _stale(row, now)


def principal_of_key(session: Session, *, key_id: str, now: datetime | None = None) -> Principal:
    """The principal of a key known by its id (a web UI session), checked as on every call:
    a key revoked or expired since the session began is refused."""
    now = now or utcnow()
    row = session.get(ApiKey, key_id)
    if row is None:
        raise Unauthorized("the API key is not known")
    principal = _principal(row, now)
    if _stale(row, now):
        row.last_used_at = now
        session.flush()
    return principal


def _stale(row: ApiKey, now: datetime) -> bool:
    return row.last_used_at is None or now - ensure_utc(row.last_used_at) >= LAST_USED_RESOLUTION


def _principal(row: ApiKey, now: datetime) -> Principal:
    if row.revoked_at is not None:
        raise Unauthorized("the API key was revoked")
    if row.expires_at is not None and ensure_utc(row.expires_at) <= now:
        raise Unauthorized("the API key has expired")
    return Principal(
        name=row.owner,
        scopes=frozenset(row.scopes),
        key_id=row.id,
        groups=frozenset(row.groups),
    )


def mark_used(session: Session, *, key_ids: Collection[str], now: datetime | None = None) -> None:
    """Record keys as used now (the gateway learns of use in memory and reports it here)."""
    now = now or utcnow()
    stale = or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= now - LAST_USED_RESOLUTION)
    session.execute(
        update(ApiKey).where(ApiKey.id.in_(list(key_ids)), stale).values(last_used_at=now)
    )


def bootstrap_admin(
    session: Session, *, secret: bytes, key_file: Path, now: datetime | None = None
) -> ApiKeyIssued | None:
    """Create the first admin key and write it to ``key_file`` (0600), once.

    Returns None when an admin key already exists or the file is already there: running
    ``mlgate init`` again never issues a second key behind the operator's back.
    """
    if key_file.exists():
        return None
    has_admin = any(Scope.ADMIN.value in row.scopes for row in session.scalars(select(ApiKey)))
    if has_admin:
        return None
    issued = create(
        session,
        secret=secret,
        key_in=ApiKeyCreate(name="bootstrap-admin", owner="admin", scopes=[Scope.ADMIN]),
        actor=Principal.system("init"),
        now=now,
    )
    key_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(issued.key.get_secret_value() + "\n")
    return issued
