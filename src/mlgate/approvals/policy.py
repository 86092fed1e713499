"""Approval policies as versioned data: the built-in default, per-model and global overrides.

A policy is a YAML/JSON document (``PolicyDocument``). Setting one never edits a row: it adds
the subject's next version, and a request keeps a snapshot of the version it was opened under,
so changing a policy never changes the rules of a review already under way.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mlgate.approvals import gates
from mlgate.approvals.models import ApprovalPolicy
from mlgate.approvals.schemas import PolicyDocument, PolicyRead, StagePolicy
from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.clock import utcnow
from mlgate.errors import Conflict, FieldError, Invalid, NotFound, message_of
from mlgate.ids import NAME_RULE, is_valid_name, new_id
from mlgate.registry import service as registry
from mlgate.scanning import evidence as _scanning  # noqa: F401  # registers security_audit_clean

__all__ = [
    "DEFAULT_POLICY",
    "DEFAULT_SUBJECT",
    "effective_policy",
    "get_policy",
    "list_policy_versions",
    "parse_policy",
    "review_refusal",
    "set_policy",
]

DEFAULT_SUBJECT = "default"
BUILTIN_VERSION = 0

DEFAULT_POLICY = PolicyDocument(
    stages=[
        StagePolicy(
            name="data-review",
            title="Data review",
            reviewer_groups=["data"],
            gates=["input_schema_declared"],
        ),
        StagePolicy(
            name="model-review",
            title="Model review",
            reviewer_groups=["ml"],
            gates=[{"check": "card_completeness", "params": {"threshold": 0.6}}],
        ),
        StagePolicy(
            name="fairness-review",
            title="Fairness review",
            reviewer_groups=["fairness"],
            gates=["fairness_metrics_present"],
        ),
        StagePolicy(
            name="security-review",
            title="Security review",
            reviewer_groups=["security"],
            gates=["security_audit_clean"],
        ),
        StagePolicy(
            name="compliance-review",
            title="Compliance review",
            reviewer_groups=["compliance"],
            gates=[{"check": "card_completeness", "params": {"threshold": 0.8}}],
        ),
        StagePolicy(name="final-approval", title="Final approval", reviewer_groups=["approvers"]),
    ],
    allow_same_reviewer_across_stages=False,
)


def parse_policy(text: str) -> PolicyDocument:
    """A policy from YAML or JSON text (JSON is YAML), with every problem as a field error."""
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise Invalid.field("policy", f"is not valid YAML or JSON: {error}") from error
    return validate_policy(data)


def validate_policy(data: Any) -> PolicyDocument:
    try:
        document = PolicyDocument.model_validate(data)
    except ValidationError as error:
        errors = [
            FieldError("policy." + ".".join(str(p) for p in e["loc"]), message_of(e))
            for e in error.errors()
        ]
        raise Invalid(
            "the policy is not valid: " + "; ".join(f"{e.field}: {e.message}" for e in errors),
            errors=errors,
        ) from error
    unknown = [
        FieldError(f"policy.stages.{i}.gates.{j}.check", f"unknown check {spec.check!r}")
        for i, stage in enumerate(document.stages)
        for j, spec in enumerate(stage.gates)
        if not gates.is_registered(spec.check)
    ]
    if unknown:
        known = ", ".join(c.name for c in gates.available_checks())
        raise Invalid(
            f"the policy names unknown gate checks; known checks: {known}", errors=unknown
        )
    return document


def review_refusal(stage: StagePolicy, reviewer: Principal) -> str | None:
    """Why ``reviewer`` may not decide ``stage`` (scope or group), or None if they may."""
    if not reviewer.has(stage.reviewer_scope):
        return f"stage '{stage.name}' needs a reviewer with the '{stage.reviewer_scope}' scope"
    if stage.reviewer_groups and not (set(stage.reviewer_groups) & reviewer.groups):
        groups = ", ".join(stage.reviewer_groups)
        return f"stage '{stage.name}' is decided by a member of: {groups}"
    return None


def _check_subject(session: Session, subject: str) -> None:
    if subject == DEFAULT_SUBJECT:
        return
    if not is_valid_name(subject):
        raise Invalid.field(
            "subject", f"{subject[:80]!r} is neither 'default' nor a model name; {NAME_RULE}"
        )
    registry.get_model(session, name=subject)  # NotFound for an unknown model


def _read(row: ApprovalPolicy) -> PolicyRead:
    return PolicyRead(
        subject=row.subject,
        version=row.version,
        document=PolicyDocument.model_validate(row.document),
        created_at=row.created_at,
        created_by=row.created_by,
    )


def _builtin() -> PolicyRead:
    return PolicyRead(
        subject=DEFAULT_SUBJECT,
        version=BUILTIN_VERSION,
        document=DEFAULT_POLICY,
        created_at=None,
        created_by=None,
    )


def _latest_row(session: Session, subject: str) -> ApprovalPolicy | None:
    return session.scalars(
        select(ApprovalPolicy)
        .where(ApprovalPolicy.subject == subject)
        .order_by(ApprovalPolicy.version.desc())
        .limit(1)
    ).one_or_none()


def get_policy(session: Session, *, subject: str, version: int | None = None) -> PolicyRead:
    """The subject's policy (latest or a given version); 'default' falls back to built-in."""
    _check_subject(session, subject)
    if version is not None:
        if subject == DEFAULT_SUBJECT and version == BUILTIN_VERSION:
            return _builtin()
        row = session.scalars(
            select(ApprovalPolicy).where(
                ApprovalPolicy.subject == subject, ApprovalPolicy.version == version
            )
        ).one_or_none()
        if row is None:
            raise NotFound(f"policy '{subject}' has no version {version}")
        return _read(row)
    latest = _latest_row(session, subject)
    if latest is not None:
        return _read(latest)
    if subject == DEFAULT_SUBJECT:
        return _builtin()
    raise NotFound(
        f"model '{subject}' has no policy of its own; it uses the default policy "
        "(`mlgate review policy show default`)"
    )


