"""An incident opened or changed by hand names only routes that exist (a typo'd route matched no
runbook and tied the incident to nothing); automatic incidents and runbooks are not refused."""

from __future__ import annotations

import httpx
import pytest

from mlgate.auth.schemas import Principal
from mlgate.errors import Invalid
from mlgate.gateway import service as gateway
from mlgate.incidents import runbooks, service
from mlgate.incidents.schemas import IncidentCreate, IncidentUpdate, RunbookCreate, Severity
from mlgate.runtime import Runtime
from tests.cli.conftest import Cli, cli  # noqa: F401  (fixture)
from tests.conftest import KeyFactory, bearer
from tests.incidents.conftest import create_route
from tests.integration.conftest import LiveServer, live_server  # noqa: F401  (fixture)

THRESHOLD = 60


def open_incident(runtime: Runtime, admin: Principal, *routes: str) -> int:
    with runtime.db.unit_of_work() as session:
        return service.open_incident(
            session,
            incident_in=IncidentCreate(
                title="5xx", severity=Severity.SEV2, affected_routes=list(routes)
            ),
            actor=admin,
            threshold_minutes=THRESHOLD,
        ).number


def set_routes(runtime: Runtime, admin: Principal, number: int, *routes: str) -> list[str]:
    with runtime.db.unit_of_work() as session:
        return service.update(
            session,
            ref=str(number),
            update_in=IncidentUpdate(affected_routes=list(routes)),
            actor=admin,
            threshold_minutes=THRESHOLD,
        ).affected_routes


def test_an_incident_naming_a_route_that_does_not_exist_is_refused(
    runtime: Runtime, admin: Principal, churn_route: str
) -> None:
    with pytest.raises(Invalid) as refused:
        open_incident(runtime, admin, churn_route, "chrun")
    assert [(e.field, e.message) for e in refused.value.errors] == [
        ("affected_routes", "no route named 'chrun'; list the routes with `mlgate routes list`")
    ]
    number = open_incident(runtime, admin, churn_route)
    with pytest.raises(Invalid) as refused:
        set_routes(runtime, admin, number, churn_route, "fraud")
    assert refused.value.errors[0].field == "affected_routes"
    assert "'fraud'" in refused.value.detail
    with runtime.db.unit_of_work() as session:  # nothing of the refused update landed
        incident = service.get(session, ref=str(number), threshold_minutes=THRESHOLD)
    assert incident.affected_routes == [churn_route]
    assert [e.kind for e in incident.events] == ["opened"]


def test_a_route_deleted_during_the_incident_stays_on_it(
    runtime: Runtime, admin: Principal, churn_route: str
) -> None:
    number = open_incident(runtime, admin, churn_route)
    with runtime.db.unit_of_work() as session:
        gateway.delete_route(session, name=churn_route, actor=admin)
    create_route(runtime, "churn-v2")
    assert set_routes(runtime, admin, number, churn_route, "churn-v2") == [churn_route, "churn-v2"]


def test_automatic_incidents_and_runbooks_may_name_routes_not_there(
    runtime: Runtime, admin: Principal
) -> None:
    """An alert is never refused; a runbook may be written before its route is created."""
    with runtime.db.unit_of_work() as session:
        alert = service.open_automatic(
            session,
            cause_key="breaker:gone",
            title="Breaker open",
            severity=Severity.SEV3,
            affected_routes=["gone"],
        )
        runbooks.put_runbook(
            session,
            runbook_in=RunbookCreate(
                name="launch", title="Launch", body="# Roll back", routes=["new"]
            ),
            actor=admin,
        )
    assert alert.affected_routes == ["gone"]
    create_route(runtime, "new")
    number = open_incident(runtime, admin, "new")
    with runtime.db.unit_of_work() as session:
        incident = service.get(session, ref=str(number), threshold_minutes=THRESHOLD)
    assert [r.name for r in incident.runbooks] == ["launch"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_an_unknown_route_is_refused_over_http_and_on_the_cli(
    runtime: Runtime,
    churn_route: str,
    make_key: KeyFactory,
    live_server: LiveServer,  # noqa: F811
    cli: Cli,  # noqa: F811
) -> None:
    writer = bearer(make_key("incidents:write"))
    url = f"{live_server.url}/api/v1/incidents"
    body = {"title": "5xx", "severity": "SEV2", "affected_routes": ["chrun"]}
    refused = httpx.post(url, json=body, headers=writer)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in refused.json()["errors"]] == ["affected_routes"]
    created = httpx.post(url, json={**body, "affected_routes": [churn_route]}, headers=writer)
    assert created.status_code == 201, created.text
    number = created.json()["number"]
    patched = httpx.patch(f"{url}/{number}", json={"affected_routes": ["nope"]}, headers=writer)
    assert patched.status_code == 422, patched.text
    assert [e["field"] for e in patched.json()["errors"]] == ["affected_routes"]
    opened = cli("incidents", "open", "5xx", "--severity", "SEV2", "--route", "chrun")
    assert (opened.code, opened.out) == (1, "")
    assert opened.err == (
        "error: affected_routes: no route named 'chrun'; list the routes with"
        " `mlgate routes list`\n"
    )
    updated = cli("incidents", "update", str(number), "--route", "nope")
    assert updated.code == 1
    assert updated.err.startswith("error: affected_routes: no route named 'nope'")
    assert cli("incidents", "update", str(number), "--route", churn_route).code == 0
