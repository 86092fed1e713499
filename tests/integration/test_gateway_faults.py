"""Routes over real fault-injecting upstreams: fallbacks, degradation, deadlines, breakers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mlgate.app import create_app
from mlgate.runtime import Runtime
from tests.conftest import KeyFactory, bearer
from tests.faults.upstream import FaultyUpstream, Flaky, Hang, Ok, Reset, Status
from tests.integration import world


@pytest.fixture
def upstreams() -> Iterator[tuple[FaultyUpstream, FaultyUpstream]]:
    with FaultyUpstream() as primary, FaultyUpstream() as fallback:
        yield primary, fallback


def http_route(runtime: Runtime, primary: str, fallback: str | None, **spec: Any) -> None:
    world.served_model(runtime, "echo", b"model served elsewhere", framework="http", schema=None)
    world.create_route(
        runtime,
        name="echo",
        model="echo",
        primary={"model": "echo", "upstream": {"url": primary}},
        fallbacks=[{"model": "echo", "version": 1, "upstream": {"url": fallback}}]
        if fallback
        else [],
        **spec,
    )


def call(client: TestClient, key: str, value: Any = 1) -> Any:
    return client.post("/v1/routes/echo/predict", json={"inputs": [value]}, headers=bearer(key))


def test_half_failing_primary_with_a_healthy_fallback_loses_no_request(
    runtime: Runtime, upstreams: tuple[FaultyUpstream, FaultyUpstream], make_key: KeyFactory
) -> None:
    primary, fallback = upstreams
    primary.fault = Flaky(rate=0.5, seed=7, failure=Status(503))
    http_route(runtime, primary.url, fallback.url, resilience={"breaker_min_calls": 10_000})
    key = make_key("gateway:invoke")
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        results = [call(client, key, index) for index in range(500)]
    ok = [r for r in results if r.status_code == 200]
    assert len(ok) >= 499
    assert all(r.json()["outputs"] == [i] for i, r in enumerate(results) if r.status_code == 200)
    served = {r.headers["x-mlgate-version"] for r in ok}
    assert served == {"1"}
    assert fallback.received > 0
    assert primary.received >= 500


@pytest.mark.parametrize("fault", [Hang(), Reset(), Status(500)], ids=["hang", "reset", "500"])
def test_every_target_down_gives_a_static_answer_within_the_deadline(
    runtime: Runtime,
    upstreams: tuple[FaultyUpstream, FaultyUpstream],
    make_key: KeyFactory,
    fault: Any,
) -> None:
    primary, fallback = upstreams
    primary.fault = fallback.fault = fault
    http_route(
        runtime,
        primary.url,
        fallback.url,
        resilience={"deadline_ms": 300, "attempt_timeout_ms": 100},
        degradation={"mode": "static", "static_response": {"label": "unknown"}},
    )
    key = make_key("gateway:invoke")
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        started = time.monotonic()
        response = call(client, key)
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.json()["outputs"] == {"label": "unknown"}
    assert response.headers["x-mlgate-degraded"] == "static"
    assert elapsed < 2.5  # deadline 0.25-0.3 s; generous for a loaded 2-core CI machine


def test_every_target_down_without_degradation_is_a_fast_503(
    runtime: Runtime, upstreams: tuple[FaultyUpstream, FaultyUpstream], make_key: KeyFactory
) -> None:
    primary, fallback = upstreams
    primary.fault = fallback.fault = Hang()
    http_route(
        runtime,
        primary.url,
        fallback.url,
        resilience={"deadline_ms": 250, "attempt_timeout_ms": 100},
    )
    key = make_key("gateway:invoke")
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        started = time.monotonic()
        response = call(client, key)
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1
    assert elapsed < 2.5  # deadline 0.25-0.3 s; generous for a loaded 2-core CI machine


def test_cached_degradation_answers_with_the_last_good_response(
    runtime: Runtime, upstreams: tuple[FaultyUpstream, FaultyUpstream], make_key: KeyFactory
) -> None:
    primary, _ = upstreams
    http_route(
        runtime,
        primary.url,
        None,
        degradation={"mode": "cached", "cache_ttl_seconds": 60},
        resilience={"deadline_ms": 300, "attempt_timeout_ms": 100},
    )
    key = make_key("gateway:invoke")
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        fresh = call(client, key, 42)
        primary.fault = Status(503)
        cached = call(client, key, 42)
        unseen = call(client, key, 43)
    assert fresh.headers["x-mlgate-degraded"] == "false"
    assert cached.status_code == 200
    assert cached.json()["outputs"] == [42]
    assert cached.headers["x-mlgate-degraded"] == "cached"
    assert unseen.status_code == 503


def test_open_breaker_sends_only_half_open_probes_and_closes_after_recovery(
    runtime: Runtime, upstreams: tuple[FaultyUpstream, FaultyUpstream], make_key: KeyFactory
) -> None:
    primary, fallback = upstreams
    primary.fault = Status(500)
    http_route(
        runtime,
        primary.url,
        fallback.url,
        resilience={
            "breaker_min_calls": 5,
            "breaker_failure_rate": 0.5,
            "max_attempts": 1,
            # Long enough for the 20 calls below on a slow, busy machine (0.3 s was not).
            "breaker_open_seconds": 2.0,
            "breaker_half_open_probes": 1,
        },
    )
    key = make_key("gateway:invoke")
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        for _ in range(5):
            assert call(client, key).status_code == 200  # answered by the fallback
        assert primary.received == 5
        for _ in range(20):
            assert call(client, key).status_code == 200
        assert primary.received == 5  # open: the primary sees nothing
        primary.fault = Ok()
        deadline = time.monotonic() + 10
        while primary.received == 5 and time.monotonic() < deadline:
            call(client, key)  # after open_seconds, the next call is the half-open probe
        assert primary.received == 6
        served = [call(client, key).headers["x-mlgate-version"] for _ in range(5)]
        assert primary.received >= 7  # closed again: traffic goes back to the primary
        assert served == ["1"] * 5


def test_a_breaker_open_past_the_threshold_opens_exactly_one_incident(
    runtime: Runtime, upstreams: tuple[FaultyUpstream, FaultyUpstream], make_key: KeyFactory
) -> None:
    from mlgate.incidents import postmortem
    from mlgate.incidents import service as incidents
    from tests.integration.conftest import wait_until

    primary, fallback = upstreams
    primary.fault = Status(500)
    watched = Runtime.from_settings(
        runtime.settings.model_copy(update={"incident_breaker_open_seconds": 0.5})
    )
    http_route(
        watched,
        primary.url,
        fallback.url,
        resilience={"breaker_min_calls": 5, "max_attempts": 1, "breaker_open_seconds": 600},
    )
    key = make_key("gateway:invoke")

    def open_incidents() -> list[object]:
        with watched.db.unit_of_work() as session:
            return list(incidents.get_all(session, open_only=True))

    with TestClient(create_app(runtime=watched), raise_server_exceptions=False) as client:
        for _ in range(10):
            assert call(client, key).status_code == 200  # the fallback answers
        wait_until(lambda: open_incidents(), timeout=15, what="an automatic incident")
        watch = client.app.state.gateway.watch  # type: ignore[attr-defined]
        target = f"echo@1+{primary.url}"
        # Several more ticks with the breaker still open: the same incident, no second one.
        wait_until(
            lambda: time.monotonic() - watch.open_since[target] > 3,
            timeout=15,
            what="three more watch ticks",
        )
    found = open_incidents()
    assert len(found) == 1
    incident = found[0]
    assert incident.cause_key == f"breaker-open:echo@1+{primary.url}"  # type: ignore[attr-defined]
    assert any("breaker" in event.text for event in incident.events)  # type: ignore[attr-defined]
    with watched.db.unit_of_work() as session:
        draft = incidents.get_postmortem(session, ref=str(incident.number))  # type: ignore[attr-defined]
    html = postmortem.render_html(draft)
    assert "circuit breaker" in html
    assert "<script" not in html
    watched.close()
