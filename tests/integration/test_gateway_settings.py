"""A route's resilience settings take effect at the next table refresh, without a restart."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from mlgate.gateway.models import Route
from mlgate.ids import new_id
from mlgate.runtime import Runtime
from tests.conftest import KeyFactory, bearer


def test_a_changed_bulkhead_or_breaker_setting_applies_at_the_next_refresh(
    gateway_client: TestClient, make_key: KeyFactory
) -> None:
    gateway = gateway_client.app.state.gateway  # type: ignore[attr-defined]
    gateway_client.portal.call(gateway.refresh)
    (name,) = gateway.bulkheads
    assert gateway.bulkheads[name].max_concurrent == 64  # the default
    kept = gateway.breakers[name]

    changed = gateway_client.patch(
        "/api/v1/routes/iris",
        json={"resilience": {"bulkhead": 2}},
        headers=bearer(make_key("routes:write")),
    )
    assert changed.status_code == 200, changed.text
    gateway_client.portal.call(gateway.refresh)
    assert gateway.bulkheads[name].max_concurrent == 2  # it stayed 64 until a restart
    assert gateway.breakers[name] is kept  # its own settings did not change: state kept

    bulkhead = gateway.bulkheads[name]
    reopened = gateway_client.patch(
        "/api/v1/routes/iris",
        json={"resilience": {"bulkhead": 2, "breaker_open_seconds": 42}},
        headers=bearer(make_key("routes:write")),
    )
    assert reopened.status_code == 200, reopened.text
    gateway_client.portal.call(gateway.refresh)
    assert gateway.breakers[name].config.open_seconds == 42
    assert gateway.bulkheads[name] is bulkhead  # unchanged setting: the same, slots and all


def test_a_stored_route_that_no_longer_reads_is_left_out_and_named(
    gateway_client: TestClient, runtime: Runtime
) -> None:
    # A route saved before a rule tightened (one rate per limit): the table compiles without
    # it, every other route serves, and /readyz says which route and why.
    with runtime.db.unit_of_work() as session:
        iris = session.scalars(select(Route).where(Route.name == "iris")).one()
        spec = {**iris.spec, "limits": {"route_rate": "2/minute;1000/second"}}
        session.add(
            Route(
                id=new_id(),
                name="legacy",
                model_id=iris.model_id,
                spec=spec,
                created_at=iris.created_at,
                created_by="an older mlgate",
                updated_at=iris.updated_at,
            )
        )
    gateway = gateway_client.app.state.gateway  # type: ignore[attr-defined]
    gateway_client.portal.call(gateway.refresh)
    assert set(gateway.table.routes) == {"iris"}
    (problem,) = gateway_client.get("/readyz").json()["route_problems"]["legacy"]
    assert "limits.route_rate" in problem