def effective_policy(session: Session, *, model_name: str) -> PolicyRead:
    """The policy a new request for ``model_name`` runs under: the model's, else the default."""
    row = _latest_row(session, model_name) or _latest_row(session, DEFAULT_SUBJECT)
    return _read(row) if row is not None else _builtin()


def list_policy_versions(session: Session, *, subject: str) -> list[PolicyRead]:
    _check_subject(session, subject)
    rows = session.scalars(
        select(ApprovalPolicy)
        .where(ApprovalPolicy.subject == subject)
        .order_by(ApprovalPolicy.version)
    )
    versions = [_read(row) for row in rows]
    return [_builtin(), *versions] if subject == DEFAULT_SUBJECT else versions


def set_policy(
    session: Session,
    *,
    subject: str,
    document: PolicyDocument,
    actor: Principal,
    now: datetime | None = None,
) -> PolicyRead:
    """Add the subject's next policy version; requests already open keep their snapshot."""
    now = now or utcnow()
    _check_subject(session, subject)
    document = validate_policy(document.model_dump(mode="json"))
    current = session.scalar(
        select(func.max(ApprovalPolicy.version)).where(ApprovalPolicy.subject == subject)
    )
    row = ApprovalPolicy(
        id=new_id(),
        subject=subject,
        version=(current or 0) + 1,
        document=document.model_dump(mode="json"),
        created_at=now,
        created_by=actor.name,
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError as error:
        raise Conflict(f"policy '{subject}' was changed concurrently; try again") from error
    audit.record(
        session,
        actor=actor,
        action="policy.set",
        object_type="approval_policy",
        object_id=f"{subject}@{row.version}",
        change={"document": json.loads(json.dumps(row.document))},
        now=now,
    )
    return _read(row)
