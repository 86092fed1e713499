"""Route specifications: what a route serves, how it survives failures, and who may call it."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mlgate.ids import MAX_NUMBER, NAME_PATTERN

__all__ = [
    "Canary",
    "ChatCompletionRequest",
    "Degradation",
    "GatewayLimits",
    "PredictRequest",
    "PredictResponse",
    "Resilience",
    "RouteCreate",
    "RouteRead",
    "RouteUpdate",
    "TargetSpec",
    "Upstream",
    "public_url",
]

Protocol = Literal["json", "kserve", "mlflow", "openai"]
# An HTTP header name (RFC 9110 token), so the front door can look it up in every request.
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Validation context for a route read back from the store: what was accepted once still reads.
STORED: dict[str, bool] = {"stored": True}


class Upstream(_Spec):
    """An HTTP model server that serves a registered version."""

    url: str = Field(pattern=r"^https?://", description="Base URL of the model server.")
    protocol: Protocol = "json"
    upstream_model: str | None = Field(
        default=None, description="Model name the server knows (KServe, OpenAI)."
    )
    secret: str | None = Field(
        default=None, description="Name of a stored secret sent as 'Authorization: Bearer …'."
    )

    @field_validator("url")
    @classmethod
    def _reachable_without_credentials(cls, url: str, info: ValidationInfo) -> str:
        parts = urlsplit(url)
        if "@" in parts.netloc:
            raise ValueError(
                "credentials do not belong in the URL, which shows in metrics, logs and "
                "/readyz; store them with `mlgate secrets set` and name the secret in 'secret'"
            )
        if info.context and info.context.get("stored"):
            return url  # read back as stored: an older mlgate accepted any host and port
        try:
            port = parts.port  # raises on a port that is not a number from 0 to 65535
        except ValueError:
            port = 0
        if port == 0:
            raise ValueError("the port must be a number from 1 to 65535")
        if not parts.hostname:
            raise ValueError("name the server's host: http://HOST[:PORT]/…")
        return url


def public_url(url: str) -> str:
    """``url`` as metrics, logs, errors and /readyz show it: a query becomes a short digest.

    A query may carry a token (``?api_key=…``); the digest keeps two URLs that differ only
    in their query apart (breakers and bulkheads are per target) without showing it.
    """
    parts = urlsplit(url)
    shown = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    if parts.query:
        shown += "?" + hashlib.sha256(parts.query.encode()).hexdigest()[:12]
    return shown


class TargetSpec(_Spec):
    """One approved model version, by number or by alias, run in-process or by an upstream."""

    model: str = Field(pattern=NAME_PATTERN)
    version: int | None = Field(
        default=None, ge=1, le=MAX_NUMBER, description="Pinned version, else the alias."
    )
    alias: str = Field(default="production", pattern=NAME_PATTERN)
    upstream: Upstream | None = Field(
        default=None, description="Serve through this HTTP server; none: in-process (ONNX)."
    )

    def describe(self) -> str:
        where = f" via {public_url(self.upstream.url)}" if self.upstream else ""
        return f"{self.model}@{self.version or self.alias}{where}"


class Canary(_Spec):
    target: TargetSpec
    percent: float = Field(gt=0, le=100)
    sticky_by: Literal["key", "subject"] = Field(
        default="key", description="Keep one caller on one version: by API key or subject header."
    )


class Resilience(_Spec):
    deadline_ms: int = Field(default=2000, ge=10, le=600_000)
    attempt_timeout_ms: int = Field(default=1000, ge=5, le=600_000)
    max_attempts: int = Field(default=2, ge=1, le=10)
    retry_budget_ratio: float = Field(default=0.2, ge=0, le=1)
    breaker_failure_rate: float = Field(default=0.5, gt=0, le=1)
    breaker_min_calls: int = Field(default=20, ge=1)
    breaker_window_seconds: float = Field(default=10.0, gt=0, le=86_400)
    breaker_open_seconds: float = Field(default=10.0, gt=0, le=86_400)
    breaker_half_open_probes: int = Field(default=3, ge=1)
    bulkhead: int = Field(default=64, ge=1, description="Concurrent calls per target.")
    stream_deadline_ms: int = Field(
        default=600_000,
        ge=10,
        le=86_400_000,
        description=(
            "A streamed chat answer ends by then, counted from when the call starts (its first "
            "byte must come within deadline_ms)."
        ),
    )

    @model_validator(mode="after")
    def _stream_outlasts_first_byte(self) -> Resilience:
        if self.stream_deadline_ms < self.deadline_ms:
            raise ValueError(
                f"stream_deadline_ms ({self.stream_deadline_ms}) must be at least deadline_ms "
                f"({self.deadline_ms}): a stream's first byte may take that long"
            )
        return self


class Degradation(_Spec):
    mode: Literal["none", "static", "cached"] = "none"
    static_response: Any = None
    cache_ttl_seconds: int = Field(default=300, ge=1)

    @model_validator(mode="after")
    def _static_needs_a_response(self) -> Degradation:
        if self.mode == "static" and self.static_response is None:
            raise ValueError("degradation mode 'static' needs static_response")
        return self


class GatewayLimits(_Spec):
    route_rate: str | None = Field(default=None, description="e.g. '100/second' for the route.")
    key_rate: str | None = Field(default=None, description="e.g. '10/second' per API key.")
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)

    @field_validator("route_rate", "key_rate")
    @classmethod
    def _parses(cls, value: str | None) -> str | None:
        if value is not None:
            from limits import parse_many

            try:
                rates = parse_many(value)
            except ValueError as error:
                raise ValueError(f"not a rate like '100/second': {error}") from error
            if len(rates) > 1:  # the gateway enforces one rate per limit, not the rest
                raise ValueError(
                    f"one rate per limit, like '100/second'; '{value}' names {len(rates)}"
                )
        return value


class RouteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    primary: TargetSpec | None = Field(
        default=None, description="Default: the model's production alias, in-process."
    )
    fallbacks: list[TargetSpec] = Field(default_factory=list, max_length=10)
    canary: Canary | None = None
    resilience: Resilience = Field(default_factory=Resilience)
    degradation: Degradation = Field(default_factory=Degradation)
    limits: GatewayLimits = Field(default_factory=GatewayLimits)
    log_mode: Literal["off", "metadata", "redacted", "full"] = "metadata"
    retention_days: int = Field(default=30, ge=1, le=3650)
    subject_header: str = Field(default="X-MLGate-Subject", max_length=100)
    subject_path: str | None = Field(
        default=None,
        max_length=200,
        description="JSON path of the data subject in the body (e.g. $.customer.id), used when "
        "the subject header is absent.",
    )
    redact_inputs: bool = False
    require_signature: bool = False

    @field_validator("subject_header")
    @classmethod
    def _is_a_header_name(cls, value: str) -> str:
        if not _HEADER_NAME.fullmatch(value):
            raise ValueError(
                "must be an HTTP header name: up to 100 ASCII letters, digits and "
                "!#$%&'*+.^_`|~- (e.g. X-MLGate-Subject)"
            )
        return value


class RouteCreate(RouteBody):
    name: str = Field(pattern=NAME_PATTERN)
    model: str = Field(pattern=NAME_PATTERN)


class RouteUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fallbacks: list[TargetSpec] | None = None
    canary: Canary | None = None
    clear_canary: bool = False
    resilience: Resilience | None = None
    degradation: Degradation | None = None
    limits: GatewayLimits | None = None
    log_mode: Literal["off", "metadata", "redacted", "full"] | None = None
    retention_days: int | None = Field(default=None, ge=1, le=3650)
    redact_inputs: bool | None = None
    require_signature: bool | None = None


class RouteRead(RouteBody):
    name: str
    model: str
    created_at: datetime
    created_by: str
    updated_at: datetime


# -- the client endpoints (documented in OpenAPI; served by frontdoor.ClientEndpoints) ------


class PredictRequest(BaseModel):
    inputs: Any = Field(
        description="What the model takes (rows, named tensors, any JSON), checked against "
        "the served version's input schema before any backend is called."
    )
    parameters: dict[str, Any] | None = Field(
        default=None, description="Passed on to backends that take parameters."
    )


class PredictResponse(BaseModel):
    outputs: Any
    model: str
    version: int | None = Field(
        description="The version that answered; null for a static degraded answer, which no "
        "version gave."
    )
    degraded: Literal["static", "cached"] | None = Field(
        default=None,
        description="Present when every target failed and a degraded answer "
        "was served (also in the X-MLGate-Degraded header).",
    )


class ChatCompletionRequest(BaseModel):
    """An OpenAI chat completion request; ``model`` names the route. Other fields pass through."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(description="The route to call.")
    messages: list[dict[str, Any]]
    stream: bool = Field(default=False, description="Server-sent events, passed through.")
