"""Signs and verifies model artifacts with OpenSSF model-signing and a local EC P-256 key.

A thin wrapper: the bundle is model-signing's own (a Sigstore bundle holding a DSSE envelope
over an in-toto statement of per-file sha256 digests), so any model-signing verifier accepts it.
Signing with a key needs no network.
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from mlgate.errors import Invalid, NotFound

__all__ = ["sign_artifacts", "verify_artifacts"]

PathLike = str | os.PathLike[str]


def _model_signing(module: str) -> ModuleType:
    try:
        return importlib.import_module(f"model_signing.{module}")
    except ImportError as exc:  # an optional dependency
        raise Invalid(
            "artifact signing needs the 'model-signing' package; "
            "install it with `pip install model-signing`"
        ) from exc


def _model_root(artifacts: PathLike | Sequence[PathLike]) -> tuple[Path, list[Path] | None]:
    """The directory (or single file) to sign and, for a list, the files chosen in it."""
    if isinstance(artifacts, str | os.PathLike):
        root = Path(artifacts)
        if not root.exists():
            raise NotFound(f"nothing to sign at '{root}'")
        return root, None
    files = [Path(p).resolve() for p in artifacts]
    if not files:
        raise Invalid.field("artifacts", "give at least one file to sign")
    for file in files:
        if not file.is_file():
            raise NotFound(f"artifact '{file}' does not exist or is not a file")
    root = Path(os.path.commonpath([f.parent for f in files]))
    return root, files


def _ignored(root: Path, chosen: list[Path] | None, signature: Path) -> list[Path]:
    """Paths under ``root`` left out of the manifest: unchosen files and the signature itself."""
    ignored: list[Path] = []
    sig = signature.resolve()
    if root.is_dir() and sig.is_relative_to(root.resolve()):
        ignored.append(sig.relative_to(root.resolve()))
    if chosen is not None and root.is_dir():
        keep = set(chosen)
        for dirpath, _, filenames in os.walk(root):
            for name in filenames:
                path = (Path(dirpath) / name).resolve()
                if path not in keep and path != sig:
                    ignored.append(path.relative_to(root.resolve()))
    return ignored


def sign_artifacts(
    artifacts: PathLike | Sequence[PathLike],
    *,
    private_key: PathLike,
    signature: PathLike,
    password: str | None = None,
) -> Path:
    """Signs a model directory, a file, or a list of files sharing a parent; returns the bundle.

    For a list, files in the common parent that are not listed are recorded as ignored, so
    verification checks exactly the listed files.
    """
    hashing, signing = _model_signing("hashing"), _model_signing("signing")
    key = Path(private_key)
    if not key.is_file():
        raise NotFound(f"private key '{key}' not found; pass a PEM EC P-256 private key")
    root, chosen = _model_root(artifacts)
    bundle = Path(signature)
    hashing_config = hashing.Config().set_ignored_paths(paths=_ignored(root, chosen, bundle))
    try:
        config = signing.Config().use_elliptic_key_signer(private_key=key, password=password)
        config.set_hashing_config(hashing_config).sign(root, bundle)
    except (ValueError, TypeError) as exc:
        raise Invalid(f"cannot sign with key '{key.name}': {exc}") from exc
    return bundle


@contextmanager
def _only(root: Path, files: list[Path]) -> Iterator[Path]:
    """A temporary directory holding just ``files`` under their paths relative to ``root``."""
    with tempfile.TemporaryDirectory(prefix="verify-") as tmp:
        staged = Path(tmp) / root.name
        for file in files:
            target = staged / file.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(file, target)
            except OSError:  # another file system: copy
                shutil.copyfile(file, target)
        yield staged


def verify_artifacts(
    artifacts: PathLike | Sequence[PathLike],
    *,
    public_key: PathLike,
    signature: PathLike,
) -> None:
    """Raises Invalid unless ``signature`` was made by ``public_key``'s pair over these bytes.

    The signed files and the files given must be the same set: a directory with a file the
    signature does not cover, or a listed file it does not cover, does not verify (a loader
    would read that file too). For a list, exactly the listed files are checked.
    """
    verifying = _model_signing("verifying")
    key, bundle = Path(public_key), Path(signature)
    for path, what in ((key, "public key"), (bundle, "signature bundle")):
        if not path.is_file():
            raise NotFound(f"{what} '{path}' not found")
    root, chosen = _model_root(artifacts)
    config = verifying.Config().use_elliptic_key_verifier(public_key=key)
    try:
        if chosen is None:
            config.verify(root, bundle)  # the bundle, if inside, was ignored when signing
        else:
            with _only(root, chosen) as only:
                config.verify(only, bundle)
    except ValueError as exc:
        why = str(exc).replace(str(root), "<artifacts>")[:300]  # never a staging path
        raise Invalid(
            "the signature does not verify with this key: it was made with another key, or "
            f"the artifacts changed since they were signed ({why})"
        ) from exc
    except Exception as exc:  # the sigstore stack raises its own verification errors
        raise Invalid(
            f"signature bundle '{bundle.name}' could not be verified: {type(exc).__name__}"
        ) from exc
