"""Privacy work that spans the main store and the key store, each in its own unit of work.

The key store commits first: an erasure destroys the key before the rows go (if the second
commit fails, the payloads left behind are already unreadable and running it again finishes
the job), and a rotation re-wraps subject keys before secrets (every wrapped key stays
readable by the cipher that knows both the old and the pending key).
"""

from __future__ import annotations

import os
from datetime import datetime

from pydantic import SecretStr

from mlgate.auth.schemas import Principal
from mlgate.clock import utcnow
from mlgate.errors import Invalid
from mlgate.privacy import rights, secrets
from mlgate.privacy.crypto import EnvelopeCipher, MasterKeyProvider
from mlgate.privacy.keys import (
    PrivacyKeys,
    key_file_provider,
    master_provider,
    next_key_file,
    static_provider,
)
from mlgate.privacy.retention import purge_expired
from mlgate.privacy.schemas import ErasureResult, MasterRotation, PurgeResult, SubjectExport
from mlgate.runtime import Runtime

__all__ = ["erase_job", "export_job", "purge_job", "rotate_master_job"]

SYSTEM = Principal.system("privacy")


def export_job(
    runtime: Runtime, keys: PrivacyKeys, *, subject: str, actor: Principal
) -> SubjectExport:
    with (
        runtime.db.unit_of_work() as session,
        keys.keystore.unit_of_work() as keys_session,
    ):
        return rights.export_subject(
            session,
            keys_session,
            secret=runtime.secret,
            cipher=keys.cipher,
            subject=subject,
            actor=actor,
        )


def erase_job(
    runtime: Runtime, keys: PrivacyKeys, *, subject: str, actor: Principal, dry_run: bool
) -> ErasureResult:
    with (
        runtime.db.unit_of_work() as session,
        keys.keystore.unit_of_work() as keys_session,
    ):
        result = rights.erase_subject(
            session,
            keys_session,
            secret=runtime.secret,
            subject=subject,
            actor=actor,
            dry_run=dry_run,
        )
    if not dry_run:
        keys.keystore.compact()
    return result


def purge_job(
    runtime: Runtime,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    actor: Principal = SYSTEM,
) -> PurgeResult:
    with runtime.db.unit_of_work() as session:
        return purge_expired(session, now=now or utcnow(), actor=actor, dry_run=dry_run)


def rotate_master_job(
    runtime: Runtime, keys: PrivacyKeys, *, new_key: SecretStr | None, actor: Principal
) -> MasterRotation:
    """Re-wrap every data key under a new master key; afterwards the old one opens nothing.

    Key file (default): a new key is written to ``master.key.next`` and replaces
    ``master.key`` after the commit. ``MLGATE_MASTER_KEY``: ``new_key`` is required and the
    operator sets it as the new value afterwards. Vault: rotate the transit key in Vault
    first; every data key is then re-wrapped with its newest version.
    """
    settings = runtime.settings
    key_file_mode = settings.master_key is None and not settings.vault_url
    if not key_file_mode and not settings.vault_url and new_key is None:
        raise Invalid.field("new_key", "MLGATE_MASTER_KEY is set: give the new master key")
    keys.reset()
    cipher = keys.cipher  # knows the current key and a pending one from an interrupted run
    pending = next_key_file(settings)
    new: MasterKeyProvider
    if key_file_mode:
        if new_key is not None:
            static_provider(new_key)  # a key that is no key fails here, before any file
            _write_key_file(pending, new_key)
        new = key_file_provider(pending)
    elif new_key is not None:
        new = static_provider(new_key)
    else:
        new = master_provider(settings)  # Vault: its newest transit key version
    with (
        runtime.db.unit_of_work() as session,
        keys.keystore.unit_of_work() as keys_session,
    ):
        result = secrets.rotate_master(session, keys_session, cipher=cipher, new=new, actor=actor)
    if key_file_mode:
        os.replace(pending, settings.master_key_path)
        # A running server may have wrapped keys under the old key since the commit: this
        # process still holds it, so they move to the new one now, not never.
        caught_up = EnvelopeCipher(new, previous=cipher.providers)
        with (
            runtime.db.unit_of_work() as session,
            keys.keystore.unit_of_work() as keys_session,
        ):
            secrets.rewrap_stragglers(session, keys_session, cipher=caught_up)
    keys.reset()
    keys.keystore.compact()
    return result


def _write_key_file(path: os.PathLike[str], value: SecretStr) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(value.get_secret_value().strip() + "\n")
