"""Registry request and response shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mlgate.ids import NAME_PATTERN

__all__ = [
    "ArtifactRead",
    "ModelCreate",
    "ModelRead",
    "ModelUpdate",
    "Page",
    "VersionCreate",
    "VersionRead",
]

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


def _check_tags(tags: list[str]) -> list[str]:
    for tag in tags:
        if not tag or len(tag) > 63 or not tag.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"tag {tag!r} must be 1-63 letters, digits, '-' or '_'")
    return sorted(set(tags))


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


class ModelUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, max_length=10_000)
    owner: str | None = Field(default=None, max_length=100)
    tags: list[str] | None = None

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str] | None) -> list[str] | None:
        return None if tags is None else _check_tags(tags)


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
    artifact_sha256: dict[str, str] = Field(
        default_factory=dict, description="Expected sha256 per artifact name; checked on upload."
    )


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
