"""The HTTP backend against a real upstream: each fault becomes the right failure, in time."""

from __future__ import annotations

import socket
import time

import pytest

from mlgate.gateway.backends import (
    GenericJson,
    HttpBackend,
    InferenceRequest,
    KServeV2,
    MlflowScoring,
    OpenAIChat,
)
from mlgate.gateway.backends.wire import Http1Client
from mlgate.gateway.resilience import (
    ConnectFailure,
    ProtocolFailure,
    StatusFailure,
    StreamInterrupted,
    TimeoutFailure,
)

from .upstream import (
    SSE_EVENTS,
    BreakStream,
    FaultyUpstream,
    Hang,
    Malformed,
    Reset,
    SlowBody,
    Status,
)

pytestmark = pytest.mark.anyio

ROWS = [[1.0, 2.0], [3.0, 4.0]]


def generic(upstream: FaultyUpstream, client: Http1Client) -> HttpBackend:
    return HttpBackend("m", client=client, base_url=upstream.url, adapter=GenericJson())


async def test_generic_json_round_trip(upstream: FaultyUpstream, client: Http1Client) -> None:
    result = await generic(upstream, client).infer(InferenceRequest(ROWS), timeout=5)
    assert result.outputs == ROWS
    assert upstream.received_on("/predict") == 1


async def test_the_protocols_path_goes_before_the_query_of_the_upstreams_url(
    upstream: FaultyUpstream, client: Http1Client
) -> None:
    base_url = f"{upstream.url}/models/?token=abc"  # a query may carry the upstream's token
    backend = HttpBackend("m", client=client, base_url=base_url, adapter=GenericJson())
    result = await backend.infer(InferenceRequest(ROWS), timeout=5)
    assert result.outputs == ROWS
    assert upstream.received_on("/models/predict?token=abc") == 1


async def test_kserve_v2_sends_tensors_and_reshapes_outputs(
    upstream: FaultyUpstream, client: Http1Client
) -> None:
    backend = HttpBackend("m", client=client, base_url=upstream.url, adapter=KServeV2(model="iris"))
    result = await backend.infer(InferenceRequest(ROWS), timeout=5)
    assert result.outputs == {"out-input-0": ROWS}
    assert upstream.received_on("/v2/models/iris/infer") == 1


async def test_mlflow_accepts_rows_and_dataframe_split(
    upstream: FaultyUpstream, client: Http1Client
) -> None:
    backend = HttpBackend("m", client=client, base_url=upstream.url, adapter=MlflowScoring())
    rows = await backend.infer(InferenceRequest(ROWS), timeout=5)
    frame = await backend.infer(InferenceRequest({"columns": ["a", "b"], "data": ROWS}), timeout=5)
    assert rows.outputs == ROWS
    assert frame.outputs == ROWS


async def test_upstream_secret_header_is_sent_but_never_shown(
    upstream: FaultyUpstream, client: Http1Client
) -> None:
    backend = HttpBackend(
        "llm",
        client=client,
        base_url=upstream.url,
        adapter=OpenAIChat(model="small"),
        headers={"Authorization": "Bearer sk-very-secret"},
    )
    result = await backend.infer(InferenceRequest({"messages": []}), timeout=5)
    assert result.outputs["model"] == "small"
    assert upstream.last_headers["authorization"] == "Bearer sk-very-secret"
    assert "sk-very-secret" not in repr(backend)


async def test_chat_stream_passes_sse_through_and_marks_first_byte(
    upstream: FaultyUpstream, client: Http1Client
) -> None:
    backend = HttpBackend("llm", client=client, base_url=upstream.url, adapter=OpenAIChat())
    stream = await backend.stream(InferenceRequest({"messages": []}), timeout=5)
    assert not stream.first_byte_sent
    received = b"".join([chunk async for chunk in stream])
    assert stream.first_byte_sent
    assert received == b"".join(SSE_EVENTS)


async def test_stream_broken_after_first_byte_raises_stream_interrupted(
    upstream: FaultyUpstream, client: Http1Client
) -> None:
    upstream.fault = BreakStream()
    backend = HttpBackend("llm", client=client, base_url=upstream.url, adapter=OpenAIChat())
    stream = await backend.stream(InferenceRequest({"messages": []}), timeout=5)
    chunks: list[bytes] = []

    async def drain() -> None:
        async for chunk in stream:
            chunks.append(chunk)

    with pytest.raises(StreamInterrupted):
        await drain()
    assert chunks == [SSE_EVENTS[0]]
    assert stream.first_byte_sent


async def test_stream_failing_before_first_byte_raises_a_retryable_failure(
    upstream: FaultyUpstream, client: Http1Client
) -> None:
    upstream.fault = Status(503, retry_after="2")
    backend = HttpBackend("llm", client=client, base_url=upstream.url, adapter=OpenAIChat())
    with pytest.raises(StatusFailure) as caught:
        await backend.stream(InferenceRequest({"messages": []}), timeout=5)
    assert caught.value.retryable
    assert caught.value.retry_after == 2.0


@pytest.mark.parametrize(
    ("status", "retry_after", "retryable"),
    [(503, "3", True), (429, "1", True), (502, None, True), (500, None, False), (400, None, False)],
)
async def test_error_statuses_become_status_failures(
    upstream: FaultyUpstream,
    client: Http1Client,
    status: int,
    retry_after: str | None,
    retryable: bool,
) -> None:
    upstream.fault = Status(status, retry_after=retry_after)
    with pytest.raises(StatusFailure) as caught:
        await generic(upstream, client).infer(InferenceRequest(ROWS), timeout=5)
    assert caught.value.status == status
    assert caught.value.retryable is retryable
    assert caught.value.retry_after == (float(retry_after) if retry_after else None)


async def test_connection_reset_is_a_connect_failure(
    upstream: FaultyUpstream, client: Http1Client
) -> None:
    upstream.fault = Reset()
    with pytest.raises(ConnectFailure):
        await generic(upstream, client).infer(InferenceRequest(ROWS), timeout=5)


async def test_refused_connection_is_a_connect_failure(client: Http1Client) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago refuses connections
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = HttpBackend(
        "m", client=client, base_url=f"http://127.0.0.1:{port}", adapter=GenericJson()
    )
    with pytest.raises(ConnectFailure):
        await backend.infer(InferenceRequest(ROWS), timeout=5)


@pytest.mark.parametrize("fault", [Hang(), SlowBody(chunk_delay_ms=200, chunks=10)])
async def test_hang_and_slow_body_time_out_within_the_timeout(
    upstream: FaultyUpstream, client: Http1Client, fault: Hang | SlowBody
) -> None:
    upstream.fault = fault
    started = time.monotonic()
    with pytest.raises(TimeoutFailure):
        await generic(upstream, client).infer(InferenceRequest(ROWS), timeout=0.3)
    assert time.monotonic() - started < 1.0


async def test_malformed_json_is_a_protocol_failure(
    upstream: FaultyUpstream, client: Http1Client
) -> None:
    upstream.fault = Malformed()
    with pytest.raises(ProtocolFailure) as caught:
        await generic(upstream, client).infer(InferenceRequest(ROWS), timeout=5)
    assert not caught.value.retryable
