"""Incidents notify webhook subscribers through the approvals outbox, in the same transaction."""

from __future__ import annotations

from mlgate.approvals import outbox
from mlgate.approvals.schemas import WebhookCreate
from mlgate.auth.schemas import Principal
from mlgate.incidents import service as incidents
from mlgate.incidents.schemas import IncidentStatus, IncidentUpdate, Severity
from mlgate.runtime import Runtime

OPS = Principal(name="ops", scopes=frozenset({"admin"}))


def test_open_update_and_close_each_queue_one_delivery(runtime: Runtime) -> None:
    with runtime.db.unit_of_work() as session:
        webhook = outbox.create_subscription(
            session,
            server_secret=runtime.secret,
            webhook_in=WebhookCreate(url="https://hooks.example.com/ops", events=["incident.*"]),
            actor=OPS,
        )
        approvals_only = outbox.create_subscription(
            session,
            server_secret=runtime.secret,
            webhook_in=WebhookCreate(url="https://hooks.example.com/rev", events=["approval.*"]),
            actor=OPS,
        )
    with runtime.db.unit_of_work() as session:
        opened = incidents.open_automatic(
            session, cause_key="breaker-open:x", title="breaker open", severity=Severity.SEV2
        )
        incidents.update(
            session,
            ref=str(opened.number),
            update_in=IncidentUpdate(status=IncidentStatus.STABLE),
            actor=OPS,
            threshold_minutes=60,
        )
        incidents.close(session, ref=str(opened.number), actor=OPS, threshold_minutes=60)
    with runtime.db.unit_of_work() as session:
        sent = outbox.list_deliveries(session, subscription_id=webhook.id)
        other = outbox.list_deliveries(session, subscription_id=approvals_only.id)
    assert sorted(d.event_type for d in sent) == [
        "incident.closed",
        "incident.opened",
        "incident.updated",
    ]
    assert other == []
