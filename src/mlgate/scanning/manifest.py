"""A version's artifacts laid out under their names, and signatures over them (no SQL).

Blobs live under their sha256; scanners and model-signing need the artifact names, so
``staged`` builds a temporary directory of hard links (copies across file systems) named as
the registry names them. The gateway's loader calls ``verify_manifest`` before it loads a
target of a route that requires a signature; it must never touch the database.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mlgate.errors import Invalid, NotFound
from mlgate.registry.naming import check_artifact_name
from mlgate.scanning.signing import sign_artifacts, verify_artifacts

__all__ = [
    "BlobPath",
    "SignedManifest",
    "key_fingerprint",
    "sign_manifest",
    "staged",
    "verify_manifest",
]

BlobPath = Callable[[str], Path]


@dataclass(frozen=True, slots=True)
class SignedManifest:
    """A stored signature: the model-signing bundle, the signer's public key, what it covers."""

    bundle: str
    public_key: str
    manifest: Mapping[str, str] = field(default_factory=dict)  # artifact name -> sha256


def _staging_parent(blob_path: BlobPath, sha256: str) -> Path | None:
    # Beside the blob store (root/ab/cd/<sha>), so hard links work; else the system temp dir.
    candidate = blob_path(sha256).parents[2] / ".tmp"
    return candidate if candidate.is_dir() else None


@contextmanager
def staged(blob_path: BlobPath, artifacts: Mapping[str, str]) -> Iterator[Path]:
    """A temporary directory holding every artifact (name -> sha256) under its name."""
    if not artifacts:
        raise Invalid.field("artifacts", "the version has no artifacts")
    parent = _staging_parent(blob_path, next(iter(artifacts.values())))
    with tempfile.TemporaryDirectory(dir=parent, prefix="stage-") as tmp:
        root = Path(tmp) / "model"
        root.mkdir()
        for name, sha256 in sorted(artifacts.items()):
            check_artifact_name(name)
            source = blob_path(sha256)
            if not source.is_file():
                raise NotFound(f"artifact '{name}' ({sha256[:12]}…) is missing from the blob store")
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, target)
            except OSError:
                shutil.copyfile(source, target)
        yield root


def _private_key(path: Path, password: str | None) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(
            path.read_bytes(), password=password.encode() if password else None
        )
    except FileNotFoundError as error:
        raise NotFound(f"private key '{path}' not found; pass a PEM EC P-256 key") from error
    except (ValueError, TypeError) as error:
        raise Invalid.field("key", f"'{path.name}' is not a readable PEM private key") from error
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise Invalid.field("key", f"'{path.name}' is not an EC P-256 (secp256r1) private key")
    return key


def key_fingerprint(public_pem: str) -> str:
    """sha256 of the DER SubjectPublicKeyInfo: the same for the same key in any PEM layout."""
    try:
        key = serialization.load_pem_public_key(public_pem.encode())
    except ValueError as error:
        raise Invalid.field("key", "not a PEM public key") from error
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def sign_manifest(
    blob_path: BlobPath,
    artifacts: Mapping[str, str],
    *,
    private_key: Path,
    password: str | None = None,
) -> SignedManifest:
    """Sign every artifact (its name and sha256-addressed bytes) with a local EC P-256 key."""
    key = _private_key(private_key, password)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with staged(blob_path, artifacts) as root, tempfile.TemporaryDirectory() as out:
        bundle = sign_artifacts(
            root, private_key=private_key, signature=Path(out) / "model.sig", password=password
        )
        text = bundle.read_text()
    return SignedManifest(bundle=text, public_key=public.decode(), manifest=dict(artifacts))


def verify_manifest(
    blob_path: BlobPath,
    artifacts: Mapping[str, str],
    signed: SignedManifest,
    *,
    public_key: Path | None = None,
    trusted: Collection[str] = (),
) -> None:
    """Raise Invalid unless ``signed`` covers exactly these artifacts and their current bytes.

    ``public_key`` pins the signer; without it the key recorded with the signature is used,
    and must be one of ``trusted`` (fingerprints) when that is given: anyone who may sign can
    record a key of their own, so the recorded key alone says the bytes are unchanged, not who
    vouched for them.
    """
    if trusted and public_key is None:
        fingerprint = key_fingerprint(signed.public_key)
        if fingerprint not in trusted:
            raise Invalid(
                f"signed by key {fingerprint[:16]}…, which is not one of the trusted signing "
                "keys (MLGATE_TRUSTED_SIGNING_KEYS); sign again with a trusted key"
            )
    if set(artifacts) != set(signed.manifest):
        added = sorted(set(artifacts) - set(signed.manifest))
        missing = sorted(set(signed.manifest) - set(artifacts))
        raise Invalid(
            f"the signature covers other artifacts (unsigned: {added or '-'}, "
            f"signed but absent: {missing or '-'}); sign the version again"
        )
    try:
        with staged(blob_path, artifacts) as root, tempfile.TemporaryDirectory() as tmp:
            bundle = Path(tmp) / "model.sig"
            bundle.write_text(signed.bundle)
            key = public_key
            if key is None:
                key = Path(tmp) / "signer.pub"
                key.write_text(signed.public_key)
            verify_artifacts(root, public_key=key, signature=bundle)
    except OSError as error:  # an unreadable blob fails verification; it never passes
        raise Invalid(f"the artifacts cannot be read to verify them ({error.strerror})") from error
