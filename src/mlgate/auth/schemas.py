"""Principals, scopes and the API key shapes the API and CLI exchange."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints

__all__ = [
    "MAX_GRACE_SECONDS",
    "ApiKeyCreate",
    "ApiKeyIssued",
    "ApiKeyRead",
    "ApiKeyRotate",
    "Principal",
    "Scope",
    "person",
]

# Ten years, the CLI's bound too: far larger graces overflow datetime arithmetic.
MAX_GRACE_SECONDS = 10 * 365 * 86400


class Scope(StrEnum):
    """What a key may do. ``admin`` implies every scope; ``x:write`` implies ``x:read``."""

    ADMIN = "admin"
    REGISTRY_READ = "registry:read"
    REGISTRY_WRITE = "registry:write"
    APPROVALS_REQUEST = "approvals:request"
    APPROVALS_REVIEW = "approvals:review"
    DEPLOY = "deploy"
    ROUTES_READ = "routes:read"
    ROUTES_WRITE = "routes:write"
    GATEWAY_INVOKE = "gateway:invoke"
    AUDIT_READ = "audit:read"
    METRICS_READ = "metrics:read"
    PRIVACY_ADMIN = "privacy:admin"
    SCAN_WRITE = "scan:write"
    INCIDENTS_READ = "incidents:read"
    INCIDENTS_WRITE = "incidents:write"
    READINESS_READ = "readiness:read"
    READINESS_WRITE = "readiness:write"
    BACKUP_ADMIN = "backup:admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who acts: a key's owner (or a local operator / the system) and the scopes it holds."""

    name: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    key_id: str | None = None
    groups: frozenset[str] = field(default_factory=frozenset)

    def has(self, scope: str) -> bool:
        if Scope.ADMIN in self.scopes or scope in self.scopes:
            return True
        resource, _, action = scope.partition(":")
        return action == "read" and f"{resource}:write" in self.scopes

    @property
    def is_admin(self) -> bool:
        return Scope.ADMIN in self.scopes

    @classmethod
    def system(cls, name: str = "system") -> Principal:
        return cls(name=f"system:{name}", scopes=frozenset({Scope.ADMIN.value}))


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    # Stripped: separation of duties compares owners, and ' rita ' is rita.
    owner: Annotated[str, StringConstraints(strip_whitespace=True)] = Field(
        min_length=1, max_length=100, description="The principal the key acts as."
    )
    scopes: list[Scope] = Field(min_length=1)
    expires_at: datetime | None = None
    allowed_routes: list[str] | None = Field(
        default=None, description="Gateway routes the key may call; none means every route."
    )
    groups: list[str] = Field(default_factory=list, description="Reviewer groups, e.g. security.")


class ApiKeyRotate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_seconds: int | None = Field(
        default=None,
        ge=0,
        le=MAX_GRACE_SECONDS,
        description="How long the old key keeps working (default: settings); at most 10 years.",
    )


class ApiKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    owner: str
    lookup: str = Field(description="Public identifier: the first characters after mlg_.")
    scopes: list[str]
    groups: list[str]
    allowed_routes: list[str] | None
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    successor_id: str | None


class ApiKeyIssued(ApiKeyRead):
    """A key as issued: the only time its secret value is shown."""

    key: SecretStr


def person(owner: str) -> str:
    """An owner as separation of duties compares it: Unicode-normalised, trimmed, case-folded,
    so 'Rita', ' rita ' and its full-width form are one person (SQLite's lower() folds only
    ASCII letters)."""
    return unicodedata.normalize("NFKC", owner).strip().casefold()
