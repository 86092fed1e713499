"""Optional e-mail notifications of approval events over SMTP (smtplib; build and send).

Webhooks are the primary channel; mail is for teams without a receiver. ``mail_pending``
claims the events not mailed yet (``mailed_at`` is null), marks them, and sends them; events
older than ``since`` are marked without mail, so turning mail on does not flood anyone with
the backlog. A failed send un-marks the rest of the batch so the next call retries them:
delivery is at-least-once, and the Message-ID (the event id) lets mail clients drop a resend.
"""

from __future__ import annotations

import json
import smtplib
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select, update

from mlgate.approvals.models import OutboxEvent
from mlgate.clock import utcnow
from mlgate.store.database import Database

__all__ = ["MailedEvent", "SmtpNotifier", "mail_pending"]


@dataclass(frozen=True, slots=True)
class MailedEvent:
    id: str
    type: str
    subject: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SmtpNotifier:
    host: str
    sender: str
    recipients: tuple[str, ...]
    port: int = 25
    starttls: bool = False
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    timeout: float = 10.0

    def build(self, event: MailedEvent) -> EmailMessage:
        data = event.payload
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message["Subject"] = f"[mlgate] {event.type} {event.subject}"
        message["Message-ID"] = f"<{event.id}@mlgate>"
        lines = [
            f"{event.type} for {event.subject}",
            "",
            f"by:      {data.get('actor', '-')}",
            f"state:   {data.get('state', '-')}",
            f"stage:   {data.get('stage') or data.get('open_stage') or '-'}",
            f"comment: {data.get('comment') or '-'}",
            "",
            json.dumps(data, indent=2, sort_keys=True, default=str),
        ]
        message.set_content("\n".join(lines))
        return message

    def send(self, events: list[MailedEvent]) -> None:
        """Send one message per event over one SMTP connection."""
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username and self.password is not None:
                smtp.login(self.username, self.password.get_secret_value())
            for event in events:
                smtp.send_message(self.build(event))


def _claim(db: Database, *, since: datetime | None, now: datetime, limit: int) -> list[MailedEvent]:
    with db.unit_of_work() as session:
        if since is not None:
            session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.mailed_at.is_(None), OutboxEvent.created_at < since)
                .values(mailed_at=now)
            )
        rows = session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.mailed_at.is_(None))
            .order_by(OutboxEvent.created_at, OutboxEvent.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        for row in rows:
            row.mailed_at = now
        return [MailedEvent(r.id, r.type, r.subject, dict(r.payload)) for r in rows]


def mail_pending(
    db: Database,
    notifier: SmtpNotifier,
    *,
    since: datetime | None = None,
    now: datetime | None = None,
    limit: int = 100,
) -> int:
    """Mail every event not mailed yet (oldest first); return how many were sent."""
    events = _claim(db, since=since, now=now or utcnow(), limit=limit)
    if not events:
        return 0
    try:
        notifier.send(events)
    except (OSError, smtplib.SMTPException):
        with db.unit_of_work() as session:
            session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id.in_([e.id for e in events]))
                .values(mailed_at=None)
            )
        raise
    return len(events)
