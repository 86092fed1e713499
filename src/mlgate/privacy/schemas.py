"""Request and response shapes of the privacy admin: secrets, holds, purges, subject requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from mlgate.ids import NAME_PATTERN

__all__ = [
    "ErasureResult",
    "HoldCreate",
    "HoldRead",
    "MasterRotation",
    "ProcessingRecord",
    "PurgeResult",
    "PurgeRoute",
    "PurposeSet",
    "SecretRead",
    "SecretSet",
    "SubjectErase",
    "SubjectExport",
    "SubjectRecord",
    "SubjectRequest",
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SecretSet(_In):
    value: SecretStr = Field(min_length=1, max_length=16_384)
    description: str = Field(default="", max_length=500)


class SecretRead(BaseModel):
    """A secret's name and metadata; its value is never part of any answer."""

    model_config = ConfigDict(from_attributes=True)

    name: str
    description: str
    key_id: str = Field(description="The master key that wraps its data key.")
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


class MasterRotation(BaseModel):
    old_key_ids: list[str]
    new_key_id: str
    secrets: int
    subject_keys: int


class HoldCreate(_In):
    kind: Literal["subject", "route"]
    target: str = Field(min_length=1, max_length=500, description="The subject, or a route name.")
    reason: str = Field(min_length=1, max_length=2000)


class HoldRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    target: str = Field(description="The route name, or the subject's pseudonym.")
    reason: str
    created_at: datetime
    created_by: str


class PurgeRoute(BaseModel):
    route: str
    retention_days: int
    cutoff: datetime
    logs: int
    payloads: int
    drift_counts: int = 0
    held: bool


class PurgeResult(BaseModel):
    dry_run: bool
    now: datetime
    routes: list[PurgeRoute]
    logs: int
    payloads: int
    drift_counts: int = 0
    spared_by_subject_holds: int


class SubjectRequest(_In):
    subject: str = Field(min_length=1, max_length=500)


class SubjectErase(SubjectRequest):
    confirm: str = Field(description="The subject again, to confirm the erasure.")
    dry_run: bool = False

    @model_validator(mode="after")
    def _confirmed(self) -> SubjectErase:
        if self.confirm != self.subject:
            raise ValueError("confirm must repeat the subject exactly")
        return self


class SubjectRecord(BaseModel):
    id: str
    at: datetime
    route: str
    model: str | None
    version: int | None
    status: int | None
    outcome: str | None
    mode: str | None
    payload: Any = None


class SubjectExport(BaseModel):
    pseudonym: str
    records: list[SubjectRecord]


class ErasureResult(BaseModel):
    pseudonym: str
    dry_run: bool
    logs: int
    payloads: int
    key_destroyed: bool


class PurposeSet(_In):
    purposes: list[str] = Field(min_length=1, max_length=20)
    legal_basis: str = Field(default="", max_length=200)


class ProcessingRecord(BaseModel):
    route: str = Field(pattern=NAME_PATTERN)
    model: str
    purposes: list[str]
    legal_basis: str
    categories: list[str]
    log_mode: str
    retention_days: int
    encryption: str
    recipients: list[str]
    subject_header: str
    held: bool
