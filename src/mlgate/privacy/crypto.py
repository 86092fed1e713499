"""Envelope encryption: a fresh AES-256-GCM data key per item, wrapped by a master key.

Master keys come from a :class:`MasterKeyProvider`: a value from settings
(:class:`StaticMasterKey`), a local key file (:class:`KeyFileMasterKey`) or HashiCorp Vault's
transit engine (:class:`VaultTransitMasterKey`). Rotating the master key only re-wraps data keys
(:meth:`EnvelopeCipher.rewrap`); the data itself is never re-encrypted. Key material never
appears in a ``repr``.
"""

from __future__ import annotations

import base64
import os
import stat
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

from mlgate.errors import Invalid, NotFound, Unavailable

__all__ = [
    "Envelope",
    "EnvelopeCipher",
    "KeyFileMasterKey",
    "MasterKeyProvider",
    "StaticMasterKey",
    "VaultTransitMasterKey",
]

_VERSION = 1
_TOKEN_PREFIX = "mlge1."  # noqa: S105 - a format marker, not a secret


@runtime_checkable
class MasterKeyProvider(Protocol):
    """Wraps and unwraps data keys; ``key_id`` is stored with each envelope to find it again."""

    @property
    def key_id(self) -> str: ...

    def wrap(self, data_key: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes) -> bytes: ...


class _LocalMasterKey:
    """AES-256-GCM key wrapping with a 32-byte master key held in memory."""

    def __init__(self, key: bytes, key_id: str) -> None:
        if len(key) != 32:
            raise Invalid.field("master_key", "a master key has exactly 32 bytes")
        self._aead = AESGCM(key)
        self._key_id = key_id

    @property
    def key_id(self) -> str:
        return self._key_id

    def wrap(self, data_key: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, data_key, self._key_id.encode())

    def unwrap(self, wrapped: bytes) -> bytes:
        try:
            return self._aead.decrypt(wrapped[:12], wrapped[12:], self._key_id.encode())
        except InvalidTag as exc:
            raise Invalid(
                f"the data key does not unwrap with master key {self._key_id!r}; "
                "was it wrapped under another key?"
            ) from exc

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key_id={self._key_id!r})"


def _decode_key(value: str) -> bytes:
    text = value.strip()
    try:
        raw = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise Invalid.field("master_key", "give 32 bytes as 64 hex digits or base64") from exc
    return raw


class StaticMasterKey(_LocalMasterKey):
    """A master key given as a value (64 hex digits or base64 of 32 bytes), e.g. from settings."""

    def __init__(self, secret: SecretStr, *, key_id: str = "static") -> None:
        super().__init__(_decode_key(secret.get_secret_value()), key_id)


