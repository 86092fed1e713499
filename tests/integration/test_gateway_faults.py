"""Routes over real fault-injecting upstreams: fallbacks, refusals, degradation, deadlines,
breakers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

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


def cached_route(runtime: Runtime, url: str) -> None:
    """Route ``echo`` to ``url`` alone, answering from its cache (60 s) when the call fails."""
    http_route(
        runtime,
        url,
        None,
        degradation={"mode": "cached", "cache_ttl_seconds": 60},
        resilience={"deadline_ms": 300, "attempt_timeout_ms": 100},
    )


def test_cached_degradation_answers_with_the_last_good_response(
    runtime: Runtime, upstreams: tuple[FaultyUpstream, FaultyUpstream], make_key: KeyFactory
) -> None:
    primary, _ = upstreams
    cached_route(runtime, primary.url)
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


def logged(client: TestClient, runtime: Runtime) -> list[tuple[str, int, str | None]]:
    """(outcome, status, target) of every request logged so far, once the writer has flushed."""
    client.portal.call(client.app.state.gateway.log.flush)  # type: ignore[attr-defined]
    with runtime.db.engine.connect() as connection:
        rows = connection.execute(text("SELECT outcome, status, target FROM request_logs"))
        return [(row[0], row[1], row[2]) for row in rows]


@pytest.mark.parametrize(
    ("refused", "answered"),
    [(400, 422), (413, 422), (422, 422), (401, 502), (404, 502), (409, 502)],
)
def test_an_upstream_refusal_is_the_callers_422_or_a_502_and_is_logged(
    runtime: Runtime,
    upstreams: tuple[FaultyUpstream, FaultyUpstream],
    make_key: KeyFactory,
    refused: int,
    answered: int,
) -> None:
    primary, fallback = upstreams
    primary.fault = Status(refused)
    http_route(runtime, primary.url, fallback.url)
    key = make_key("gateway:invoke")
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        response = call(client, key)
        metrics = client.get("/metrics", headers=bearer(make_key("metrics:read"))).text
        rows = logged(client, runtime)
        watched = client.app.state.gateway.watch.counts["echo"]  # type: ignore[attr-defined]
    problem = response.json()
    assert response.status_code == answered
    # Only a broken route counts towards a 'degraded' incident, not a caller's bad inputs.
    assert watched == [1, 0 if answered == 422 else 1]
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == problem["request_id"]
    assert response.headers["x-mlgate-model"] == "echo"
    assert response.headers["x-mlgate-version"] == "1"
    assert response.headers["x-mlgate-degraded"] == "false"
    assert f"HTTP {refused}" in problem["detail"]
    if answered == 422:
        assert problem["errors"][0]["field"] == "inputs"
        assert "the upstream refused the inputs" in problem["errors"][0]["message"]
    else:
        assert problem["type"] == "urn:mlgate:problem:bad-gateway"
        assert "credentials" in problem["detail"]
    assert (primary.received, fallback.received) == (1, 0)  # no retry, no fallback
    assert rows == [("upstream_error", answered, f"echo@1+{primary.url}")]
    assert 'outcome="upstream_error",route="echo"' in metrics


def test_cached_degradation_recalls_an_answer_only_for_the_same_parameters(
    runtime: Runtime, upstreams: tuple[FaultyUpstream, FaultyUpstream], make_key: KeyFactory
) -> None:
    primary, _ = upstreams
    cached_route(runtime, primary.url)
    headers = bearer(make_key("gateway:invoke"))

    def predict(client: TestClient, **parameters: Any) -> Any:
        body = {"inputs": [42], "parameters": parameters or None}
        return client.post("/v1/routes/echo/predict", json=body, headers=headers)

    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        assert predict(client, threshold=0.9).status_code == 200
        primary.fault = Status(503)
        same = predict(client, threshold=0.9)
        other = predict(client, threshold=0.1)
        without = predict(client)
    assert same.status_code == 200
    assert same.headers["x-mlgate-degraded"] == "cached"
    assert other.status_code == 503
    assert without.status_code == 503


@pytest.mark.parametrize("refresh_between", [True, False], ids=["two-refreshes", "one-refresh"])
def test_a_recreated_route_does_not_answer_with_what_its_namesake_cached(
    runtime: Runtime,
    upstreams: tuple[FaultyUpstream, FaultyUpstream],
    make_key: KeyFactory,
    refresh_between: bool,
) -> None:
    from mlgate.gateway import service as routes

    old, new = upstreams
    cached = {"mode": "cached", "cache_ttl_seconds": 60}
    fast = {"deadline_ms": 300, "attempt_timeout_ms": 100}
    http_route(runtime, old.url, None, degradation=cached, resilience=fast)
    world.served_model(runtime, "fraud", b"another model", framework="http", schema=None)
    key = make_key("gateway:invoke")
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        gateway = client.app.state.gateway  # type: ignore[attr-defined]
        assert call(client, key, 7).status_code == 200
        with runtime.db.unit_of_work() as session:
            routes.delete_route(session, name="echo", actor=world.REQUESTER)
        if refresh_between:
            client.portal.call(gateway.refresh)
            assert call(client, key, 7).status_code == 404
        world.create_route(
            runtime,
            name="echo",
            model="fraud",
            primary={"model": "fraud", "upstream": {"url": new.url}},
            degradation=cached,
            resilience=fast,
        )
        client.portal.call(gateway.refresh)
        new.fault = Status(503)
        response = call(client, key, 7)
    assert response.status_code == 503  # before: the old model's answer, as "cached"


def test_a_cached_answer_of_a_version_the_route_no_longer_serves_is_not_recalled(
    runtime: Runtime, upstreams: tuple[FaultyUpstream, FaultyUpstream], make_key: KeyFactory
) -> None:
    primary, _ = upstreams
    cached_route(runtime, primary.url)
    key = make_key("gateway:invoke")
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        assert call(client, key, 7).headers["x-mlgate-version"] == "1"
        # Version 2 goes to production: the route now serves it.
        world.served_model(runtime, "echo", b"version two", framework="http", schema=None)
        client.portal.call(client.app.state.gateway.refresh)  # type: ignore[attr-defined]
        primary.fault = Status(503)
        response = call(client, key, 7)
    assert response.status_code == 503  # before: version 1's answer


def test_a_static_answer_names_the_routes_model_and_no_version(
    runtime: Runtime, upstreams: tuple[FaultyUpstream, FaultyUpstream], make_key: KeyFactory
) -> None:
    from mlgate.gateway.schemas import PredictResponse

    primary, _ = upstreams
    primary.fault = Status(503)
    http_route(
        runtime,
        primary.url,
        None,
        degradation={"mode": "static", "static_response": {"label": "unknown"}},
    )
    key = make_key("gateway:invoke")
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        response = call(client, key)
    assert response.status_code == 200
    assert response.json() == {
        "outputs": {"label": "unknown"},
        "model": "echo",
        "version": None,
        "degraded": "static",
    }
    PredictResponse.model_validate(response.json())  # the documented shape
    assert response.headers["x-mlgate-model"] == "echo"
    assert response.headers["x-mlgate-degraded"] == "static"
    assert "x-mlgate-version" not in response.headers  # before: an empty one


def test_an_upstreams_endless_retry_after_still_gives_the_caller_a_503_problem(
    runtime: Runtime, upstreams: tuple[FaultyUpstream, FaultyUpstream], make_key: KeyFactory
) -> None:
    primary, _ = upstreams
    primary.fault = Status(503, retry_after="9" * 400)  # a float of it is infinite
    http_route(runtime, primary.url, None)
    key = make_key("gateway:invoke")
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        response = call(client, key)
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1


def test_a_fallback_whose_schema_refuses_the_inputs_is_not_called(
    runtime: Runtime, upstreams: tuple[FaultyUpstream, FaultyUpstream], make_key: KeyFactory
) -> None:
    primary, fallback = upstreams
    primary.fault = Status(503)
    pairs = {"type": "array", "items": {"type": "array", "minItems": 2, "maxItems": 2}}
    world.served_model(runtime, "echo", b"elsewhere", framework="http", schema=pairs)  # v1
    world.served_model(runtime, "echo", b"elsewhere", framework="http", schema=None)  # v2
    world.create_route(
        runtime,
        name="echo",
        model="echo",
        primary={"model": "echo", "upstream": {"url": primary.url}},
        fallbacks=[{"model": "echo", "version": 1, "upstream": {"url": fallback.url}}],
    )
    key = make_key("gateway:invoke")
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        paired = client.post(
            "/v1/routes/echo/predict", json={"inputs": [[1, 2]]}, headers=bearer(key)
        )
        single = client.post("/v1/routes/echo/predict", json={"inputs": [[1]]}, headers=bearer(key))
    assert paired.status_code == 200  # the fallback takes pairs
    assert paired.headers["x-mlgate-version"] == "1"
    assert single.status_code == 503  # v2 takes anything but failed; v1 takes no single value
    assert fallback.received == 1
