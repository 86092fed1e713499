"""Webhooks end to end: a real receiver on loopback, failures, backoff, signatures, dead letters."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from mlgate.approvals import outbox, service
from mlgate.approvals.models import WebhookDelivery, WebhookSubscription
from mlgate.approvals.schemas import WebhookCreate
from mlgate.clock import utcnow
from mlgate.config import Settings
from mlgate.netaddr import Allowlist
from mlgate.runtime import Runtime
from tests.approvals.conftest import ADMIN, REQUESTER, VersionFactory, reviewer
from tests.approvals.receivers import QuietHandler, serving
from tests.conftest import KeyFactory, bearer

MAX_ROUNDS = 12


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """These receivers listen on loopback, which webhooks reach only when the operator allows it."""
    return settings.model_copy(update={"webhook_allowed_hosts": "127.0.0.1"})


def _allowed(runtime: Runtime) -> Allowlist:
    return Allowlist.parse(runtime.settings.webhook_allowed_hosts)


@dataclass
class Receiver:
    """Answers 500 to its first ``fail_first`` requests, then 204, and keeps what it got."""

    fail_first: int
    calls: int = 0
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(fail_first=3)

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with state.lock:
                state.calls += 1
                failing = state.calls <= state.fail_first
                if not failing:
                    state.received.append((dict(self.headers.items()), body))
            self.send_response(500 if failing else 204)
            self.end_headers()

    with serving(Handler) as port:
        state.url = f"http://127.0.0.1:{port}/hook"
        yield state


def _subscribe(runtime: Runtime, url: str, events: list[str] | None = None) -> tuple[str, str]:
    with runtime.db.unit_of_work() as session:
        created = outbox.create_subscription(
            session,
            server_secret=runtime.secret,
            webhook_in=WebhookCreate.model_validate({"url": url, "events": events or []}),
            actor=ADMIN,
            allowed=_allowed(runtime),
        )
    return created.id, created.signing_secret.get_secret_value()


def _three_events(runtime: Runtime, make_version: VersionFactory) -> str:
    name, number = make_version()
    with runtime.db.unit_of_work() as session:
        request_id = service.request_review(
            session, model_name=name, version=number, requester=REQUESTER
        ).id
        service.approve(
            session, request_id=request_id, reviewer=reviewer("dana", "data"), comment="ok"
        )
        service.request_changes(
            session, request_id=request_id, reviewer=reviewer("sam", "security"), comment="no"
        )
    return request_id


def test_receiver_gets_each_event_once_after_retries_and_can_verify_it(
    runtime: Runtime, make_version: VersionFactory, receiver: Receiver
) -> None:
    subscription_id, secret = _subscribe(runtime, receiver.url)
    request_id = _three_events(runtime, make_version)
    now = utcnow()
    rounds = 0
    while rounds < MAX_ROUNDS:
        report = outbox.deliver_due(
            runtime.db, server_secret=runtime.secret, now=now, allowed=_allowed(runtime)
        )
        rounds += 1
        with runtime.db.unit_of_work() as session:
            pending = session.scalars(
                select(WebhookDelivery).where(WebhookDelivery.state == "pending")
            ).all()
        if not pending:
            break
        assert report.delivered + report.failed + report.dead == report.attempted
        # Jump the injected clock to the earliest retry, never sleeping.
        now = min(p.next_attempt_at for p in pending if p.next_attempt_at is not None)
    assert rounds < MAX_ROUNDS
    assert receiver.calls == 3 + 3  # three failures, then each event once
    events = [json.loads(body) for _, body in receiver.received]
    assert sorted(e["type"] for e in events) == [
        "approval.changes_requested",
        "approval.requested",
        "approval.stage_approved",
    ]
    assert len({e["id"] for e in events}) == 3
    assert all(e["data"]["request_id"] == request_id for e in events)
    for headers, body in receiver.received:
        assert outbox.verify_signature(
            secret,
            timestamp=headers["X-Mlgate-Timestamp"],
            body=body,
            signature=headers["X-Mlgate-Signature"],
            now=now,
        )
        # A replay much later, or a tampered body, is refused.
        later = now + timedelta(minutes=10)
        assert not outbox.verify_signature(
            secret,
            timestamp=headers["X-Mlgate-Timestamp"],
            body=body,
            signature=headers["X-Mlgate-Signature"],
            now=later,
        )
        assert not outbox.verify_signature(
            secret,
            timestamp=headers["X-Mlgate-Timestamp"],
            body=body + b" ",
            signature=headers["X-Mlgate-Signature"],
            now=now,
        )
    with runtime.db.unit_of_work() as session:
        deliveries = outbox.list_deliveries(session, subscription_id=subscription_id)
        row = session.get(WebhookSubscription, subscription_id)
        assert row is not None
        assert secret not in json.dumps([str(v) for v in row.__dict__.values()])
    assert {(d.state, d.attempts, d.last_status) for d in deliveries} == {("delivered", 2, 204)}


def test_backoff_doubles_until_the_delivery_is_dead_and_can_be_retried(
    runtime: Runtime, make_version: VersionFactory, receiver: Receiver
) -> None:
    receiver.fail_first = 10**6
    _subscribe(runtime, receiver.url, events=["approval.requested"])
    _three_events(runtime, make_version)  # only one of the three events matches
    now = utcnow()
    delays = []
    for _ in range(4):
        report = outbox.deliver_due(
            runtime.db,
            server_secret=runtime.secret,
            now=now,
            max_attempts=4,
            allowed=_allowed(runtime),
        )
        assert report.attempted == 1
        with runtime.db.unit_of_work() as session:
            row = session.scalars(select(WebhookDelivery)).one()
        if row.next_attempt_at is not None:
            delays.append(row.next_attempt_at - now)
            now = row.next_attempt_at
    assert delays == [timedelta(seconds=2), timedelta(seconds=4), timedelta(seconds=8)]
    assert row.state == "dead"
    assert outbox.deliver_due(runtime.db, server_secret=runtime.secret, now=now).attempted == 0
    with runtime.db.unit_of_work() as session:
        retried = outbox.retry_delivery(session, delivery_id=row.id, actor=ADMIN, now=now)
    assert (retried.state, retried.attempts) == ("pending", 0)


def test_delivery_state_is_visible_over_http_and_secret_shown_once(
    client: TestClient,
    make_key: KeyFactory,
    receiver: Receiver,
    runtime: Runtime,
    make_version: VersionFactory,
) -> None:
    admin = bearer(make_key("admin"))
    created = client.post("/api/v1/webhooks", json={"url": receiver.url}, headers=admin)
    assert created.status_code == 201, created.text
    secret = created.json()["signing_secret"]
    assert len(secret) == 64
    listed = client.get("/api/v1/webhooks", headers=admin).json()
    assert "signing_secret" not in listed[0]
    _three_events(runtime, make_version)
    pending = client.get("/api/v1/webhooks/deliveries?state=pending", headers=admin).json()
    assert len(pending) == 3
    hook_id = created.json()["id"]
    assert client.delete(f"/api/v1/webhooks/{hook_id}", headers=admin).status_code == 200
    mine = client.get(f"/api/v1/webhooks/{hook_id}/deliveries", headers=admin).json()
    assert {d["state"] for d in mine} == {"cancelled"}


def test_each_post_is_signed_when_it_is_sent_not_when_the_run_began(runtime: Runtime) -> None:
    # Behind a slow receiver the run-start timestamp was stale: receivers refused it as a replay.
    urls = [f"http://receiver-{n}.invalid/hook" for n in range(3)]
    secrets = {url: _subscribe(runtime, url)[1] for url in urls}
    with runtime.db.unit_of_work() as session:
        outbox.emit(session, event_type="alias.deployed", subject="m:production", payload={})
    clock = [utcnow()]
    verdicts: list[bool] = []

    def slow_receiver(request: httpx.Request) -> httpx.Response:
        """Checks the signature at the moment it arrives; each takes ten (injected) minutes."""
        verdicts.append(
            outbox.verify_signature(
                secrets[str(request.url)],
                timestamp=request.headers["X-Mlgate-Timestamp"],
                body=request.content,
                signature=request.headers["X-Mlgate-Signature"],
                now=clock[0],
            )
        )
        clock[0] += timedelta(minutes=10)
        return httpx.Response(204)

    with httpx.Client(transport=httpx.MockTransport(slow_receiver)) as client:
        report = outbox.deliver_due(
            runtime.db,
            server_secret=runtime.secret,
            now=clock[0],
            client=client,
            clock=lambda: clock[0],
        )
    assert verdicts == [True, True, True]
    assert report.delivered == 3


def test_a_tick_with_nothing_due_opens_no_http_client(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The control plane ticks every 2 s; a client costs 20 ms of CPU to build (TLS context).
    def no_client(*args: object, **kwargs: object) -> None:
        raise AssertionError("an HTTP client was built with nothing to send")

    monkeypatch.setattr(outbox.httpx, "Client", no_client)
    report = outbox.deliver_due(runtime.db, server_secret=runtime.secret)
    assert report == outbox.DeliveryReport(attempted=0, delivered=0, failed=0, dead=0)


def test_subscriptions_and_filters_refuse_what_does_not_exist(
    client: TestClient, make_key: KeyFactory
) -> None:
    admin = bearer(make_key("admin"))
    typo = {"url": "http://127.0.0.1:9/hook", "events": ["approval.aproved"]}
    refused = client.post("/api/v1/webhooks", json=typo, headers=admin)
    assert refused.status_code == 422
    assert "approval.aproved" in refused.text
    assert refused.json()["errors"][0]["field"].startswith("body.events")
    assert client.get("/api/v1/webhooks", headers=admin).json() == []  # nothing half-made
    family = {"url": "http://127.0.0.1:9/hook", "events": ["incident.*", "approval.approved"]}
    assert client.post("/api/v1/webhooks", json=family, headers=admin).status_code == 201
    bogus = client.get("/api/v1/webhooks/deliveries?state=bogus", headers=admin)
    assert bogus.status_code == 422
    assert bogus.json()["errors"][0]["field"] == "query.state"


def test_every_event_emitted_is_one_a_subscriber_can_name() -> None:
    from sqlalchemy.orm import Session

    with pytest.raises(ValueError, match="EVENT_TYPES"):
        outbox.emit(Session(), event_type="approval.aproved", subject="m@1", payload={})


@pytest.mark.parametrize(
    ("timestamp", "signature"),
    [
        ("1700000000", "sha256=é"),  # not ASCII: hmac.compare_digest raised TypeError
        ("9" * 400, "sha256=00"),  # too large for a float: OverflowError
        ("9" * 5000, "sha256=00"),  # past int()'s digit limit: ValueError
        ("1700000000", "sha256=\udcff"),  # byte 0xFF as aiohttp decodes it: UnicodeEncodeError
    ],
)
def test_verify_signature_refuses_hostile_headers_instead_of_raising(
    timestamp: str, signature: str
) -> None:
    """A receiver passes the headers as it got them; a forged one is False, never an error."""
    assert not outbox.verify_signature(
        "secret",
        timestamp=timestamp,
        body=b"{}",
        signature=signature,
        now=datetime.fromtimestamp(1700000000, UTC),
    )


def test_audit_readers_do_not_see_credentials_in_webhook_urls(
    client: TestClient, make_key: KeyFactory
) -> None:
    """Only admins see subscriptions; the audit log (audit:read) keeps the URL's origin, never
    its user:password@, path token or query, nor a digest to test guesses of them against."""
    admin = bearer(make_key("admin"))
    url = "https://bot:pa55word@hooks.example.com/services/T0/B0/t0ken-in-path?sig=qu3ry"
    created = client.post("/api/v1/webhooks", json={"url": url}, headers=admin)
    assert created.status_code == 201, created.text
    gone = client.delete(f"/api/v1/webhooks/{created.json()['id']}", headers=admin)
    assert gone.status_code == 200, gone.text
    auditor = bearer(make_key("audit:read", owner="audrey"))
    entries = client.get("/api/v1/audit", params={"object_type": "webhook"}, headers=auditor)
    assert entries.status_code == 200, entries.text
    changes = [e["change"] for e in entries.json()]
    assert len(changes) == 2
    for secret in ("pa55word", "t0ken-in-path", "qu3ry"):
        assert secret not in entries.text
    assert all(c["url"] == "https://hooks.example.com" for c in changes)
    assert hashlib.sha256(url.encode()).hexdigest() not in entries.text
