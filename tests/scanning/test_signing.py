"""Artifacts signed with a local EC key verify with its public key and fail once tampered."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlgate.errors import Invalid, NotFound
from mlgate.scanning import sign_artifacts, verify_artifacts
from tests.scanning.factories import write_keypair

pytest.importorskip("model_signing")


@pytest.fixture
def model(tmp_path: Path) -> Path:
    directory = tmp_path / "model"
    directory.mkdir()
    (directory / "weights.safetensors").write_bytes(bytes(range(256)) * 16)
    (directory / "config.json").write_text('{"layers": 2}')
    return directory


def test_signed_directory_verifies_and_one_flipped_byte_fails(model: Path, tmp_path: Path) -> None:
    private, public = write_keypair(tmp_path, "signer")
    bundle = sign_artifacts(model, private_key=private, signature=tmp_path / "model.sig")
    assert "dsseEnvelope" in bundle.read_text()
    verify_artifacts(model, public_key=public, signature=bundle)

    weights = model / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[100] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(Invalid, match="does not verify with this key"):
        verify_artifacts(model, public_key=public, signature=bundle)


def test_signature_from_another_key_is_rejected(model: Path, tmp_path: Path) -> None:
    private, _ = write_keypair(tmp_path, "signer")
    _, other_public = write_keypair(tmp_path, "other")
    bundle = sign_artifacts(model, private_key=private, signature=tmp_path / "model.sig")
    with pytest.raises(Invalid):
        verify_artifacts(model, public_key=other_public, signature=bundle)


def test_listed_files_are_signed_and_others_ignored(model: Path, tmp_path: Path) -> None:
    private, public = write_keypair(tmp_path, "signer")
    weights = model / "weights.safetensors"
    bundle = sign_artifacts([weights], private_key=private, signature=model / "weights.sig")
    (model / "config.json").write_text('{"layers": 3}')  # not listed: may change
    verify_artifacts([weights], public_key=public, signature=bundle)
    weights.write_bytes(b"tampered")
    with pytest.raises(Invalid):
        verify_artifacts([weights], public_key=public, signature=bundle)


def test_missing_key_is_not_found(model: Path, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="private key"):
        sign_artifacts(model, private_key=tmp_path / "absent.pem", signature=tmp_path / "model.sig")
