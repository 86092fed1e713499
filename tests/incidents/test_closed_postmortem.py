"""Once an incident is closed, the postmortem sections that closing required (summary,
root_causes, resolution) can be amended but never emptied: blanking one unwrote the postmortem
the close was allowed on."""

from __future__ import annotations

import httpx
import pytest

from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.errors import Invalid
from mlgate.incidents import service
from mlgate.incidents.schemas import IncidentCreate, PostmortemUpdate, Severity
from mlgate.runtime import Runtime
from tests.cli.conftest import Cli, cli  # noqa: F401  (fixture)
from tests.conftest import KeyFactory, bearer
from tests.integration.conftest import LiveServer, live_server  # noqa: F401  (fixture)

THRESHOLD = 60
WRITTEN = {"summary": "5xx for 20 min", "root_causes": "a bad config", "resolution": "rolled back"}


def edit(runtime: Runtime, admin: Principal, number: int, **fields: str) -> None:
    with runtime.db.unit_of_work() as session:
        service.set_postmortem(
            session,
            ref=str(number),
            postmortem_in=PostmortemUpdate(**fields),
            actor=admin,
            threshold_minutes=THRESHOLD,
        )


def closed_incident(runtime: Runtime, admin: Principal) -> int:
    """An incident with user impact (a postmortem is required), its postmortem written, closed."""
    with runtime.db.unit_of_work() as session:
        number = service.open_incident(
            session,
            incident_in=IncidentCreate(title="5xx", severity=Severity.SEV2, user_impact=True),
            actor=admin,
            threshold_minutes=THRESHOLD,
        ).number
    edit(runtime, admin, number, **WRITTEN, lucky="it was quiet")
    with runtime.db.unit_of_work() as session:
        service.close(session, ref=str(number), actor=admin, threshold_minutes=THRESHOLD)
    return number


def test_a_closed_postmortems_required_sections_cannot_be_emptied(
    runtime: Runtime, admin: Principal
) -> None:
    number = closed_incident(runtime, admin)
    for blank in ("", "  \n"):
        with pytest.raises(Invalid) as refused:
            edit(runtime, admin, number, root_causes=blank, resolution=blank, summary="still here")
        assert [e.field for e in refused.value.errors] == ["root_causes", "resolution"]
        assert refused.value.detail == (
            f"root_causes, resolution cannot be emptied: INC-{number} is closed; amend the"
            " text instead"
        )
    edit(runtime, admin, number, root_causes="a bad config, pushed unreviewed", lucky="")
    with runtime.db.unit_of_work() as session:
        incident = service.get(session, ref=str(number), threshold_minutes=THRESHOLD)
        draft = service.get_postmortem(session, ref=str(number), threshold_minutes=THRESHOLD)
        entry = audit.latest(session, action="incident.postmortem_edited")
    assert incident.postmortem_written
    assert draft.summary == WRITTEN["summary"]
    assert draft.root_causes == "a bad config, pushed unreviewed"
    assert draft.lucky == "_To be written._"  # an optional section may be cleared
    assert entry is not None
    assert entry.change == {"fields": ["lucky", "root_causes"]}


def test_an_open_incidents_postmortem_draft_may_be_emptied(
    runtime: Runtime, admin: Principal
) -> None:
    with runtime.db.unit_of_work() as session:
        number = service.open_incident(
            session,
            incident_in=IncidentCreate(title="5xx", severity=Severity.SEV2),
            actor=admin,
            threshold_minutes=THRESHOLD,
        ).number
    edit(runtime, admin, number, **WRITTEN)
    edit(runtime, admin, number, root_causes="")
    with runtime.db.unit_of_work() as session:
        assert not service.get(
            session, ref=str(number), threshold_minutes=THRESHOLD
        ).postmortem_written


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_emptying_a_closed_postmortem_is_refused_over_http_and_on_the_cli(
    runtime: Runtime,
    admin: Principal,
    make_key: KeyFactory,
    live_server: LiveServer,  # noqa: F811
    cli: Cli,  # noqa: F811
) -> None:
    number = closed_incident(runtime, admin)
    url = f"{live_server.url}/api/v1/incidents/{number}/postmortem"
    writer = bearer(make_key("incidents:write"))
    refused = httpx.put(url, json={"summary": ""}, headers=writer)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in refused.json()["errors"]] == ["summary"]
    amended = httpx.put(url, json={"summary": "5xx for 25 min"}, headers=writer)
    assert amended.status_code == 200, amended.text
    blanked = cli("incidents", "postmortem", str(number), "--set", "resolution=")
    assert (blanked.code, blanked.out) == (1, "")
    assert blanked.err == (
        f"error: resolution cannot be emptied: INC-{number} is closed; amend the text instead\n"
    )
    shown = httpx.get(url, headers=writer).json()
    assert (shown["summary"], shown["resolution"]) == ("5xx for 25 min", "rolled back")