class KeyFileMasterKey(_LocalMasterKey):
    """A master key in a file (base64), created with mode 0600 when missing.

    A file readable by group or others is refused: the key would not be a secret.
    """

    def __init__(self, path: Path, *, key_id: str | None = None) -> None:
        self.path = Path(path)
        if not self.path.exists():
            self._create()
        mode = stat.S_IMODE(self.path.stat().st_mode)
        if mode & 0o077:
            raise Invalid.field(
                "key_file", f"{self.path} is readable by others (mode {mode:o}); chmod 600 it"
            )
        key = _decode_key(self.path.read_text(encoding="ascii"))
        super().__init__(key, key_id or f"file:{self.path.name}")

    def _create(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return  # another process created it first; read theirs
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(base64.b64encode(os.urandom(32)).decode() + "\n")


class VaultTransitMasterKey:
    """The master key stays in Vault; data keys are wrapped by its transit ``encrypt`` endpoint."""

    def __init__(
        self,
        url: str,
        token: SecretStr,
        *,
        key_name: str,
        mount_point: str = "transit",
        client: Any | None = None,
    ) -> None:
        if not url:
            raise Invalid.field("vault_url", "a Vault transit key needs the Vault URL")
        if not key_name:
            raise Invalid.field("key_name", "name the transit key to wrap data keys with")
        self.url = url
        self.key_name = key_name
        self.mount_point = mount_point
        self._token = token
        self._client = client

    @property
    def key_id(self) -> str:
        return f"vault:{self.mount_point}/{self.key_name}"

    def _transit(self) -> Any:
        if self._client is None:
            import hvac

            self._client = hvac.Client(url=self.url, token=self._token.get_secret_value())
        return self._client.secrets.transit

    def wrap(self, data_key: bytes) -> bytes:
        try:
            answer = self._transit().encrypt_data(
                name=self.key_name,
                plaintext=base64.b64encode(data_key).decode(),
                mount_point=self.mount_point,
            )
        except Exception as exc:
            raise Unavailable(
                f"Vault at {self.url} did not wrap the data key ({type(exc).__name__})"
            ) from exc
        return str(answer["data"]["ciphertext"]).encode()

    def unwrap(self, wrapped: bytes) -> bytes:
        try:
            answer = self._transit().decrypt_data(
                name=self.key_name, ciphertext=wrapped.decode(), mount_point=self.mount_point
            )
        except Exception as exc:
            raise Unavailable(
                f"Vault at {self.url} did not unwrap the data key ({type(exc).__name__})"
            ) from exc
        return base64.b64decode(answer["data"]["plaintext"])

    def __repr__(self) -> str:
        return f"VaultTransitMasterKey(url={self.url!r}, key_id={self.key_id!r})"


@dataclass(frozen=True, slots=True)
class Envelope:
    """One encrypted item: ciphertext plus its data key wrapped under master key ``key_id``."""

    key_id: str
    wrapped_key: bytes
    nonce: bytes
    ciphertext: bytes

    def to_bytes(self) -> bytes:
        key_id = self.key_id.encode()
        header = struct.pack(">BHH", _VERSION, len(key_id), len(self.wrapped_key))
        return header + key_id + self.wrapped_key + self.nonce + self.ciphertext

    @classmethod
    def from_bytes(cls, raw: bytes) -> Envelope:
        try:
            version, id_len, key_len = struct.unpack_from(">BHH", raw)
        except struct.error as exc:
            raise Invalid.field("envelope", "too short to be an envelope") from exc
        if version != _VERSION:
            raise Invalid.field("envelope", f"unknown envelope version {version}")
        offset = 5
        key_id = raw[offset : offset + id_len].decode()
        offset += id_len
        wrapped = raw[offset : offset + key_len]
        offset += key_len
        nonce, ciphertext = raw[offset : offset + 12], raw[offset + 12 :]
        if len(nonce) != 12 or len(ciphertext) < 16:
            raise Invalid.field("envelope", "truncated envelope")
        return cls(key_id, wrapped, nonce, ciphertext)

    def to_token(self) -> str:
        """A compact ASCII form: ``mlge1.<base64url>``."""
        return _TOKEN_PREFIX + base64.urlsafe_b64encode(self.to_bytes()).rstrip(b"=").decode()

    @classmethod
    def from_token(cls, token: str) -> Envelope:
        if not token.startswith(_TOKEN_PREFIX):
            raise Invalid.field("envelope", "not an mlgate envelope token (mlge1.…)")
        body = token[len(_TOKEN_PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except ValueError as exc:
            raise Invalid.field("envelope", "the token is not valid base64url") from exc
        return cls.from_bytes(raw)

    def __repr__(self) -> str:
        return f"Envelope(key_id={self.key_id!r}, size={len(self.ciphertext)})"


class EnvelopeCipher:
    """Encrypts with ``primary``; decrypts with whichever known provider wrapped the item."""

    def __init__(
        self, primary: MasterKeyProvider, *, previous: Iterable[MasterKeyProvider] = ()
    ) -> None:
        self.primary = primary
        self._providers = {p.key_id: p for p in (*previous, primary)}

    def _provider(self, key_id: str) -> MasterKeyProvider:
        provider = self._providers.get(key_id)
        if provider is None:
            raise NotFound(
                f"the data was wrapped by master key {key_id!r}, which this process does not"
                " hold: was the master key changed without `mlgate secrets rotate-master`?"
            )
        return provider

    def wrap(self, data_key: bytes) -> tuple[str, bytes]:
        """``data_key`` wrapped under the primary key, with that key's id."""
        return self.primary.key_id, self.primary.wrap(data_key)

    @property
    def providers(self) -> tuple[MasterKeyProvider, ...]:
        """Every key this cipher opens, the primary last."""
        return tuple(self._providers.values())

    def knows(self, key_id: str) -> bool:
        return key_id in self._providers

    def unwrap(self, key_id: str, wrapped_key: bytes) -> bytes:
        """A data key wrapped under ``key_id``: the primary key, or a previous one."""
        return self._provider(key_id).unwrap(wrapped_key)

    def encrypt(self, plaintext: bytes, *, context: bytes = b"") -> Envelope:
        """Encrypt under a new data key; ``context`` must be given again to decrypt."""
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(12)
        ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, context)
        return Envelope(self.primary.key_id, self.primary.wrap(data_key), nonce, ciphertext)

    def decrypt(self, envelope: Envelope, *, context: bytes = b"") -> bytes:
        data_key = self._provider(envelope.key_id).unwrap(envelope.wrapped_key)
        try:
            return AESGCM(data_key).decrypt(envelope.nonce, envelope.ciphertext, context)
        except (InvalidTag, ValueError) as exc:
            raise Invalid("cannot decrypt: the data was changed or the context differs") from exc

    def rewrap(self, envelope: Envelope, new: MasterKeyProvider | None = None) -> Envelope:
        """Re-wrap the data key under ``new`` (default: the primary key); data is untouched."""
        target = new or self.primary
        data_key = self._provider(envelope.key_id).unwrap(envelope.wrapped_key)
        return Envelope(target.key_id, target.wrap(data_key), envelope.nonce, envelope.ciphertext)

    def __repr__(self) -> str:
        return f"EnvelopeCipher(primary={self.primary.key_id!r}, keys={sorted(self._providers)})"
