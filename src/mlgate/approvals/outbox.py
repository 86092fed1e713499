"""The webhook outbox: events written in the transaction that caused them, delivered later.

``emit`` adds an event and one pending delivery per matching subscription in the caller's
transaction, so a transition and its notification commit or vanish together. ``deliver_due``
is the job that sends them: it claims due deliveries (a short lease, so two deliverers never
send the same one at once), POSTs outside any transaction, and records the result; failures
retry with exponential backoff until ``max_attempts``, then the delivery is dead (retryable).

Each POST carries ``X-Mlgate-Timestamp`` (when that POST is sent, not when the run began) and
``X-Mlgate-Signature: sha256=HEX`` where HEX is HMAC-SHA256(signing secret,
"<timestamp>.<body>"). Receivers check it with ``verify_signature`` and refuse old timestamps
(replays); ``X-Mlgate-Delivery`` lets them drop a delivery they already processed. The signing
secret is never stored: it is HMAC(server secret, subscription id), shown once when the
subscription is created.

Webhooks do not reach internal addresses (SSRF) unless ``MLGATE_WEBHOOK_ALLOWED_HOSTS`` lists
them: a URL whose host is an internal address or ``localhost`` is refused when it is registered,
and every delivery resolves its host, checks every address and connects to a checked one
(``egress.PinnedTransport``); a refused delivery is dead at once, with the reason. Redirects are
never followed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from mlgate.approvals.egress import AddressRefused, PinnedTransport
from mlgate.approvals.models import OutboxEvent, WebhookDelivery, WebhookSubscription
from mlgate.approvals.schemas import (
    EVENT_TYPES,
    DeliveryRead,
    DeliveryState,
    WebhookCreate,
    WebhookCreated,
    WebhookRead,
)
from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.clock import ensure_utc, utcnow
from mlgate.errors import Conflict, Invalid, NotFound
from mlgate.ids import new_id
from mlgate.netaddr import Allowlist, host_and_port
from mlgate.store.database import Database

__all__ = [
    "DeliveryReport",
    "backoff",
    "create_subscription",
    "deactivate_subscription",
    "deliver_due",
    "emit",
    "event_body",
    "list_deliveries",
    "list_subscriptions",
    "retry_delivery",
    "sign",
    "signing_secret",
    "verify_signature",
]

logger = logging.getLogger(__name__)

BASE_DELAY = timedelta(seconds=2)
MAX_DELAY = timedelta(hours=1)
MAX_ATTEMPTS = 8
LEASE = timedelta(seconds=60)
REPLAY_TOLERANCE = timedelta(minutes=5)


def signing_secret(server_secret: bytes, subscription_id: str) -> str:
    return hmac.new(server_secret, f"webhook:{subscription_id}".encode(), "sha256").hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str,
    *,
    timestamp: str,
    body: bytes,
    signature: str,
    now: datetime | None = None,
    tolerance: timedelta = REPLAY_TOLERANCE,
) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    # Both headers come from whoever sent the request: a long timestamp (int() or float
    # overflow) or a non-ASCII signature (compare_digest's TypeError) is False, never an error.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return False
    if not signature.isascii():  # a lone surrogate (aiohttp's surrogateescape) cannot encode
        return False
    sent = int(timestamp)
    current = (now or utcnow()).timestamp()
    if abs(current - sent) > tolerance.total_seconds():
        return False
    return hmac.compare_digest(sign(secret, sent, body).encode(), signature.encode())


def backoff(attempts: int) -> timedelta:
    """Delay after the ``attempts``-th failure: 2s, 4s, 8s, ... capped at an hour."""
    delay: timedelta = BASE_DELAY * (2 ** min(max(attempts - 1, 0), 20))
    return delay if delay < MAX_DELAY else MAX_DELAY


def _matches(patterns: list[str], event_type: str) -> bool:
    if not patterns:
        return True
    return any(
        p == event_type or (p.endswith(".*") and event_type.startswith(p[:-1])) for p in patterns
    )


def emit(
    session: Session,
    *,
    event_type: str,
    subject: str,
    payload: dict[str, Any],
    now: datetime | None = None,
) -> OutboxEvent:
    """Record an event and a pending delivery per matching subscription (caller's transaction)."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"{event_type} is not in EVENT_TYPES: subscribers could not ask for it")
    now = now or utcnow()
    event = OutboxEvent(
        id=new_id(),
        type=event_type,
        subject=subject,
        payload=json.loads(json.dumps(payload, default=str)),
        created_at=now,
    )
    session.add(event)
    subscriptions = session.scalars(
        select(WebhookSubscription).where(WebhookSubscription.active.is_(True))
    )
    for subscription in subscriptions:
        if _matches(subscription.events, event_type):
            session.add(
                WebhookDelivery(
                    id=new_id(),
                    subscription_id=subscription.id,
                    event_id=event.id,
                    event_type=event_type,
                    state="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
    session.flush()
    return event


def event_body(event: OutboxEvent) -> bytes:
    document = {
        "id": event.id,
        "type": event.type,
        "subject": event.subject,
        "created_at": ensure_utc(event.created_at).isoformat(),
        "data": event.payload,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _audited_url(url: str) -> dict[str, str]:
    """A subscription's URL as the audit log keeps it: its origin only.

    Audit readers (``audit:read``) are not webhook admins, and a webhook URL often carries its
    receiver's credentials: ``user:password@``, a token in the path (Slack) or the query. Not
    even a digest of the whole: a short token or a weak password could be found from it by
    trying guesses. The subscription's id, in the same entry, names it.
    """
    return {"url": f"{urlsplit(url).scheme}://{host_and_port(url)}"}


def create_subscription(
    session: Session,
    *,
    server_secret: bytes,
    webhook_in: WebhookCreate,
    actor: Principal,
    allowed: Allowlist = Allowlist(),
    now: datetime | None = None,
) -> WebhookCreated:
    """Subscribe a URL; its host may not be internal unless ``allowed`` names it."""
    now = now or utcnow()
    refusal = allowed.url_refusal(str(webhook_in.url))
    if refusal is not None:
        raise Invalid.field("url", f"webhooks may not reach internal addresses: {refusal}")
    row = WebhookSubscription(
        id=new_id(),
        url=str(webhook_in.url),
        events=sorted(set(webhook_in.events)),
        description=webhook_in.description,
        active=True,
        created_by=actor.name,
        created_at=now,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="webhook.created",
        object_type="webhook",
        object_id=row.id,
        change={**_audited_url(row.url), "events": row.events},
        now=now,
    )
    read = WebhookRead.model_validate(row)
    return WebhookCreated(
        **read.model_dump(), signing_secret=SecretStr(signing_secret(server_secret, row.id))
    )


def _subscription(session: Session, subscription_id: str) -> WebhookSubscription:
    row = session.get(WebhookSubscription, subscription_id)
    if row is None:
        raise NotFound(
            f"webhook '{subscription_id}' does not exist; list them with `mlgate webhooks list`"
        )
    return row


def list_subscriptions(session: Session) -> list[WebhookRead]:
    rows = session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id))
    return [WebhookRead.model_validate(row) for row in rows]


def deactivate_subscription(
    session: Session, *, subscription_id: str, actor: Principal
) -> WebhookRead:
    """Stop sending to a subscription; its pending deliveries are cancelled."""
    row = _subscription(session, subscription_id)
    if not row.active:
        raise Conflict(f"webhook '{subscription_id}' is already inactive")
    row.active = False
    for delivery in session.scalars(
        select(WebhookDelivery).where(
            WebhookDelivery.subscription_id == row.id, WebhookDelivery.state == "pending"
        )
    ):
        delivery.state = "cancelled"
        delivery.next_attempt_at = None
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="webhook.deactivated",
        object_type="webhook",
        object_id=row.id,
        change=_audited_url(row.url),
    )
    return WebhookRead.model_validate(row)


def list_deliveries(
    session: Session,
    *,
    subscription_id: str | None = None,
    state: DeliveryState | None = None,
    limit: int = 100,
) -> list[DeliveryRead]:
    query = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(max(1, limit))
    if subscription_id:
        _subscription(session, subscription_id)
        query = query.where(WebhookDelivery.subscription_id == subscription_id)
    if state:
        query = query.where(WebhookDelivery.state == state)
    return [DeliveryRead.model_validate(row) for row in session.scalars(query)]


def retry_delivery(
    session: Session, *, delivery_id: str, actor: Principal, now: datetime | None = None
) -> DeliveryRead:
    """Give a dead delivery a fresh set of attempts, due now."""
    now = now or utcnow()
    row = session.get(WebhookDelivery, delivery_id)
    if row is None:
        raise NotFound(f"delivery '{delivery_id}' does not exist")
    if row.state != "dead":
        raise Conflict(f"delivery '{delivery_id}' is {row.state}; only dead deliveries retry")
    row.state = "pending"
    row.attempts = 0
    row.next_attempt_at = now
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="webhook.delivery_retried",
        object_type="webhook_delivery",
        object_id=row.id,
        change={"event_id": row.event_id},
        now=now,
    )
    return DeliveryRead.model_validate(row)


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    attempted: int
    delivered: int
    failed: int
    dead: int


