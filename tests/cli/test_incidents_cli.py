"""``mlgate incidents``: every answer applies the configured postmortem rule, and a postmortem
that cannot be written where asked is refused before anything is edited."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from mlgate.auth.schemas import Principal
from mlgate.clock import utcnow
from mlgate.incidents import service
from mlgate.incidents.schemas import IncidentCreate, Severity
from mlgate.runtime import Runtime
from tests.cli.conftest import Cli


def _opened_half_an_hour_ago(runtime: Runtime, admin: Principal) -> str:
    with runtime.db.unit_of_work() as session:
        incident = service.open_incident(
            session,
            incident_in=IncidentCreate(title="Slow churn", severity=Severity.SEV3),
            actor=admin,
            threshold_minutes=60,
            now=utcnow() - timedelta(minutes=30),
        )
    return str(incident.number)


def test_every_incident_command_applies_the_configured_postmortem_threshold(
    cli: Cli, runtime: Runtime, admin: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = _opened_half_an_hour_ago(runtime, admin)
    monkeypatch.setenv("MLGATE_INCIDENT_POSTMORTEM_MINUTES", "10")
    updated = cli("incidents", "update", number, "--summary", "p99 up", "--json")
    listed = cli("incidents", "list", "--json")
    shown = cli("incidents", "show", number, "--json")
    assert updated.code == listed.code == shown.code == 0, updated.err + listed.err + shown.err
    for answer in (json.loads(updated.out), json.loads(listed.out)[0], json.loads(shown.out)):
        assert answer["postmortem_required"] is True
        assert answer["postmortem_reasons"] == ["lasted longer than 10 minutes"]
    refused = cli("incidents", "close", number)
    assert refused.code == 1
    assert "needs a postmortem" in refused.err
    monkeypatch.setenv("MLGATE_INCIDENT_POSTMORTEM_MINUTES", "0")
    opened = cli("incidents", "open", "Fresh", "--severity", "SEV4", "--json")
    assert opened.code == 0, opened.err
    assert json.loads(opened.out)["postmortem_required"] is True


def test_a_postmortem_out_in_a_missing_directory_is_refused_before_the_edit(
    cli: Cli, runtime: Runtime, admin: Principal, tmp_path: Path
) -> None:
    number = _opened_half_an_hour_ago(runtime, admin)
    out = tmp_path / "nonexistent" / "pm.md"
    refused = cli("incidents", "postmortem", number, "--set", "root_causes=x", "--out", str(out))
    assert refused.code == 1
    assert "is not a directory" in refused.err
    assert not out.parent.exists()
    draft = cli("incidents", "postmortem", number, "--format", "json")
    assert draft.code == 0, draft.err
    assert json.loads(draft.out)["root_causes"] == "_To be written._"
    shown = json.loads(cli("incidents", "show", number, "--json").out)
    assert "postmortem" not in [event["kind"] for event in shown["events"]]
