"""The official openai client against mlgate's OpenAI-compatible route, plain and streaming."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from sqlalchemy import text

from mlgate.runtime import Runtime
from tests.conftest import KeyFactory, bearer
from tests.faults.upstream import BreakStream, EndlessStream, FaultyUpstream, Status
from tests.integration import world
from tests.integration.conftest import LiveServer, wait_until


@pytest.fixture
def chat_upstreams(runtime: Runtime) -> Iterator[tuple[FaultyUpstream, FaultyUpstream]]:
    with FaultyUpstream() as primary, FaultyUpstream() as fallback:
        world.served_model(
            runtime, "assistant", b"an LLM served elsewhere", framework="openai", schema=None
        )
        world.create_route(
            runtime,
            name="assistant",
            model="assistant",
            primary={
                "model": "assistant",
                "upstream": {"url": primary.url, "protocol": "openai", "upstream_model": "m1"},
            },
            fallbacks=[
                {
                    "model": "assistant",
                    "version": 1,
                    "upstream": {"url": fallback.url, "protocol": "openai"},
                }
            ],
            resilience={"max_attempts": 1},
        )
        yield primary, fallback


def client_for(server: LiveServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0, timeout=10)


def test_plain_chat_completion_through_the_route(
    chat_upstreams: tuple[FaultyUpstream, FaultyUpstream],
    live_server: LiveServer,
    make_key: KeyFactory,
) -> None:
    primary, _ = chat_upstreams
    client = client_for(live_server, make_key("gateway:invoke"))
    completion = client.chat.completions.create(
        model="assistant", messages=[{"role": "user", "content": "hello"}]
    )
    assert completion.choices[0].message.content == "hi"
    assert completion.model == "m1"  # the route pins the upstream's model name
    assert primary.received == 1
    assert all("mlg_" not in value for value in primary.last_headers.values())  # key not forwarded


def test_streaming_chat_completion_is_passed_through(
    chat_upstreams: tuple[FaultyUpstream, FaultyUpstream],
    live_server: LiveServer,
    make_key: KeyFactory,
) -> None:
    client = client_for(live_server, make_key("gateway:invoke"))
    stream = client.chat.completions.create(
        model="assistant", messages=[{"role": "user", "content": "hello"}], stream=True
    )
    chunks = [chunk.choices[0].delta.content for chunk in stream if chunk.choices]
    assert "".join(c for c in chunks if c)


def test_stream_falls_back_before_the_first_byte(
    chat_upstreams: tuple[FaultyUpstream, FaultyUpstream],
    live_server: LiveServer,
    make_key: KeyFactory,
) -> None:
    primary, fallback = chat_upstreams
    primary.fault = Status(503)
    client = client_for(live_server, make_key("gateway:invoke"))
    stream = client.chat.completions.create(
        model="assistant", messages=[{"role": "user", "content": "hello"}], stream=True
    )
    assert [c for c in stream if c.choices]
    assert fallback.received == 1


def test_stream_broken_after_the_first_byte_ends_the_stream_without_fallback(
    chat_upstreams: tuple[FaultyUpstream, FaultyUpstream],
    live_server: LiveServer,
    make_key: KeyFactory,
) -> None:
    primary, fallback = chat_upstreams
    primary.fault = BreakStream()
    client = client_for(live_server, make_key("gateway:invoke"))
    stream = client.chat.completions.create(
        model="assistant", messages=[{"role": "user", "content": "hello"}], stream=True
    )
    with pytest.raises((openai.APIError, httpx.HTTPError)):  # the client sees the stream break
        list(stream)
    assert fallback.received == 0
    metrics = httpx.get(f"{live_server.url}/metrics", headers=bearer(make_key("metrics:read")))
    counted = [
        line
        for line in metrics.text.splitlines()
        if line.startswith('mlgate_gateway_requests_total{outcome="interrupted",route="assistant"')
    ]
    assert len(counted) == 1
    assert counted[0].endswith(" 1.0")


def test_a_stream_that_outlasts_its_deadline_ends_with_an_error_event(
    runtime: Runtime, live_server: LiveServer, make_key: KeyFactory
) -> None:
    with FaultyUpstream() as upstream:
        upstream.fault = EndlessStream(interval_ms=20)
        world.served_model(runtime, "ticker", b"an LLM", framework="openai", schema=None)
        world.create_route(
            runtime,
            name="ticker",
            model="ticker",
            primary={"model": "ticker", "upstream": {"url": upstream.url, "protocol": "openai"}},
            resilience={"deadline_ms": 500, "stream_deadline_ms": 800},
        )
        client = client_for(live_server, make_key("gateway:invoke"))
        started = time.monotonic()
        stream = client.chat.completions.create(
            model="ticker", messages=[{"role": "user", "content": "go on"}], stream=True
        )
        received = 0

        def read_all() -> None:
            nonlocal received
            for _ in stream:
                received += 1
                assert time.monotonic() - started < 5, "the stream outlived its deadline"

        with pytest.raises(openai.APIError, match="passed its deadline of 800 ms"):
            read_all()
        assert received > 0  # the answer streamed until the deadline
        assert time.monotonic() - started >= 0.8
        # The upstream call was closed, not left to run on.
        wait_until(lambda: upstream.open_connections == 0, what="the upstream call to be closed")
    metrics = httpx.get(f"{live_server.url}/metrics", headers=bearer(make_key("metrics:read")))
    cut = 'mlgate_gateway_requests_total{outcome="deadline_exceeded",route="ticker"'
    counted = [line for line in metrics.text.splitlines() if line.startswith(cut)]
    assert len(counted) == 1
    assert counted[0].endswith(" 1.0")  # logged once


def test_unknown_route_is_a_404_for_the_client(
    chat_upstreams: tuple[FaultyUpstream, FaultyUpstream],
    live_server: LiveServer,
    make_key: KeyFactory,
) -> None:
    client = client_for(live_server, make_key("gateway:invoke"))
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize(("refused", "answered"), [(400, 422), (401, 502)])
def test_an_upstream_refusal_is_the_callers_422_or_a_502_without_fallback(
    chat_upstreams: tuple[FaultyUpstream, FaultyUpstream],
    live_server: LiveServer,
    make_key: KeyFactory,
    stream: bool,
    refused: int,
    answered: int,
) -> None:
    primary, fallback = chat_upstreams
    primary.fault = Status(refused)
    response = httpx.post(
        f"{live_server.url}/v1/chat/completions",
        json={
            "model": "assistant",
            "messages": [{"role": "user", "content": "x"}],
            "stream": stream,
        },
        headers=bearer(make_key("gateway:invoke")),
    )
    assert response.status_code == answered
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == response.json()["request_id"]
    assert response.headers["x-mlgate-model"] == "assistant"
    assert response.headers["x-mlgate-version"] == "1"
    assert f"HTTP {refused}" in response.json()["detail"]
    assert (primary.received, fallback.received) == (1, 0)
    metrics = httpx.get(f"{live_server.url}/metrics", headers=bearer(make_key("metrics:read")))
    assert 'outcome="upstream_error",route="assistant"' in metrics.text


def stored_payloads(runtime: Runtime, route: str) -> list[str]:
    with runtime.db.engine.connect() as connection:
        query = text("SELECT body FROM request_payloads WHERE route = :route")
        return [str(body) for body in connection.execute(query, {"route": route}).scalars()]


@pytest.mark.parametrize("stream", [False, True])
def test_a_redacted_chat_route_logs_the_conversation_with_pii_replaced(
    runtime: Runtime, live_server: LiveServer, make_key: KeyFactory, stream: bool
) -> None:
    with FaultyUpstream() as upstream:
        world.served_model(runtime, "bot", b"an LLM", framework="openai", schema=None)
        world.create_route(
            runtime,
            name="bot",
            model="bot",
            primary={"model": "bot", "upstream": {"url": upstream.url, "protocol": "openai"}},
            log_mode="redacted",
        )
        client = client_for(live_server, make_key("gateway:invoke"))
        messages = [{"role": "user", "content": "mail jane.doe@example.com"}]
        if stream:  # logged when the stream ends, with what was streamed
            chunks = client.chat.completions.create(model="bot", messages=messages, stream=True)
            assert [c for c in chunks if c.choices]
        else:
            client.chat.completions.create(model="bot", messages=messages)

    wait_until(
        lambda: stored_payloads(runtime, "bot"),
        timeout=10,
        what="the batch writer to store the payload",
    )
    bodies = stored_payloads(runtime, "bot")
    assert len(bodies) == 1
    assert "jane.doe@example.com" not in bodies[0]
    assert "EMAIL" in bodies[0]
    if stream:  # the events joined before redaction: no piece of the address survives
        assert "hello, mail <EMAIL_ADDRESS>" in bodies[0]
        assert "jane" not in bodies[0]


def test_the_model_list_names_the_chat_routes_the_key_may_call(
    chat_upstreams: tuple[FaultyUpstream, FaultyUpstream],
    runtime: Runtime,
    live_server: LiveServer,
    make_key: KeyFactory,
) -> None:
    world.upstream_route(runtime, "scoring", "http://127.0.0.1:9/")  # predict only: not listed
    world.create_route(
        runtime,
        name="other-chat",
        model="assistant",
        primary={
            "model": "assistant",
            "upstream": {"url": "http://127.0.0.1:9/", "protocol": "openai"},
        },
    )
    everything = client_for(live_server, make_key("gateway:invoke"))
    assert [m.id for m in everything.models.list()] == ["assistant", "other-chat"]
    model = everything.models.retrieve("assistant")
    assert (model.id, model.object, model.owned_by) == ("assistant", "model", "mlgate")
    assert abs(model.created - time.time()) < 600
    with pytest.raises(openai.NotFoundError):
        everything.models.retrieve("scoring")
    with pytest.raises(openai.NotFoundError):
        everything.models.retrieve("no-such-route")

    limited = client_for(live_server, make_key("gateway:invoke", allowed_routes=["other-chat"]))
    assert [m.id for m in limited.models.list()] == ["other-chat"]
    with pytest.raises(openai.PermissionDeniedError):
        limited.models.retrieve("assistant")
    with pytest.raises(openai.PermissionDeniedError):  # a key without the scope lists nothing
        client_for(live_server, make_key("registry:read")).models.list()
    with pytest.raises(openai.AuthenticationError):
        client_for(live_server, "mlg_not-a-key").models.list()

    posted = httpx.post(
        f"{live_server.url}/v1/models", headers=bearer(make_key("gateway:invoke")), timeout=10
    )
    assert (posted.status_code, posted.headers["allow"]) == (405, "GET")
    assert posted.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(("percent", "listed"), [(1, False), (100, True)])
def test_a_route_chats_only_through_a_canary_when_it_takes_all_the_traffic(
    chat_upstreams: tuple[FaultyUpstream, FaultyUpstream],
    runtime: Runtime,
    live_server: LiveServer,
    make_key: KeyFactory,
    percent: int,
    listed: bool,
) -> None:
    primary, _ = chat_upstreams
    world.upstream_route(
        runtime,
        "mostly-scoring",
        "http://127.0.0.1:9/",
        canary={
            "target": {
                "model": "assistant",
                "version": 1,
                "upstream": {"url": primary.url, "protocol": "openai"},
            },
            "percent": percent,
        },
    )
    client = client_for(live_server, make_key("gateway:invoke"))
    assert ("mostly-scoring" in [m.id for m in client.models.list()]) is listed
    if listed:
        assert client.models.retrieve("mostly-scoring").id == "mostly-scoring"
    else:
        with pytest.raises(openai.NotFoundError):
            client.models.retrieve("mostly-scoring")
