"""Reviews, policies, webhooks and deployments over HTTP: thin handlers over the services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from mlgate.approvals import deployments, outbox, policy, service
from mlgate.approvals.gates import available_checks
from mlgate.approvals.schemas import (
    AliasHistoryRead,
    AliasMove,
    AliasProtection,
    AliasRead,
    AliasRollback,
    ApprovalRequestCreate,
    ApprovalRequestRead,
    DecisionCreate,
    DeliveryRead,
    DeliveryState,
    GateCheckInfo,
    GateResult,
    PolicyDocument,
    PolicyRead,
    RequestState,
    Resubmit,
    WebhookCreate,
    WebhookIssued,
    WebhookRead,
)
from mlgate.auth.deps import PrincipalDep, RuntimeDep, SessionDep, VersionNumber, require_scope
from mlgate.auth.schemas import Principal
from mlgate.errors import Forbidden
from mlgate.ids import MAX_NUMBER
from mlgate.netaddr import Allowlist
from mlgate.registry.schemas import Page

router = APIRouter(prefix="/api/v1")


def _require_any(*scopes: str) -> Callable[[Principal], Principal]:
    """Like ``require_scope`` but any one of ``scopes`` will do (reading reviews)."""

    def check(principal: PrincipalDep) -> Principal:
        if not any(principal.has(scope) for scope in scopes):
            raise Forbidden(f"this action needs one of the scopes: {', '.join(scopes)}")
        return principal

    check.required_scope = scopes[0]  # type: ignore[attr-defined]  # read by the contract test
    return check


Requester = Annotated[Principal, Depends(require_scope("approvals:request"))]
Reviewer = Annotated[Principal, Depends(require_scope("approvals:review"))]
ReviewReader = Annotated[Principal, Depends(_require_any("approvals:request", "approvals:review"))]
Admin = Annotated[Principal, Depends(require_scope("admin"))]
Deployer = Annotated[Principal, Depends(require_scope("deploy"))]
RegistryReader = Annotated[Principal, Depends(require_scope("registry:read"))]
Limit = Annotated[int, Query(ge=1, le=service.MAX_PAGE)]
Offset = Annotated[int, Query(ge=0, le=MAX_NUMBER)]

# --- reviews ---------------------------------------------------------------------------------


@router.post("/reviews", status_code=201, response_model=ApprovalRequestRead, tags=["reviews"])
def request_review(
    request_in: ApprovalRequestCreate, session: SessionDep, actor: Requester
) -> ApprovalRequestRead:
    return service.request_review(
        session,
        model_name=request_in.model,
        version=request_in.version,
        requester=actor,
        comment=request_in.comment,
    )


@router.get("/reviews", response_model=list[ApprovalRequestRead], tags=["reviews"])
def list_reviews(
    session: SessionDep,
    actor: ReviewReader,
    state: RequestState | None = None,
    model: str | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[ApprovalRequestRead]:
    return service.list_requests(session, state=state, model_name=model, limit=limit, offset=offset)


@router.get("/reviews/queue", response_model=Page[ApprovalRequestRead], tags=["reviews"])
def review_queue(
    session: SessionDep, actor: Reviewer, limit: Limit = 50, offset: Offset = 0
) -> Page[ApprovalRequestRead]:
    """Pending requests whose open stage the caller may decide, oldest request first."""
    return service.queue(session, reviewer=actor, limit=limit, offset=offset)


@router.get("/reviews/checks", response_model=list[GateCheckInfo], tags=["reviews"])
def gate_checks(actor: ReviewReader) -> list[GateCheckInfo]:
    return available_checks()


@router.get(
    "/reviews/versions/{model}/{version}", response_model=ApprovalRequestRead, tags=["reviews"]
)
def review_for_version(
    model: str, version: VersionNumber, session: SessionDep, actor: ReviewReader
) -> ApprovalRequestRead:
    return service.get_for_version(session, model_name=model, version=version)


@router.get("/reviews/{request_id}", response_model=ApprovalRequestRead, tags=["reviews"])
def show_review(request_id: str, session: SessionDep, actor: ReviewReader) -> ApprovalRequestRead:
    return service.get(session, request_id=request_id)


@router.get("/reviews/{request_id}/gates", response_model=list[GateResult], tags=["reviews"])
def review_gates(request_id: str, session: SessionDep, actor: ReviewReader) -> list[GateResult]:
    return service.evaluate_gates(session, request_id=request_id)


@router.post("/reviews/{request_id}/approve", response_model=ApprovalRequestRead, tags=["reviews"])
def approve(
    request_id: str, decision: DecisionCreate, session: SessionDep, actor: Reviewer
) -> ApprovalRequestRead:
    return service.approve(
        session,
        request_id=request_id,
        reviewer=actor,
        comment=decision.comment,
        stage=decision.stage,
    )


@router.post("/reviews/{request_id}/reject", response_model=ApprovalRequestRead, tags=["reviews"])
def reject(
    request_id: str, decision: DecisionCreate, session: SessionDep, actor: Reviewer
) -> ApprovalRequestRead:
    return service.reject(
        session,
        request_id=request_id,
        reviewer=actor,
        comment=decision.comment,
        stage=decision.stage,
    )


@router.post(
    "/reviews/{request_id}/request-changes", response_model=ApprovalRequestRead, tags=["reviews"]
)
def request_changes(
    request_id: str, decision: DecisionCreate, session: SessionDep, actor: Reviewer
) -> ApprovalRequestRead:
    return service.request_changes(
        session,
        request_id=request_id,
        reviewer=actor,
        comment=decision.comment,
        stage=decision.stage,
    )


@router.post("/reviews/{request_id}/resubmit", response_model=ApprovalRequestRead, tags=["reviews"])
def resubmit(
    request_id: str, body: Resubmit, session: SessionDep, actor: Requester
) -> ApprovalRequestRead:
    return service.resubmit(session, request_id=request_id, requester=actor, comment=body.comment)


# --- policies --------------------------------------------------------------------------------


@router.get("/policies/{subject}", response_model=PolicyRead, tags=["policies"])
def show_policy(
    subject: str,
    session: SessionDep,
    actor: ReviewReader,
    version: Annotated[int | None, Query(ge=0, le=MAX_NUMBER)] = None,
) -> PolicyRead:
    """``default`` or a model name; the latest version unless ``version`` is given."""
    return policy.get_policy(session, subject=subject, version=version)


@router.get("/policies/{subject}/versions", response_model=list[PolicyRead], tags=["policies"])
def policy_versions(subject: str, session: SessionDep, actor: ReviewReader) -> list[PolicyRead]:
    return policy.list_policy_versions(session, subject=subject)


@router.put("/policies/{subject}", response_model=PolicyRead, tags=["policies"])
def set_policy(
    subject: str, document: PolicyDocument, session: SessionDep, actor: Admin
) -> PolicyRead:
    """Add the subject's next policy version (requests under way keep theirs)."""
    return policy.set_policy(session, subject=subject, document=document, actor=actor)


