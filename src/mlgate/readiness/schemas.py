"""Readiness request and response shapes: attestations, snapshots and the debt register."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from mlgate.ids import MAX_NUMBER, NAME_PATTERN
from mlgate.readiness.debt import DebtCategory, DebtClosing, DebtLevel, DebtStatus, Quadrant
from mlgate.readiness.evidence import EvidenceLevel

__all__ = [
    "AttestationCreate",
    "AttestationRead",
    "DebtClose",
    "DebtCreate",
    "DebtFromAssessment",
    "DebtRead",
    "SnapshotRead",
    "SubjectKind",
]

ITEM_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"


class SubjectKind(StrEnum):
    """What an attestation is about: one version, one gateway route, or the whole workspace."""

    VERSION = "version"
    ROUTE = "route"
    WORKSPACE = "workspace"


class AttestationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_id: str = Field(pattern=ITEM_PATTERN, description="A rubric item, e.g. 'dep-rollback'.")
    level: EvidenceLevel = EvidenceLevel.MANUAL
    note: str = Field(default="", max_length=2000, description="A link to or note on the result.")
    expires_at: AwareDatetime | None = Field(
        default=None, description="When the evidence goes stale; default: 180 days from now."
    )


class AttestationRead(BaseModel):
    id: str
    subject: SubjectKind
    model: str | None
    version: int | None
    route: str | None
    item_id: str
    level: EvidenceLevel
    note: str
    attested_by: str
    attested_at: datetime
    expires_at: datetime
    valid: bool = Field(
        description="Whether it counts now: not expired and, for a route, given to the route "
        "that carries the name now (not to one deleted since)."
    )


class SnapshotRead(BaseModel):
    model: str
    version: int
    assessed_at: datetime
    assessed_by: str
    final: float
    band: str
    sections: dict[str, float]
    checklist_met: int
    checklist_total: int


class DebtCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    category: DebtCategory
    impact: DebtLevel
    effort: DebtLevel
    owner: str | None = Field(default=None, max_length=100)
    due: AwareDatetime | None = None
    description: str = Field(default="", max_length=10_000)
    model: str | None = Field(default=None, pattern=NAME_PATTERN, description="None: workspace.")
    version: int | None = Field(default=None, ge=1, le=MAX_NUMBER)


class DebtClose(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: DebtClosing = Field(
        default=DebtClosing.RESOLVED, description="resolved (fixed) or accepted (living with it)."
    )
    comment: str = Field(default="", max_length=2000)


class DebtFromAssessment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    owner: str | None = Field(default=None, max_length=100)


class DebtRead(BaseModel):
    id: str
    model: str | None
    version: int | None
    title: str
    description: str
    category: DebtCategory
    impact: DebtLevel
    effort: DebtLevel
    owner: str | None
    due: datetime | None
    status: DebtStatus
    source_item: str | None
    created_at: datetime
    created_by: str
    closed_at: datetime | None
    quadrant: Quadrant
    overdue: bool
    rank: int | None = Field(default=None, description="Position in the prioritised list.")