@dataclass(frozen=True, slots=True)
class _Claimed:
    delivery_id: str
    url: str
    subscription_id: str
    event_type: str
    body: bytes
    attempts: int


def _claim(db: Database, *, now: datetime, limit: int) -> list[_Claimed]:
    with db.unit_of_work() as session:
        rows = session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        claimed: list[_Claimed] = []
        for row in rows:
            subscription = session.get(WebhookSubscription, row.subscription_id)
            event = session.get(OutboxEvent, row.event_id)
            if subscription is None or event is None or not subscription.active:
                row.state, row.next_attempt_at = "cancelled", None
                continue
            row.attempts += 1
            row.next_attempt_at = now + LEASE  # the lease: nobody else sends it meanwhile
            claimed.append(
                _Claimed(
                    delivery_id=row.id,
                    url=subscription.url,
                    subscription_id=subscription.id,
                    event_type=event.type,
                    body=event_body(event),
                    attempts=row.attempts,
                )
            )
        session.flush()
    return claimed


@dataclass(frozen=True, slots=True)
class _Outcome:
    status: int | None = None
    error: str | None = None
    final: bool = False  # no retry can succeed: the delivery is dead at once


def _send(
    client: httpx.Client, item: _Claimed, *, server_secret: bytes, clock: Callable[[], datetime]
) -> _Outcome:
    # Signed at send time, not when the run began: behind slow receivers a run-start timestamp
    # would be stale by the time later POSTs leave, and receivers would refuse them as replays.
    timestamp = int(clock().timestamp())
    secret = signing_secret(server_secret, item.subscription_id)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "mlgate-webhooks",
        "X-Mlgate-Event": item.event_type,
        "X-Mlgate-Delivery": item.delivery_id,
        "X-Mlgate-Timestamp": str(timestamp),
        "X-Mlgate-Signature": sign(secret, timestamp, item.body),
    }
    try:
        response = client.post(item.url, content=item.body, headers=headers)
    except AddressRefused as refused:  # names the host and address, never the whole URL
        return _Outcome(error=f"refused: {refused}"[:500], final=True)
    except httpx.HTTPError as error:  # never the URL: it may carry credentials
        return _Outcome(error=f"request failed: {type(error).__name__}")
    if 200 <= response.status_code < 300:
        return _Outcome(status=response.status_code)
    return _Outcome(response.status_code, f"receiver answered {response.status_code}")


