"""Factories that build a servable world through the real services, one call each."""

from __future__ import annotations

import io
from typing import Any

from mlgate.approvals import deployments, policy
from mlgate.approvals import service as approvals
from mlgate.approvals.schemas import PolicyDocument, StagePolicy
from mlgate.auth.schemas import Principal
from mlgate.gateway import service as routes
from mlgate.gateway.schemas import RouteCreate
from mlgate.registry import service as registry
from mlgate.registry.schemas import ModelCreate, VersionCreate
from mlgate.runtime import Runtime

REQUESTER = Principal(name="alice", scopes=frozenset({"admin"}))
REVIEWER = Principal(name="bob", scopes=frozenset({"approvals:review"}))
IRIS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "minItems": 1,
    "items": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
}


def register(
    runtime: Runtime,
    model: str,
    artifact: bytes,
    *,
    schema: dict[str, Any] | None = IRIS_SCHEMA,
    framework: str = "onnx",
    artifact_name: str = "model.onnx",
) -> int:
    with runtime.db.unit_of_work() as session:
        try:
            registry.get_model(session, name=model)
        except Exception:
            registry.create_model(session, model_in=ModelCreate(name=model), actor=REQUESTER)
            policy.set_policy(
                session,
                subject=model,
                document=PolicyDocument(stages=[StagePolicy(name="quick-review")]),
                actor=REQUESTER,
            )
        version = registry.register_version(
            session,
            blobs=runtime.blobs,
            model_name=model,
            version_in=VersionCreate(framework=framework, input_schema=schema),
            uploads=[registry.ArtifactUpload(name=artifact_name, stream=io.BytesIO(artifact))],
            max_bytes=1 << 30,
            actor=REQUESTER,
        )
    return version.version


def approve(runtime: Runtime, model: str, version: int) -> None:
    """Take the version through its (one-stage) review: requested by alice, approved by bob."""
    with runtime.db.unit_of_work() as session:
        request = approvals.request_review(
            session, model_name=model, version=version, requester=REQUESTER
        )
        approvals.approve(session, request_id=request.id, reviewer=REVIEWER, comment="looks good")


def deploy(runtime: Runtime, model: str, version: int, alias: str = "production") -> None:
    with runtime.db.unit_of_work() as session:
        deployments.move_alias(
            session, model_name=model, alias=alias, version=version, actor=REQUESTER
        )


def served_model(runtime: Runtime, model: str, artifact: bytes, **options: Any) -> int:
    """Register, approve and deploy to production; returns the version number."""
    version = register(runtime, model, artifact, **options)
    approve(runtime, model, version)
    deploy(runtime, model, version)
    return version


def create_route(runtime: Runtime, **spec: Any) -> None:
    with runtime.db.unit_of_work() as session:
        routes.create_route(session, route_in=RouteCreate(**spec), actor=REQUESTER)


def upstream_route(
    runtime: Runtime, name: str, url: str, *, model: str = "echo", **spec: Any
) -> None:
    """Route ``name`` to ``model`` (approved, deployed) served by the upstream at ``url``."""
    served_model(runtime, model, b"served elsewhere", framework="http", schema=None)
    create_route(
        runtime,
        name=name,
        model=model,
        primary={"model": model, "upstream": {"url": url}},
        **spec,
    )
