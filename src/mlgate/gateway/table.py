"""The route table: an immutable snapshot of what the gateway may serve, compiled from SQL.

The data plane never queries SQL per request. It holds one ``RouteTable`` and swaps it for a
new one when the control plane changes (a new audit-chain head means something changed).
Compilation is where "only approved versions are served" is enforced: a target whose version
is not approved (any more) is left out and named in ``problems``; keys that may call the
gateway are carried as HMACs with their grants, so authentication needs no query either.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from mlgate.audit import service as audit
from mlgate.auth.models import ApiKey
from mlgate.auth.schemas import Scope
from mlgate.clock import ensure_utc, utcnow
from mlgate.errors import Conflict, NotFound
from mlgate.gateway import service
from mlgate.gateway.schemas import (
    Degradation,
    GatewayLimits,
    Resilience,
    RouteRead,
    TargetSpec,
    public_url,
)
from mlgate.gateway.schemas import Upstream as UpstreamSpec
from mlgate.gateway.validation import InputValidator, compile_validator
from mlgate.monitoring.drift import Binner, DriftWatch
from mlgate.registry.models import ModelVersion

__all__ = ["CompiledRoute", "CompiledTarget", "KeyGrant", "RouteTable", "compile_route_table"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CompiledTarget:
    name: str
    model: str
    version: int
    framework: str
    artifact_sha256: str | None
    upstream: UpstreamSpec | None
    validator: InputValidator | None = field(default=None, compare=False, repr=False)
    # Request headers for an upstream (its secret as a bearer token); values stay SecretStr.
    headers: Mapping[str, SecretStr] = field(default_factory=dict, compare=False, repr=False)
    # Set when the route requires a signature: the loader verifies it before loading.
    require_signature: bool = False
    signature: Any = field(default=None, compare=False, repr=False)  # scanning SignedManifest
    artifacts: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    # Set when the version has a drift reference: the gateway counts its inputs in its bins.
    drift: DriftWatch | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class CompiledRoute:
    name: str
    model: str
    targets: tuple[CompiledTarget, ...]  # primary first, then fallbacks
    canary: CompiledTarget | None
    canary_percent: float
    sticky_by: str
    resilience: Resilience
    degradation: Degradation
    limits: GatewayLimits
    log_mode: str
    retention_days: int
    subject_header: str
    subject_path: str | None
    redact_inputs: bool
    require_signature: bool
    problems: tuple[str, ...]
    created: int = 0  # the route's creation, in Unix seconds (OpenAI's model list shows it)

    @property
    def speaks_openai(self) -> bool:
        """Whether ``/v1/chat/completions`` can serve every caller of this route: a primary or
        fallback is OpenAI-compatible, or a canary that takes all the traffic is (a partial
        one serves only some callers, and chat refuses the others)."""
        every = [*self.targets, self.canary] if self.canary_percent >= 100 else self.targets
        return any(
            t is not None and t.upstream is not None and t.upstream.protocol == "openai"
            for t in every
        )


@dataclass(frozen=True, slots=True)
class KeyGrant:
    key_id: str
    owner: str
    scopes: frozenset[str]
    allowed_routes: frozenset[str] | None
    expires_at: datetime | None

    def may_call(self, route: str, now: datetime, scope: str = Scope.GATEWAY_INVOKE) -> str | None:
        """None if this key may call ``route`` now, else the reason it may not."""
        if self.expires_at is not None and self.expires_at <= now:
            return "the API key has expired"
        if Scope.ADMIN not in self.scopes and scope not in self.scopes:
            return f"this key lacks the '{scope}' scope"
        if route and self.allowed_routes is not None and route not in self.allowed_routes:
            return f"this key may not call route '{route}'"
        return None


@dataclass(frozen=True, slots=True)
class RouteTable:
    revision: int
    routes: Mapping[str, CompiledRoute]
    keys: Mapping[str, KeyGrant]
    compiled_at: datetime
    unreadable: Mapping[str, str] = field(default_factory=dict)  # stored routes left out, why

    @classmethod
    def empty(cls) -> RouteTable:
        return cls(-1, MappingProxyType({}), MappingProxyType({}), utcnow())


SecretResolver = Callable[[Session, str], SecretStr]


def _headers(
    session: Session, spec: TargetSpec, resolve_secret: SecretResolver | None
) -> dict[str, SecretStr]:
    if spec.upstream is None or spec.upstream.secret is None:
        return {}
    if resolve_secret is None:
        raise Conflict(
            f"{spec.describe()} needs secret '{spec.upstream.secret}' but has no secret store"
        )
    token = resolve_secret(session, spec.upstream.secret)
    return {"Authorization": SecretStr("Bearer " + token.get_secret_value())}


def _compile_target(
    session: Session,
    spec: TargetSpec,
    resolve_secret: SecretResolver | None = None,
    require_signature: bool = False,
) -> CompiledTarget:
    version = service.resolve_target(session, spec)
    signature = None
    if require_signature:
        from mlgate.scanning.service import signed_manifest

        signature = signed_manifest(session, version_id=version.id)
        if signature is None:
            raise Conflict(
                f"{spec.model}@{version.version} is not signed and the route requires a "
                f"signature; sign it with `mlgate sign {spec.model}@{version.version} --key KEY`"
            )
    sha256 = None if spec.upstream is not None else _artifact_to_load(spec.model, version)
    return CompiledTarget(
        name=f"{spec.model}@{version.version}"
        + (_upstream_name(spec.upstream) if spec.upstream else "")
        + ("+signed" if require_signature else ""),
        model=spec.model,
        version=version.version,
        framework=version.framework,
        artifact_sha256=sha256,
        upstream=spec.upstream,
        validator=compile_validator(version.input_schema),
        headers=_headers(session, spec, resolve_secret),
        require_signature=require_signature,
        signature=signature,
        artifacts={a.name: a.sha256 for a in version.artifacts} if require_signature else {},
        drift=_drift_watch(session, version),
    )


def _upstream_name(upstream: UpstreamSpec) -> str:
    """The part of a target's name that says which upstream serves it, and how.

    The name keys the target's backend, breaker and bulkhead: two routes that reach one version
    on one server with another protocol, upstream model or secret need a backend each.
    """
    name = f"+{_part(public_url(upstream.url))}"
    if upstream.protocol != "json" or upstream.upstream_model:
        name += f"+{upstream.protocol}"
        if upstream.upstream_model:
            name += f":{_part(upstream.upstream_model)}"
    if upstream.secret:
        name += f"+secret:{_part(upstream.secret)}"
    return name


def _part(text: str) -> str:
    """Free text in a target's name with its separators escaped, so that one name cannot be
    read as two (a URL ending in "+secret:team-b" is not the URL with secret team-b)."""
    return text.replace("%", "%25").replace("+", "%2B")


def _drift_watch(session: Session, version: ModelVersion) -> DriftWatch | None:
    from mlgate.monitoring.service import references_by_version

    found = references_by_version(session, [version.id]).get(version.id)
    return DriftWatch(found[0], Binner(found[1])) if found else None


# The file an in-process target loads, by the version's framework: its own format first.
_IN_PROCESS_SUFFIX = {"onnx": ".onnx", "": ".onnx", "sklearn": ".skops"}


def _artifact_to_load(model: str, version: ModelVersion) -> str:
    """The sha256 of the artifact an in-process backend loads for ``version``."""
    suffix = _IN_PROCESS_SUFFIX.get(version.framework, ".onnx")
    artifacts = sorted(version.artifacts, key=lambda a: (not a.name.endswith(suffix), a.name))
    if not artifacts:
        raise Conflict(f"{model}@{version.version} has no artifact to load")
    return artifacts[0].sha256


def _compile_route(
    session: Session, route: RouteRead, resolve_secret: SecretResolver | None = None
) -> CompiledRoute:
    problems: list[str] = []
    targets: list[CompiledTarget] = []
    for spec in [route.primary or TargetSpec(model=route.model), *route.fallbacks]:
        try:
            targets.append(_compile_target(session, spec, resolve_secret, route.require_signature))
        except (Conflict, NotFound) as error:
            problems.append(f"{spec.describe()}: {error.detail}")
    canary = None
    if route.canary is not None:
        try:
            canary = _compile_target(
                session, route.canary.target, resolve_secret, route.require_signature
            )
        except (Conflict, NotFound) as error:
            problems.append(f"canary {route.canary.target.describe()}: {error.detail}")
    for problem in problems:
        logger.warning("route target refused", extra={"route": route.name, "problem": problem})
    return CompiledRoute(
        name=route.name,
        model=route.model,
        targets=tuple(targets),
        canary=canary,
        canary_percent=route.canary.percent if route.canary and canary else 0.0,
        sticky_by=route.canary.sticky_by if route.canary else "key",
        resilience=route.resilience,
        degradation=route.degradation,
        limits=route.limits,
        log_mode=route.log_mode,
        retention_days=route.retention_days,
        subject_header=route.subject_header,
        subject_path=route.subject_path,
        redact_inputs=route.redact_inputs,
        require_signature=route.require_signature,
        problems=tuple(problems),
        created=int(route.created_at.timestamp()),
    )


def _key_grants(session: Session) -> dict[str, KeyGrant]:
    grants: dict[str, KeyGrant] = {}
    for row in session.scalars(select(ApiKey).where(ApiKey.revoked_at.is_(None))):
        scopes = frozenset(row.scopes)
        grants[row.key_hash] = KeyGrant(
            key_id=row.id,
            owner=row.owner,
            scopes=scopes,
            allowed_routes=frozenset(row.allowed_routes)
            if row.allowed_routes is not None
            else None,
            expires_at=ensure_utc(row.expires_at) if row.expires_at else None,
        )
    return grants


def compile_route_table(
    session: Session, *, resolve_secret: SecretResolver | None = None
) -> RouteTable:
    """Read routes, approvals, keys (and upstream secrets) once and freeze them into a table."""
    revision, _ = audit.head(session)
    servable, unreadable = service.get_servable(session)
    for name, problem in unreadable.items():
        logger.error("route left out of the table", extra={"route": name, "problem": problem})
    routes = {route.name: _compile_route(session, route, resolve_secret) for route in servable}
    return RouteTable(
        revision=revision,
        routes=MappingProxyType(routes),
        keys=MappingProxyType(_key_grants(session)),
        compiled_at=utcnow(),
        unreadable=MappingProxyType(unreadable),
    )
