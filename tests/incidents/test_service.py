"""Incidents: automatic opens deduplicate per cause; changes write their own timeline; command
changes only by handover; a postmortem is required (and rendered) when impact calls for it."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.clock import utcnow
from mlgate.errors import Conflict, Invalid
from mlgate.incidents import postmortem, runbooks, service
from mlgate.incidents.schemas import (
    Handover,
    IncidentCreate,
    IncidentStatus,
    IncidentUpdate,
    NoteCreate,
    PostmortemUpdate,
    RunbookCreate,
    Severity,
    TaskCreate,
)
from mlgate.store.database import Database


def test_open_automatic_twice_gives_one_incident_with_both_events(db: Database) -> None:
    with db.unit_of_work() as session:
        first = service.open_automatic(
            session,
            cause_key="breaker:churn",
            title="Breaker open on churn",
            severity=Severity.SEV3,
            detail="breaker open 120 s",
            affected_routes=["churn"],
        )
    with db.unit_of_work() as session:
        second = service.open_automatic(
            session,
            cause_key="breaker:churn",
            title="Breaker open on churn",
            severity=Severity.SEV2,
            detail="breaker open 300 s",
        )
        other = service.open_automatic(
            session, cause_key="backup-failed", title="Backup failed", severity=Severity.SEV2
        )
        open_now = service.get_all(session, open_only=True)
    assert second.id == first.id
    assert other.id != first.id
    assert len(open_now) == 2
    texts = [e.text for e in second.events]
    assert any("120 s" in t for t in texts)
    assert any("300 s" in t for t in texts)
    assert [e.kind for e in second.events] == ["opened", "recurred", "severity"]
    assert second.severity == Severity.SEV2  # a worse repeat escalates
    assert second.commander is None  # nobody took command yet

    with db.unit_of_work() as session:
        draft = service.get_postmortem(session, ref=str(first.number))
    markdown = postmortem.render_markdown(draft)
    html = postmortem.render_html(draft)
    assert f"INC-{first.number}" in markdown
    assert "breaker open 300 s" in markdown
    assert "## Root causes" in markdown
    assert "## Where we got lucky" in markdown
    assert "<h2>Timeline (UTC)</h2>" in html
    assert "breaker open 120 s" in html


def test_a_closed_cause_opens_a_new_incident(db: Database, admin: Principal) -> None:
    with db.unit_of_work() as session:
        first = service.open_automatic(session, cause_key="c", title="t", severity=Severity.SEV4)
        service.close(session, ref=first.id, actor=admin, threshold_minutes=60)
        again = service.open_automatic(session, cause_key="c", title="t", severity=Severity.SEV4)
    assert again.number == first.number + 1


def test_status_severity_roles_and_handover_enter_the_timeline(
    db: Database, admin: Principal
) -> None:
    bob = Principal(name="bob", scopes=frozenset({"incidents:write"}))
    with db.unit_of_work() as session:
        incident = service.open_incident(
            session,
            incident_in=IncidentCreate(title="Latency", severity=Severity.SEV3),
            actor=admin,
            threshold_minutes=60,
        )
        ref = str(incident.number)
        assert incident.commander == "alice"
        service.update(
            session,
            ref=ref,
            actor=admin,
            update_in=IncidentUpdate(severity=Severity.SEV2, scribe="carol", communications="dan"),
            threshold_minutes=60,
        )
        service.handover(
            session,
            ref=ref,
            handover_in=Handover(to="bob", note="shift end"),
            actor=admin,
            threshold_minutes=60,
        )
        with pytest.raises(Conflict):
            service.handover(
                session, ref=ref, handover_in=Handover(to="bob"), actor=bob, threshold_minutes=60
            )
        service.update(
            session,
            ref=ref,
            update_in=IncidentUpdate(status=IncidentStatus.STABLE),
            actor=bob,
            threshold_minutes=60,
        )
        with pytest.raises(Invalid):
            service.update(
                session,
                ref=ref,
                update_in=IncidentUpdate(status=IncidentStatus.CLOSED),
                actor=bob,
                threshold_minutes=60,
            )
        task = service.add_task(
            session,
            ref=ref,
            actor=bob,
            task_in=TaskCreate(
                title="add alert", owner="carol", due_at=utcnow() + timedelta(days=3)
            ),
        )
        service.complete_task(session, ref=ref, task_id=task.id, actor=bob)
        service.add_note(
            session,
            ref=ref,
            note_in=NoteCreate(text="p99 back to normal"),
            actor=bob,
            threshold_minutes=60,
        )
        closed = service.close(session, ref=ref, actor=bob, threshold_minutes=60)
        entries = audit.get_all(session, object_type="incident")
    kinds = [e.kind for e in closed.events]
    assert kinds == [
        "opened",
        "severity",
        "role",
        "role",
        "handover",
        "status",
        "task",
        "task",
        "note",
        "status",
    ]
    handover = closed.events[4]
    assert handover.actor == "alice"
    assert handover.data == {"from": "alice", "to": "bob"}
    assert closed.commander == "bob"
    assert closed.status == IncidentStatus.CLOSED
    assert closed.stable_at is not None
    assert closed.closed_at is not None
    assert (
        len(entries) == 8
    )  # one audit entry per state change (the two role events are one update)


def test_close_needs_a_postmortem_after_user_impact(db: Database, admin: Principal) -> None:
    with db.unit_of_work() as session:
        incident = service.open_incident(
            session,
            incident_in=IncidentCreate(
                title="Wrong answers", severity=Severity.SEV1, user_impact=True
            ),
            actor=admin,
            threshold_minutes=60,
        )
        ref = incident.id
        assert incident.postmortem_required
        assert incident.postmortem_reasons == ["user-visible impact"]
        with pytest.raises(Conflict, match="needs a postmortem"):
            service.close(session, ref=ref, actor=admin, threshold_minutes=60)
        service.set_postmortem(
            session,
            ref=ref,
            actor=admin,
            postmortem_in=PostmortemUpdate(
                summary="bad model served",
                root_causes="unchecked <script> input",
                resolution="rollback",
            ),
            threshold_minutes=60,
        )
        closed = service.close(session, ref=ref, actor=admin, threshold_minutes=60)
        draft = service.get_postmortem(session, ref=ref, threshold_minutes=60)
    assert closed.postmortem_written
    html = postmortem.render_html(draft)
    assert "&lt;script&gt;" in html
    assert "<script>" not in html
    assert "unchecked <script> input" in postmortem.render_markdown(draft)


def test_long_incidents_need_a_postmortem(db: Database, admin: Principal) -> None:
    opened = utcnow() - timedelta(hours=3)
    with db.unit_of_work() as session:
        incident = service.open_incident(
            session,
            incident_in=IncidentCreate(title="Slow", severity=Severity.SEV4),
            actor=admin,
            threshold_minutes=60,
            now=opened,
        )
        assert service.get(session, ref=incident.id, threshold_minutes=60).postmortem_required
        assert not service.get(session, ref=incident.id, threshold_minutes=600).postmortem_required


def test_an_incident_shows_the_runbooks_of_its_routes_and_models(
    db: Database, admin: Principal, churn_route: str
) -> None:
    with db.unit_of_work() as session:
        runbooks.put_runbook(
            session,
            actor=admin,
            runbook_in=RunbookCreate(
                name="churn-latency",
                title="Churn latency",
                body="# Steps\n1. look",
                routes=["churn"],
            ),
        )
        runbooks.put_runbook(
            session,
            actor=admin,
            runbook_in=RunbookCreate(name="fraud", title="Fraud", body="# Fraud", models=["fraud"]),
        )
        incident = service.open_incident(
            session,
            actor=admin,
            incident_in=IncidentCreate(
                title="Slow churn", severity=Severity.SEV3, affected_routes=["churn"]
            ),
            threshold_minutes=60,
        )
    assert [r.name for r in incident.runbooks] == ["churn-latency"]


def test_every_answer_applies_the_given_postmortem_threshold(
    db: Database, admin: Principal
) -> None:
    opened = utcnow() - timedelta(minutes=30)
    with db.unit_of_work() as session:
        incident = service.open_incident(
            session,
            incident_in=IncidentCreate(title="Slow", severity=Severity.SEV4),
            actor=admin,
            threshold_minutes=10,
            now=opened,
        )
        ref = incident.id
        answers = {
            "open": incident,
            "update": service.update(
                session,
                ref=ref,
                update_in=IncidentUpdate(summary="s"),
                actor=admin,
                threshold_minutes=10,
            ),
            "handover": service.handover(
                session, ref=ref, handover_in=Handover(to="bob"), actor=admin, threshold_minutes=10
            ),
            "note": service.add_note(
                session, ref=ref, note_in=NoteCreate(text="n"), actor=admin, threshold_minutes=10
            ),
            "postmortem": service.set_postmortem(
                session,
                ref=ref,
                postmortem_in=PostmortemUpdate(lucky="l"),
                actor=admin,
                threshold_minutes=10,
            ),
            "get": service.get(session, ref=ref, threshold_minutes=10),
            "list": service.get_all(session, threshold_minutes=10)[0],
        }
        longer = service.get_all(session, threshold_minutes=60)[0]
        draft = service.get_postmortem(session, ref=ref, threshold_minutes=10)
        for _ in range(2):  # the second is a repeat, answered with the open incident
            answers["automatic"] = service.open_automatic(
                session,
                cause_key="slow",
                title="Slow",
                severity=Severity.SEV4,
                threshold_minutes=10,
                now=opened,
            )
    for name, answer in answers.items():
        assert answer.postmortem_reasons == ["lasted longer than 10 minutes"], name
        assert answer.postmortem_required, name
    assert not longer.postmortem_required
    assert draft.required_because == ["lasted longer than 10 minutes"]


def test_stable_at_is_when_the_incident_last_stabilised(db: Database, admin: Principal) -> None:
    opened = utcnow() - timedelta(hours=1)

    def set_status(status: IncidentStatus, minutes: int) -> None:
        with db.unit_of_work() as session:
            service.update(
                session,
                ref=ref,
                update_in=IncidentUpdate(status=status),
                actor=admin,
                threshold_minutes=600,
                now=opened + timedelta(minutes=minutes),
            )

    def stable_at() -> datetime | None:
        with db.unit_of_work() as session:
            return service.get(session, ref=ref, threshold_minutes=600).stable_at

    with db.unit_of_work() as session:
        ref = service.open_incident(
            session,
            incident_in=IncidentCreate(title="Flapping", severity=Severity.SEV3),
            actor=admin,
            threshold_minutes=600,
            now=opened,
        ).id
    set_status(IncidentStatus.STABLE, 5)
    assert stable_at() == opened + timedelta(minutes=5)
    set_status(IncidentStatus.ACTIVE, 10)  # it escalated again: no longer stable
    assert stable_at() is None
    set_status(IncidentStatus.STABLE, 20)
    assert stable_at() == opened + timedelta(minutes=20)
    set_status(IncidentStatus.ACTIVE, 30)
    with db.unit_of_work() as session:
        closed = service.close(
            session, ref=ref, actor=admin, threshold_minutes=600, now=opened + timedelta(minutes=40)
        )
    assert closed.stable_at == closed.closed_at == opened + timedelta(minutes=40)
    assert stable_at() == opened + timedelta(minutes=40)