# --- webhooks --------------------------------------------------------------------------------


@router.post("/webhooks", status_code=201, response_model=WebhookIssued, tags=["webhooks"])
def create_webhook(
    webhook_in: WebhookCreate, runtime: RuntimeDep, session: SessionDep, actor: Admin
) -> WebhookIssued:
    """Subscribe a URL; the answer holds the signing secret, shown this once."""
    created = outbox.create_subscription(
        session,
        server_secret=runtime.secret,
        webhook_in=webhook_in,
        actor=actor,
        allowed=Allowlist.parse(runtime.settings.webhook_allowed_hosts),
    )
    return WebhookIssued(
        **created.model_dump(exclude={"signing_secret"}),
        signing_secret=created.signing_secret.get_secret_value(),
    )


@router.get("/webhooks", response_model=list[WebhookRead], tags=["webhooks"])
def list_webhooks(session: SessionDep, actor: Admin) -> list[WebhookRead]:
    return outbox.list_subscriptions(session)


@router.get("/webhooks/deliveries", response_model=list[DeliveryRead], tags=["webhooks"])
def list_deliveries(
    session: SessionDep, actor: Admin, state: DeliveryState | None = None, limit: Limit = 100
) -> list[DeliveryRead]:
    return outbox.list_deliveries(session, state=state, limit=limit)


