"""Registry request and response shapes."""

from __future__ import annotations

import re
import string
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from mlgate.ids import NAME_PATTERN
from mlgate.registry.naming import described_hidden, hidden_character

__all__ = [
    "MAX_JSON_DEPTH",
    "ArtifactRead",
    "ModelCreate",
    "ModelRead",
    "ModelUpdate",
    "Page",
    "VersionCreate",
    "VersionRead",
    "too_deep",
]

T = TypeVar("T")
# Nesting bound for JSON a version carries: a deeper value is refused, not parsed into a
# RecursionError or stored and then unserializable in every answer that shows it.
MAX_JSON_DEPTH = 64
_TAG_CHARS = frozenset(string.ascii_letters + string.digits + "-_")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


def too_deep(value: object, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether JSON ``value`` nests deeper than ``limit`` (walked without recursion)."""
    pending: list[tuple[object, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: list[object] = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth >= limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def _check_tags(tags: list[str]) -> list[str]:
    # ASCII only: a look-alike letter (a Cyrillic "a" in "fraud") hid a model from --tag fraud.
    for tag in tags:
        if not tag or len(tag) > 63 or not _TAG_CHARS.issuperset(tag):
            raise ValueError(f"tag {tag!r} must be 1-63 ASCII letters, digits, '-' or '_'")
    return sorted(set(tags))


def _check_owner(owner: str | None) -> str | None:
    if owner is None:
        return None
    if not owner.strip():
        raise ValueError("must not be empty; name the owning team or person")
    # The rule artifact names follow: a VS16 right after an emoji ('Zoë \u2764\ufe0f team') is no
    # hidden character.
    hidden = hidden_character(owner)
    if hidden is not None:
        raise ValueError(f"contains {described_hidden(hidden)}; remove it")
    return owner


def _check_sha256(digest: str) -> str:
    # An empty digest was read as "no check": the upload it named was not checked at all.
    normal = digest.strip().lower()
    if not _SHA256.fullmatch(normal):
        raise ValueError("must be 64 hexadecimal characters (a sha256 digest)")
    return normal


Sha256 = Annotated[str, AfterValidator(_check_sha256)]


class ModelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="Lowercase letters, digits and '-'.")
    description: str = Field(default="", max_length=10_000)
    owner: str | None = Field(default=None, max_length=100, description="Default: the caller.")
    tags: list[str] = Field(default_factory=list, max_length=50)

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str]) -> list[str]:
        return _check_tags(tags)

    @field_validator("owner")
    @classmethod
    def _owner(cls, owner: str | None) -> str | None:
        return _check_owner(owner or None)  # empty: the caller, as when it is left out


class ModelUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, max_length=10_000)
    owner: str | None = Field(default=None, max_length=100)
    tags: list[str] | None = None

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str] | None) -> list[str] | None:
        return None if tags is None else _check_tags(tags)

    @field_validator("owner")
    @classmethod
    def _owner(cls, owner: str | None) -> str | None:
        return _check_owner(owner)


class ModelRead(BaseModel):
    name: str
    description: str
    owner: str
    tags: list[str]
    latest_version: int
    created_at: datetime
    created_by: str
    updated_at: datetime


class VersionCreate(BaseModel):
    """Metadata of a new version; its artifacts travel beside it (multipart or CLI paths)."""

    model_config = ConfigDict(extra="forbid")

    framework: str = Field(default="", max_length=50)
    description: str = Field(default="", max_length=10_000)
    input_schema: dict[str, Any] | None = None
    output_schema: dict[str, Any] | None = None
    git_commit: str | None = Field(default=None, max_length=64)
    training_data_version: str | None = Field(default=None, max_length=200)
    trainer: str | None = Field(default=None, max_length=200)
    artifact_sha256: dict[str, Sha256] = Field(
        default_factory=dict, description="Expected sha256 per artifact name; checked on upload."
    )

    @field_validator("input_schema", "output_schema")
    @classmethod
    def _shallow(cls, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        if schema is not None and too_deep(schema):
            raise ValueError(f"is nested deeper than {MAX_JSON_DEPTH} levels")
        return schema


class ArtifactRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    sha256: str
    size: int


class VersionRead(BaseModel):
    model: str
    version: int
    status: str
    framework: str
    description: str
    input_schema: dict[str, Any] | None
    output_schema: dict[str, Any] | None
    git_commit: str | None
    training_data_version: str | None
    trainer: str | None
    created_by: str
    created_at: datetime
    artifacts: list[ArtifactRead]
