"""The secret store: named secrets sealed with envelope encryption, and master-key rotation.

Each value is sealed under its own AES-256-GCM data key (the secret's name is bound as
associated data, so a sealed value cannot be moved to another name); the master key wraps the
data key. Values leave this module only as ``SecretStr`` and never reach an audit entry, a log
line or an answer: ``SecretRead`` has no value field.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.clock import utcnow
from mlgate.errors import Invalid, NotFound
from mlgate.ids import NAME_RULE, is_valid_name, new_id
from mlgate.privacy.crypto import Envelope, EnvelopeCipher, MasterKeyProvider
from mlgate.privacy.keystore import KeyStore
from mlgate.privacy.models import StoredSecret
from mlgate.privacy.schemas import MasterRotation, SecretRead, SecretSet

__all__ = [
    "delete_secret",
    "get_secret",
    "list_secrets",
    "resolve_secret",
    "rewrap_stragglers",
    "rotate_master",
    "set_secret",
]


def _context(name: str) -> bytes:
    return b"secret:" + name.encode()


def _row(session: Session, name: str) -> StoredSecret:
    row = session.scalars(select(StoredSecret).where(StoredSecret.name == name)).one_or_none()
    if row is None:
        raise NotFound(f"secret '{name}' does not exist; list secrets with `mlgate secrets list`")
    return row


def set_secret(
    session: Session,
    *,
    cipher: EnvelopeCipher,
    name: str,
    secret_in: SecretSet,
    actor: Principal,
    now: datetime | None = None,
) -> SecretRead:
    """Create or replace secret ``name``; the audit entry names it, never its value."""
    if not is_valid_name(name):
        raise Invalid.field("name", NAME_RULE)
    now = now or utcnow()
    sealed = cipher.encrypt(secret_in.value.get_secret_value().encode(), context=_context(name))
    row = session.scalars(select(StoredSecret).where(StoredSecret.name == name)).one_or_none()
    action = "secret.updated"
    if row is None:
        action = "secret.created"
        row = StoredSecret(id=new_id(), name=name, created_at=now, created_by=actor.name)
        session.add(row)
    row.description = secret_in.description
    row.key_id = sealed.key_id
    row.envelope = sealed.to_bytes()
    row.updated_at = now
    row.updated_by = actor.name
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=action,
        object_type="secret",
        object_id=name,
        change={"name": name, "key_id": sealed.key_id},
        now=now,
    )
    return SecretRead.model_validate(row)


def list_secrets(session: Session) -> list[SecretRead]:
    rows = session.scalars(select(StoredSecret).order_by(StoredSecret.name))
    return [SecretRead.model_validate(row) for row in rows]


def get_secret(session: Session, *, name: str) -> SecretRead:
    return SecretRead.model_validate(_row(session, name))


def delete_secret(session: Session, *, name: str, actor: Principal) -> SecretRead:
    row = _row(session, name)
    read = SecretRead.model_validate(row)
    session.delete(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="secret.deleted",
        object_type="secret",
        object_id=name,
        change={"name": name},
    )
    return read


def resolve_secret(session: Session, name: str, *, cipher: EnvelopeCipher) -> SecretStr:
    """The value of secret ``name``, for the route-table compiler to put into backend headers."""
    row = _row(session, name)
    plain = cipher.decrypt(Envelope.from_bytes(row.envelope), context=_context(name))
    return SecretStr(plain.decode())


def _rewrap_key(
    cipher: EnvelopeCipher, key_id: str, wrapped: bytes, new: MasterKeyProvider
) -> bytes:
    # rewrap() only unwraps and wraps the data key; nonce and ciphertext are carried, not used.
    shell = Envelope(key_id, wrapped, b"\0" * 12, b"\0" * 16)
    return cipher.rewrap(shell, new).wrapped_key


def rewrap_stragglers(session: Session, keys_session: Session, *, cipher: EnvelopeCipher) -> int:
    """Re-wrap under ``cipher``'s primary what another key wrapped during a rotation.

    A server that ran on while ``rotate-master`` swapped the key file wrapped new data keys
    under the key it still held; re-wrapped now, they do not die with the old key. Rows
    under a key this cipher does not hold are left as they are. Returns how many changed.
    """
    new, changed = cipher.primary, 0
    stale = select(StoredSecret).where(StoredSecret.key_id != new.key_id)
    for row in session.scalars(stale):
        if cipher.knows(row.key_id):
            rewrapped = cipher.rewrap(Envelope.from_bytes(row.envelope), new)
            row.envelope, row.key_id = rewrapped.to_bytes(), rewrapped.key_id
            changed += 1
    for key in KeyStore.rows(keys_session):
        if key.key_id != new.key_id and cipher.knows(key.key_id):
            key.wrapped_key = _rewrap_key(cipher, key.key_id, key.wrapped_key, new)
            key.key_id = new.key_id
            changed += 1
    session.flush()
    keys_session.flush()
    return changed


def rotate_master(
    session: Session,
    keys_session: Session,
    *,
    cipher: EnvelopeCipher,
    new: MasterKeyProvider,
    actor: Principal,
) -> MasterRotation:
    """Re-wrap every data key (secrets and subject keys) under ``new``; data is untouched.

    ``cipher`` must know every key that wrapped something (the current one, and the pending
    one of an interrupted rotation). Rows already under ``new`` are re-wrapped too, so running
    the rotation again after a failure is safe.
    """
    old_ids: set[str] = set()
    rows = list(session.scalars(select(StoredSecret).order_by(StoredSecret.name)))
    for row in rows:
        old_ids.add(row.key_id)
        rewrapped = cipher.rewrap(Envelope.from_bytes(row.envelope), new)
        row.envelope = rewrapped.to_bytes()
        row.key_id = rewrapped.key_id
    subject_keys = KeyStore.rows(keys_session)
    for key in subject_keys:
        old_ids.add(key.key_id)
        key.wrapped_key = _rewrap_key(cipher, key.key_id, key.wrapped_key, new)
        key.key_id = new.key_id
    session.flush()
    keys_session.flush()
    old = sorted(old_ids - {new.key_id})
    audit.record(
        session,
        actor=actor,
        action="secrets.master_rotated",
        object_type="master_key",
        object_id=new.key_id,
        change={"old_key_ids": old, "secrets": len(rows), "subject_keys": len(subject_keys)},
    )
    return MasterRotation(
        old_key_ids=old, new_key_id=new.key_id, secrets=len(rows), subject_keys=len(subject_keys)
    )