@router.post(
    "/webhooks/deliveries/{delivery_id}/retry", response_model=DeliveryRead, tags=["webhooks"]
)
def retry_delivery(delivery_id: str, session: SessionDep, actor: Admin) -> DeliveryRead:
    return outbox.retry_delivery(session, delivery_id=delivery_id, actor=actor)


@router.get(
    "/webhooks/{subscription_id}/deliveries", response_model=list[DeliveryRead], tags=["webhooks"]
)
def subscription_deliveries(
    subscription_id: str,
    session: SessionDep,
    actor: Admin,
    state: DeliveryState | None = None,
    limit: Limit = 100,
) -> list[DeliveryRead]:
    return outbox.list_deliveries(
        session, subscription_id=subscription_id, state=state, limit=limit
    )


@router.delete("/webhooks/{subscription_id}", response_model=WebhookRead, tags=["webhooks"])
def deactivate_webhook(subscription_id: str, session: SessionDep, actor: Admin) -> WebhookRead:
    return outbox.deactivate_subscription(session, subscription_id=subscription_id, actor=actor)


# --- deployments -----------------------------------------------------------------------------


@router.get("/deployments/{model}", response_model=list[AliasRead], tags=["deployments"])
def list_aliases(model: str, session: SessionDep, actor: RegistryReader) -> list[AliasRead]:
    return deployments.list_aliases(session, model_name=model)


@router.get(
    "/deployments/{model}/history", response_model=list[AliasHistoryRead], tags=["deployments"]
)
def alias_history(
    model: str,
    session: SessionDep,
    actor: RegistryReader,
    alias: str | None = None,
    limit: Limit = 100,
) -> list[AliasHistoryRead]:
    return deployments.alias_history(session, model_name=model, alias=alias, limit=limit)


@router.get("/deployments/{model}/aliases/{alias}", response_model=AliasRead, tags=["deployments"])
def show_alias(model: str, alias: str, session: SessionDep, actor: RegistryReader) -> AliasRead:
    return deployments.get_alias(session, model_name=model, alias=alias)


@router.put("/deployments/{model}/aliases/{alias}", response_model=AliasRead, tags=["deployments"])
def deploy(
    model: str, alias: str, move: AliasMove, session: SessionDep, actor: Deployer
) -> AliasRead:
    """Point the alias at an approved version (409 with the reason otherwise)."""
    return deployments.move_alias(
        session,
        model_name=model,
        alias=alias,
        version=move.version,
        actor=actor,
        comment=move.comment,
    )


@router.post(
    "/deployments/{model}/aliases/{alias}/rollback", response_model=AliasRead, tags=["deployments"]
)
def rollback(
    model: str, alias: str, body: AliasRollback, session: SessionDep, actor: Deployer
) -> AliasRead:
    return deployments.rollback(
        session, model_name=model, alias=alias, actor=actor, comment=body.comment
    )


@router.put(
    "/deployments/{model}/aliases/{alias}/protection",
    response_model=AliasRead,
    tags=["deployments"],
)
def protect(
    model: str, alias: str, body: AliasProtection, session: SessionDep, actor: Admin
) -> AliasRead:
    return deployments.set_protection(
        session, model_name=model, alias=alias, protected=body.protected, actor=actor
    )


__all__ = ["router"]
