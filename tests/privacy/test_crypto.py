"""Envelope encryption, master-key providers and key rotation."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from mlgate.errors import Invalid, NotFound, Unavailable
from mlgate.privacy import (
    Envelope,
    EnvelopeCipher,
    KeyFileMasterKey,
    StaticMasterKey,
    VaultTransitMasterKey,
)

RAW = bytes(range(32))


def static(key: bytes = RAW, key_id: str = "k1") -> StaticMasterKey:
    return StaticMasterKey(SecretStr(base64.b64encode(key).decode()), key_id=key_id)


def test_envelope_round_trips_through_its_compact_token() -> None:
    cipher = EnvelopeCipher(static())
    token = cipher.encrypt(b"request body", context=b"log:42").to_token()
    assert token.startswith("mlge1.")
    assert cipher.decrypt(Envelope.from_token(token), context=b"log:42") == b"request body"


def test_each_item_gets_its_own_data_key() -> None:
    cipher = EnvelopeCipher(static())
    first, second = cipher.encrypt(b"same"), cipher.encrypt(b"same")
    assert first.wrapped_key != second.wrapped_key
    assert first.ciphertext != second.ciphertext


def test_a_different_context_or_tampering_is_refused() -> None:
    cipher = EnvelopeCipher(static())
    envelope = cipher.encrypt(b"secret", context=b"log:1")
    with pytest.raises(Invalid):
        cipher.decrypt(envelope, context=b"log:2")
    raw = bytearray(envelope.to_bytes())
    raw[-1] ^= 1
    with pytest.raises(Invalid):
        cipher.decrypt(Envelope.from_bytes(bytes(raw)), context=b"log:1")


def test_a_garbled_token_is_invalid_not_a_crash() -> None:
    for token in ("nope", "mlge1.", "mlge1.AAAA", "mlge1.!!!!"):
        with pytest.raises(Invalid):
            Envelope.from_token(token)


def test_rotation_rewraps_data_keys_without_touching_the_data() -> None:
    old, new = static(key_id="2025"), static(os.urandom(32), key_id="2026")
    envelope = EnvelopeCipher(old).encrypt(b"payload")
    rotated = EnvelopeCipher(new, previous=[old])
    rewrapped = rotated.rewrap(envelope)
    assert rewrapped.key_id == "2026"
    assert rewrapped.ciphertext == envelope.ciphertext
    # After rotation the old key can be dropped for re-wrapped items.
    assert EnvelopeCipher(new).decrypt(rewrapped) == b"payload"


def test_decrypting_without_the_wrapping_key_says_which_key_is_missing() -> None:
    envelope = EnvelopeCipher(static(key_id="2025")).encrypt(b"x")
    with pytest.raises(NotFound, match="2025"):
        EnvelopeCipher(static(key_id="2026")).decrypt(envelope)


def test_static_key_accepts_hex_and_refuses_wrong_sizes() -> None:
    hex_key = StaticMasterKey(SecretStr(RAW.hex()), key_id="k1")
    assert EnvelopeCipher(static()).decrypt(EnvelopeCipher(hex_key).encrypt(b"x")) == b"x"
    with pytest.raises(Invalid):
        StaticMasterKey(SecretStr(base64.b64encode(b"short").decode()))
    with pytest.raises(Invalid):
        StaticMasterKey(SecretStr("not base64 at all!"))


def test_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "master.key"
    envelope = EnvelopeCipher(KeyFileMasterKey(path)).encrypt(b"kept")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert EnvelopeCipher(KeyFileMasterKey(path)).decrypt(envelope) == b"kept"


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    KeyFileMasterKey(path)
    path.chmod(0o644)
    with pytest.raises(Invalid, match="chmod 600"):
        KeyFileMasterKey(path)


def test_reprs_never_show_key_material(tmp_path: Path) -> None:
    provider = KeyFileMasterKey(tmp_path / "m.key")
    key_text = (tmp_path / "m.key").read_text().strip()
    cipher = EnvelopeCipher(provider)
    envelope = cipher.encrypt(b"plaintext")
    vault = VaultTransitMasterKey("http://vault:8200", SecretStr("s.tok3n"), key_name="mlgate")
    shown = repr(provider) + repr(cipher) + repr(envelope) + repr(vault) + repr(static())
    assert key_text not in shown
    assert "s.tok3n" not in shown
    assert "plaintext" not in shown
    assert base64.b64encode(RAW).decode() not in shown


def test_vault_transit_needs_a_url_and_a_key_name() -> None:
    with pytest.raises(Invalid, match="URL"):
        VaultTransitMasterKey("", SecretStr("t"), key_name="mlgate")
    with pytest.raises(Invalid):
        VaultTransitMasterKey("http://vault:8200", SecretStr("t"), key_name="")
    provider = VaultTransitMasterKey("http://vault:8200", SecretStr("t"), key_name="mlgate")
    assert provider.key_id == "vault:transit/mlgate"


def test_vault_transit_builds_a_real_hvac_client_lazily() -> None:
    pytest.importorskip("hvac")
    provider = VaultTransitMasterKey("http://127.0.0.1:9", SecretStr("t"), key_name="mlgate")
    with pytest.raises(Unavailable, match="did not wrap"):
        provider.wrap(b"k" * 32)  # nothing listens on port 9


class _TransitDouble:
    """Vault's transit API as hvac exposes it: base64 in, ``vault:v1:`` ciphertext out."""

    def __init__(self) -> None:
        self.secrets = self
        self.transit = self
        self.store: dict[str, str] = {}

    def encrypt_data(self, *, name: str, plaintext: str, mount_point: str) -> dict[str, Any]:
        ciphertext = f"vault:v1:{len(self.store)}"
        self.store[ciphertext] = plaintext
        return {"data": {"ciphertext": ciphertext}}

    def decrypt_data(self, *, name: str, ciphertext: str, mount_point: str) -> dict[str, Any]:
        return {"data": {"plaintext": self.store[ciphertext]}}


def test_vault_transit_wraps_data_keys_through_the_transit_api() -> None:
    provider = VaultTransitMasterKey(
        "http://vault:8200", SecretStr("t"), key_name="mlgate", client=_TransitDouble()
    )
    cipher = EnvelopeCipher(provider)
    envelope = cipher.encrypt(b"via vault")
    assert envelope.wrapped_key.startswith(b"vault:v1:")
    assert cipher.decrypt(Envelope.from_token(envelope.to_token())) == b"via vault"
