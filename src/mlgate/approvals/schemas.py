"""Approval policies, requests, decisions, webhooks and aliases as the API and CLI see them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from mlgate.ids import MAX_NUMBER

__all__ = [
    "AliasHistoryRead",
    "AliasMove",
    "AliasProtection",
    "AliasRead",
    "AliasRollback",
    "ApprovalRequestCreate",
    "ApprovalRequestRead",
    "DecisionCreate",
    "DecisionKind",
    "DecisionRead",
    "DeliveryRead",
    "GateCheckInfo",
    "GateResult",
    "GateSpec",
    "PolicyDocument",
    "PolicyRead",
    "RequestState",
    "Resubmit",
    "StagePolicy",
    "StageRead",
    "WebhookCreate",
    "WebhookCreated",
    "WebhookIssued",
    "WebhookRead",
]

SLUG = r"^[a-z0-9][a-z0-9-]{0,62}$"


class RequestState(StrEnum):
    PENDING = "pending"
    NEEDS_REVISION = "needs_revision"
    APPROVED = "approved"
    REJECTED = "rejected"

    @property
    def terminal(self) -> bool:
        return self in (RequestState.APPROVED, RequestState.REJECTED)


class DecisionKind(StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    CHANGES_REQUESTED = "changes_requested"
    RESUBMITTED = "resubmitted"


class GateSpec(BaseModel):
    """A named gate check and its parameters, e.g. ``card_completeness`` with a threshold."""

    model_config = ConfigDict(extra="forbid")

    check: str = Field(min_length=1, max_length=100)
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"check": value} if isinstance(value, str) else value


class StagePolicy(BaseModel):
    """One review stage: who may decide it and which gates must pass before approval."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=SLUG)
    title: str = Field(default="", max_length=200)
    reviewer_scope: str = Field(default="approvals:review", max_length=50)
    reviewer_groups: list[str] = Field(
        default_factory=list,
        description="The reviewer must be in one of these key groups; empty: any reviewer.",
    )
    gates: list[GateSpec] = Field(default_factory=list)


class PolicyDocument(BaseModel):
    """An approval policy: ordered stages. Stored as data (YAML/JSON) and versioned."""

    model_config = ConfigDict(extra="forbid")

    stages: list[StagePolicy] = Field(min_length=1, max_length=20)
    allow_same_reviewer_across_stages: bool = False

    @model_validator(mode="after")
    def _unique_stage_names(self) -> PolicyDocument:
        names = [stage.name for stage in self.stages]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"stage names must be unique; repeated: {', '.join(duplicates)}")
        return self


class PolicyRead(BaseModel):
    subject: str = Field(description="'default' or the model name the policy applies to.")
    version: int = Field(description="0 is the built-in default policy.")
    document: PolicyDocument
    created_at: datetime | None
    created_by: str | None


class GateCheckInfo(BaseModel):
    name: str
    description: str


class GateResult(BaseModel):
    check: str
    passed: bool
    reason: str


class ApprovalRequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=63)
    version: int = Field(ge=1, le=MAX_NUMBER)
    comment: str = Field(default="", max_length=10_000)


class DecisionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str = Field(min_length=1, max_length=10_000, description="Why; required.")
    stage: str | None = Field(
        default=None,
        description="The stage you decide. Give it so a decision raced by another on the "
        "same stage fails with 409 instead of applying to the next stage.",
    )


class Resubmit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str = Field(min_length=1, max_length=10_000)


class DecisionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    round: int
    stage_index: int | None
    stage: str | None
    kind: DecisionKind
    actor: str
    comment: str
    created_at: datetime


class StageRead(BaseModel):
    index: int
    name: str
    title: str
    reviewer_groups: list[str]
    status: str = Field(description="approved, open or waiting (in the current round).")
    approved_by: str | None = None


class ApprovalRequestRead(BaseModel):
    id: str
    model: str
    version: int
    state: RequestState
    stage_index: int
    current_stage: str | None
    round: int
    requester: str
    policy_subject: str
    policy_version: int
    stages: list[StageRead]
    gate_results: list[GateResult]
    decisions: list[DecisionRead]
    created_at: datetime
    updated_at: datetime


# Every event the outbox carries (``outbox.emit`` refuses any other, so this list cannot fall
# behind); a subscription names events (approval.approved) or a whole family (incident.*).
EVENT_TYPES = frozenset(
    {
        *(
            f"approval.{e}"
            for e in (
                "requested",
                "stage_approved",
                "approved",
                "rejected",
                "changes_requested",
                "resubmitted",
            )
        ),
        "alias.deployed",
        "alias.rolled_back",
        *(
            f"incident.{e}"
            for e in (
                "opened",
                "updated",
                "handover",
                "noted",
                "task_added",
                "task_done",
                "postmortem_edited",
                "closed",
            )
        ),
    }
)
EVENT_FAMILIES = sorted({f"{e.split('.')[0]}.*" for e in EVENT_TYPES})


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl
    events: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="Event types (approval.approved) or families (incident.*) to send; none: all.",
    )
    description: str = Field(default="", max_length=500)

    @field_validator("events")
    @classmethod
    def _known_events(cls, events: list[str]) -> list[str]:
        for event in events:
            if event not in EVENT_TYPES and event not in EVENT_FAMILIES:
                raise ValueError(
                    f"'{event[:80]}' is not an event type; give one such as approval.approved,"
                    f" or a family: {', '.join(EVENT_FAMILIES)}"
                )
        return events


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"
    CANCELLED = "cancelled"


class WebhookRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    url: str
    events: list[str]
    description: str
    active: bool
    created_by: str
    created_at: datetime


class WebhookCreated(WebhookRead):
    """A subscription as created: the only time its signing secret is shown."""

    signing_secret: SecretStr


class WebhookIssued(WebhookRead):
    """The HTTP answer to creating a subscription: the signing secret, in clear, once."""

    signing_secret: str


class DeliveryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    subscription_id: str
    event_id: str
    event_type: str
    state: str
    attempts: int
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime


class AliasMove(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=MAX_NUMBER)
    comment: str = Field(default="", max_length=2_000)


class AliasRollback(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str = Field(default="", max_length=2_000)


class AliasProtection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    protected: bool


class AliasRead(BaseModel):
    model: str
    alias: str
    version: int | None
    protected: bool
    updated_at: datetime
    updated_by: str


class AliasHistoryRead(BaseModel):
    model: str
    alias: str
    from_version: int | None
    to_version: int | None
    action: str
    actor: str
    comment: str
    at: datetime
