"""Audit entry and verification shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from mlgate.audit.hashes import UNVERSIONED

__all__ = ["AuditEntryRead", "AuditVerification"]


class AuditEntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    id: str
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    change: dict[str, Any]
    digest: str
    prev_hash: str
    hash: str
    # Exports written before hash versions have no such field: their entries are all version 1.
    hash_version: int = UNVERSIONED  # an export from before versions


class AuditVerification(BaseModel):
    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    first_broken_seq: int | None = None
    reason: str | None = None
