"""Factories of the scanning service tests: versions with chosen artifacts, keys, pickles."""

from __future__ import annotations

import io
import os
import pickle
import tracemalloc
import uuid
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.orm import Session

from mlgate.auth.schemas import Principal
from mlgate.registry import service as registry
from mlgate.registry.schemas import ModelCreate, VersionCreate
from mlgate.runtime import Runtime
from mlgate.scanning import ScanReport, scan_path, service
from mlgate.scanning.schemas import SignatureRead

ADMIN = Principal(name="alice", scopes=frozenset({"admin"}))
SCANNER = Principal(name="ci", scopes=frozenset({"scan:write", "registry:read"}))
SCHEMA = {"type": "object", "properties": {"x": {"type": "number"}}}


class _Shell:
    """Unpickling this would run a shell command; the scanner must say so without loading it."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo pwned",))


def malicious_pickle() -> bytes:
    return pickle.dumps(_Shell(), protocol=4)


def headerless_pickle() -> bytes:
    """posix.system("id") with no PROTO header, as a security review built it.

    SHORT_BINUNICODE x2, STACK_GLOBAL, SHORT_BINUNICODE, TUPLE1, REDUCE, STOP: pickle.loads
    accepts it, and its first byte is no pickle "magic".
    """
    return b"\x8c\x05posix\x8c\x06system\x93\x8c\x02id\x85R."


def benign_pickle() -> bytes:
    return pickle.dumps({"weights": [1.0, 2.0, 3.0], "bias": 0.5}, protocol=4)


def make_version(
    runtime: Runtime,
    artifacts: dict[str, bytes] | None = None,
    *,
    model: str | None = None,
    input_schema: bool = True,
    framework: str = "",
) -> tuple[str, int]:
    """Register ``artifacts`` (name -> bytes) as a new version; returns (model, N)."""
    name = model or f"m-{uuid.uuid4().hex[:10]}"
    files = artifacts or {
        "model.pkl": benign_pickle(),
        "config/labels.json": b'{"labels": ["cat", "dog"]}',
    }
    with runtime.db.unit_of_work() as session:
        if model is None:
            registry.create_model(session, model_in=ModelCreate(name=name), actor=ADMIN)
        version = registry.register_version(
            session,
            blobs=runtime.blobs,
            model_name=name,
            version_in=VersionCreate(
                framework=framework, input_schema=SCHEMA if input_schema else None
            ),
            uploads=[
                registry.ArtifactUpload(name=n, stream=io.BytesIO(data))
                for n, data in files.items()
            ],
            max_bytes=1 << 30,
            actor=ADMIN,
        )
    return name, version.version


def write_keypair(directory: Path, name: str) -> tuple[Path, Path]:
    """A fresh EC P-256 key pair as PEM files: (private, public)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = directory / f"{name}.pem", directory / f"{name}.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def sign(runtime: Runtime, model: str, version: int, private_key: Path) -> SignatureRead:
    """Sign ``model@version`` with ``private_key`` as ADMIN and store the signature."""
    with runtime.db.unit_of_work() as session:
        return service.sign_version(
            session,
            blobs=runtime.blobs,
            model_name=model,
            version=version,
            private_key=private_key,
            actor=ADMIN,
        )


def tamper(runtime: Runtime, sha256: str) -> None:
    """Flip one byte of a stored blob in place (blobs are read-only on disk)."""
    path = runtime.blobs.path(sha256)
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def approve_and_deploy(runtime: Runtime, model: str, version: int) -> None:
    """Approve ``model@version`` through a one-stage policy and point production at it."""
    with runtime.db.unit_of_work() as session:
        _approve_and_deploy(session, model, version)


def _approve_and_deploy(session: Session, model: str, version: int) -> None:
    from mlgate.approvals import deployments, policy
    from mlgate.approvals import service as approvals
    from mlgate.approvals.schemas import PolicyDocument, StagePolicy

    reviewer = Principal(name="bob", scopes=frozenset({"approvals:review"}))
    policy.set_policy(
        session,
        subject=model,
        document=PolicyDocument(stages=[StagePolicy(name="quick-review")]),
        actor=ADMIN,
    )
    request = approvals.request_review(session, model_name=model, version=version, requester=ADMIN)
    approvals.approve(session, request_id=request.id, reviewer=reviewer, comment="ok")
    deployments.move_alias(
        session, model_name=model, alias="production", version=version, actor=ADMIN
    )


def serve(runtime: Runtime, model: str, version: int, **route: object) -> None:
    """Approve ``model@version`` through a one-stage policy, deploy it and route to it."""
    from mlgate.gateway import service as routes
    from mlgate.gateway.schemas import RouteCreate

    with runtime.db.unit_of_work() as session:
        _approve_and_deploy(session, model, version)
        spec = {"name": model, "model": model, **route}
        routes.create_route(session, route_in=RouteCreate.model_validate(spec), actor=ADMIN)


def peak_memory_of_scan(path: Path) -> tuple[ScanReport, int]:
    """Scan ``path``; its report and the most memory Python held meanwhile (tracemalloc)."""
    tracemalloc.start()
    try:
        report = scan_path(path)
        return report, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
