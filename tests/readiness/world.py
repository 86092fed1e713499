"""Build small readiness worlds through the real services: models, versions, attestations."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from mlgate.auth.schemas import Principal
from mlgate.readiness import service
from mlgate.readiness.evidence import EvidenceLevel
from mlgate.readiness.schemas import AttestationCreate, AttestationRead
from mlgate.registry import service as registry
from mlgate.registry.schemas import ModelCreate, VersionCreate, VersionRead
from mlgate.runtime import Runtime

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SCHEMA = {"type": "object", "properties": {"tenure": {"type": "number"}}}
T = TypeVar("T")


class World:
    """One store; every change goes through a service in its own unit of work, like a request."""

    def __init__(self, runtime: Runtime, actor: Principal) -> None:
        self.runtime = runtime
        self.actor = actor

    def run(self, work: Callable[[Session], T]) -> T:
        with self.runtime.db.unit_of_work() as session:
            return work(session)

    def version(
        self,
        model: str,
        *,
        input_schema: dict[str, Any] | None = SCHEMA,
        provenance: bool = True,
        at: datetime = NOW - timedelta(days=30),
    ) -> VersionRead:
        def register(session: Session) -> VersionRead:
            if model not in {m.name for m in registry.list_models(session).items}:
                registry.create_model(
                    session, model_in=ModelCreate(name=model), actor=self.actor, now=at
                )
            version_in = VersionCreate(
                framework="onnx",
                input_schema=input_schema,
                git_commit="abc123" if provenance else None,
                training_data_version="2026-05" if provenance else None,
            )
            upload = registry.ArtifactUpload(name="model.onnx", stream=io.BytesIO(b"weights"))
            return registry.register_version(
                session,
                blobs=self.runtime.blobs,
                model_name=model,
                version_in=version_in,
                uploads=[upload],
                max_bytes=1024,
                actor=self.actor,
                now=at,
            )

        return self.run(register)

    def attest(
        self,
        item: str,
        *,
        ref: tuple[str, int] | None = None,
        route: str | None = None,
        level: EvidenceLevel = EvidenceLevel.MANUAL,
        at: datetime = NOW - timedelta(days=10),
        valid_for: timedelta = timedelta(days=180),
        note: str = "",
    ) -> AttestationRead:
        attestation_in = AttestationCreate(
            item_id=item, level=level, note=note, expires_at=at + valid_for
        )
        model, version = ref if ref else (None, None)
        return self.run(
            lambda s: service.attest(
                s,
                attestation_in=attestation_in,
                actor=self.actor,
                model=model,
                version=version,
                route=route,
                now=at,
            )
        )
