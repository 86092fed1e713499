"""The vocabulary of evidence: check results, the checks' policy, and attestations that expire."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from mlgate.readiness.facts import Facts

__all__ = [
    "Attestation",
    "CheckContext",
    "CheckPolicy",
    "CheckResult",
    "EvidenceLevel",
    "Status",
]


class Status(StrEnum):
    SATISFIED = "satisfied"
    UNSATISFIED = "unsatisfied"
    UNKNOWN = "unknown"


class EvidenceLevel(StrEnum):
    """How a test is carried out: the ML Test Score gives 0.5 for manual, 1 for automated."""

    MANUAL = "manual"
    AUTOMATED = "automated"


class CheckResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    status: Status
    reason: str


class CheckPolicy(BaseModel):
    """Thresholds the automatic checks apply; the defaults suit a small team's production."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_card_completeness: float = Field(default=0.8, ge=0.0, le=1.0)
    max_retention_days: int = Field(default=90, ge=0)
    max_backup_age: timedelta = timedelta(days=1)
    max_drill_age: timedelta = timedelta(days=90)


@dataclass(frozen=True, slots=True)
class CheckContext:
    facts: Facts
    now: datetime
    policy: CheckPolicy


class Attestation(BaseModel):
    """A person's signed statement that a rubric item is done; it counts only until it expires."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    item_id: str = Field(min_length=1)
    by: str = Field(min_length=1)
    at: AwareDatetime
    expires_at: AwareDatetime
    level: EvidenceLevel = EvidenceLevel.MANUAL
    note: str = Field(default="", description="a link to, or a note naming, the documented result")

    @model_validator(mode="after")
    def _expires_after_it_was_made(self) -> Attestation:
        if self.expires_at <= self.at:
            raise ValueError("expires_at must be later than at")
        return self

    def valid_at(self, now: datetime) -> bool:
        return self.at <= now < self.expires_at
