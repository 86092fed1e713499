"""Which master key wraps data keys, and the privacy state a process holds (cipher, key store).

The master key comes from, in order: ``MLGATE_MASTER_KEY``, Vault transit when ``vault_url``
is set, else the key file (``<data_dir>/master.key``, 0600, created on first use). A key's id is
a fingerprint of the key, so envelopes name the exact key that wrapped them and a rotation to a
new key of the same kind is told apart from the old one.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path

from pydantic import SecretStr

from mlgate.config import Settings
from mlgate.errors import Invalid
from mlgate.privacy.crypto import (
    EnvelopeCipher,
    KeyFileMasterKey,
    MasterKeyProvider,
    StaticMasterKey,
    VaultTransitMasterKey,
)
from mlgate.privacy.keystore import KeyStore
from mlgate.privacy.secrets import rewrap_stragglers
from mlgate.privacy.subjects import subject_pseudonym
from mlgate.runtime import Runtime

__all__ = [
    "PrivacyKeys",
    "ensure_local_keys",
    "key_file_provider",
    "master_provider",
    "next_key_file",
    "static_provider",
]

logger = logging.getLogger(__name__)


def _fingerprint(material: str) -> str:
    return hashlib.sha256(b"mlgate-master-key-id:" + material.strip().encode()).hexdigest()[:16]


def static_provider(value: SecretStr) -> StaticMasterKey:
    return StaticMasterKey(value, key_id=f"static:{_fingerprint(value.get_secret_value())}")


def key_file_provider(path: Path) -> KeyFileMasterKey:
    """The key in ``path`` (created 0600 when missing), identified by its fingerprint."""
    KeyFileMasterKey(path)  # creates the file and checks its mode
    material = path.read_text(encoding="ascii")
    return KeyFileMasterKey(path, key_id=f"file:{_fingerprint(material)}")


def next_key_file(settings: Settings) -> Path:
    """Where ``rotate-master`` writes the new key file before it replaces the current one."""
    path = settings.master_key_path
    return path.with_name(path.name + ".next")


def master_provider(settings: Settings) -> MasterKeyProvider:
    if settings.master_key is not None:
        return static_provider(settings.master_key)
    if settings.vault_url:
        if settings.vault_token is None:
            raise Invalid.field("vault_token", "Vault transit needs MLGATE_VAULT_TOKEN")
        return VaultTransitMasterKey(
            settings.vault_url, settings.vault_token, key_name=settings.vault_transit_key
        )
    return key_file_provider(settings.master_key_path)


def ensure_local_keys(settings: Settings) -> None:
    """Create what ``mlgate init`` should leave behind: the master key file (0600, unless the
    master key comes from settings or Vault) and the key store's schema."""
    if settings.master_key is None and not settings.vault_url:
        key_file_provider(settings.master_key_path)
    KeyStore(settings.keystore_database_url).close()


def _previous(settings: Settings, primary: MasterKeyProvider) -> list[MasterKeyProvider]:
    # A rotation interrupted between its commit and the file swap leaves data wrapped by the
    # ".next" key: keep it readable until the operator runs rotate-master again.
    pending = next_key_file(settings)
    if settings.master_key is None and not settings.vault_url and pending.exists():
        return [key_file_provider(pending)]
    return []


def _key_files(settings: Settings) -> tuple[object, ...] | None:
    """What the key files look like now (None: the key does not come from a file)."""
    if settings.master_key is not None or settings.vault_url:
        return None
    return tuple(_stat(path) for path in (settings.master_key_path, next_key_file(settings)))


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        found = path.stat()
    except FileNotFoundError:
        return None
    return found.st_ino, found.st_mtime_ns, found.st_size


class PrivacyKeys:
    """The master cipher, the key store and the subject pseudonym key of one process.

    Built lazily and thread-safely: the request-log writer thread and request handlers share it.
    A server runs on while ``mlgate secrets rotate-master`` changes the key file under it: each
    use of the cipher looks at the key files (two ``stat`` calls), and a change makes it read
    them again, keep every key it held (so what it wrapped stays readable), wrap with the new
    key from then on, and re-wrap what it wrapped under the old one meanwhile.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._lock = threading.Lock()
        self._cipher: EnvelopeCipher | None = None
        self._files: tuple[object, ...] | None = None
        self._keystore: KeyStore | None = None

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def cipher(self) -> EnvelopeCipher:
        with self._lock:
            files = _key_files(self.settings)
            if self._cipher is not None and files == self._files:
                return self._cipher
            held = self._cipher
            primary = master_provider(self.settings)
            kept = [p for p in held.providers if p.key_id != primary.key_id] if held else []
            self._cipher = EnvelopeCipher(
                primary, previous=[*kept, *_previous(self.settings, primary)]
            )
            self._files = files
            cipher = self._cipher
            rotated = held is not None and held.primary.key_id != primary.key_id
        if rotated:
            self._catch_up(cipher)
        return cipher

    def _catch_up(self, cipher: EnvelopeCipher) -> None:
        try:
            with (
                self.runtime.db.unit_of_work() as session,
                self.keystore.unit_of_work() as keys_session,
            ):
                changed = rewrap_stragglers(session, keys_session, cipher=cipher)
        except Exception:  # the keys stay readable by this process; the next change retries
            logger.exception("could not re-wrap data keys after a master-key rotation")
            return
        if changed:
            logger.info("re-wrapped %d data keys under the rotated master key", changed)

    @property
    def master(self) -> MasterKeyProvider:
        return self.cipher.primary

    @property
    def keystore(self) -> KeyStore:
        with self._lock:
            if self._keystore is None:
                self._keystore = KeyStore(self.settings.keystore_database_url)
            return self._keystore

    def pseudonym(self, subject: str) -> str:
        value = subject_pseudonym(self.runtime.secret, subject)
        assert value is not None
        return value

    def reset(self) -> None:
        """Forget the cipher (after a master-key rotation) so the next use reads the new key."""
        with self._lock:
            self._cipher = None
            self._files = None

    def close(self) -> None:
        with self._lock:
            if self._keystore is not None:
                self._keystore.close()
                self._keystore = None

    def __repr__(self) -> str:
        return "PrivacyKeys()"