def _record(
    db: Database,
    item: _Claimed,
    *,
    outcome: _Outcome,
    now: datetime,
    max_attempts: int,
) -> str:
    with db.unit_of_work() as session:
        row = session.get(WebhookDelivery, item.delivery_id)
        if row is None or row.state != "pending":
            return row.state if row else "cancelled"
        row.last_status = outcome.status
        row.last_error = outcome.error
        if outcome.error is None:
            row.state, row.delivered_at, row.next_attempt_at = "delivered", now, None
        elif outcome.final or row.attempts >= max_attempts:
            row.state, row.next_attempt_at = "dead", None
        else:
            row.next_attempt_at = now + backoff(row.attempts)
        session.flush()
        return row.state


def deliver_due(
    db: Database,
    *,
    server_secret: bytes,
    now: datetime | None = None,
    client: httpx.Client | None = None,
    allowed: Allowlist = Allowlist(),
    limit: int = 100,
    max_attempts: int = MAX_ATTEMPTS,
    timeout: float = 10.0,
    clock: Callable[[], datetime] = utcnow,
) -> DeliveryReport:
    """Send every delivery due at ``now`` once; call it on a timer (or with a test clock).

    ``now`` decides what is due and when failures retry; each POST's ``X-Mlgate-Timestamp``
    (and the signature over it) is read from ``clock`` as that POST is sent. Without a
    ``client`` (tests pass one), POSTs reach internal addresses only if ``allowed`` names them.
    """
    now = now or utcnow()
    claimed = _claim(db, now=now, limit=limit)
    if not claimed:  # the usual tick: no client (building one costs 20 ms of CPU, measured)
        return DeliveryReport(attempted=0, delivered=0, failed=0, dead=0)
    delivered = failed = dead = 0
    own_client = client is None
    http = client or httpx.Client(
        transport=PinnedTransport(allowed), timeout=timeout, follow_redirects=False
    )
    try:
        for item in claimed:
            outcome = _send(http, item, server_secret=server_secret, clock=clock)
            state = _record(db, item, outcome=outcome, now=now, max_attempts=max_attempts)
            if state == "delivered":
                delivered += 1
            elif state == "dead":
                dead += 1
            else:
                failed += 1
            if outcome.error:
                logger.info(
                    "webhook delivery failed",
                    extra={
                        "delivery": item.delivery_id,
                        "attempt": item.attempts,
                        "refused": outcome.final,
                    },
                )
    finally:
        if own_client:
            http.close()
    return DeliveryReport(attempted=len(claimed), delivered=delivered, failed=failed, dead=dead)
