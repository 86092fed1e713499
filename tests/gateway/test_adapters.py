"""Wire protocols as an upstream sees them: a recording aiohttp server on loopback."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from mlgate.errors import Invalid
from mlgate.gateway.backends import (
    Adapter,
    GenericJson,
    HttpBackend,
    InferenceRequest,
    KServeV2,
    MlflowScoring,
    OpenAIChat,
    make_client,
)
from mlgate.gateway.resilience import ProtocolFailure

pytestmark = pytest.mark.anyio


class Upstream:
    """Records what was sent and answers with a fixed JSON body."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.seen: list[tuple[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append((request.path, json.loads(await request.read())))
        return web.json_response(self.answer)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self.handle)
        return app


async def call(adapter: Adapter, upstream: Upstream, request: InferenceRequest) -> Any:
    async with TestServer(upstream.app(), host="127.0.0.1") as server, make_client() as client:
        url = str(server.make_url("/"))
        backend = HttpBackend("m", client=client, base_url=url, adapter=adapter)
        return (await backend.infer(request, timeout=5)).outputs


async def test_kserve_rows_become_one_fp32_tensor_and_outputs_are_reshaped() -> None:
    upstream = Upstream(
        {"outputs": [{"name": "probs", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
    )
    outputs = await call(KServeV2(model="iris"), upstream, InferenceRequest([[1, 2, 3]] * 2))
    path, body = upstream.seen[0]
    assert path == "/v2/models/iris/infer"
    assert body["inputs"] == [
        {"name": "input-0", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3, 1, 2, 3]}
    ]
    assert outputs == {"probs": [[1, 2], [3, 4]]}


async def test_kserve_named_inputs_become_named_tensors() -> None:
    upstream = Upstream({"outputs": [{"name": "y", "shape": [3], "data": [0, 1, 0]}]})
    request = InferenceRequest({"a": [[1.0], [2.0], [3.0]], "b": [[4.0], [5.0], [6.0]]})
    outputs = await call(KServeV2(model="m"), upstream, request)
    assert [t["name"] for t in upstream.seen[0][1]["inputs"]] == ["a", "b"]
    assert upstream.seen[0][1]["inputs"][1]["shape"] == [3, 1]
    assert outputs == {"y": [0, 1, 0]}


async def test_mlflow_answers_from_version_one_and_two_are_both_read() -> None:
    assert await call(MlflowScoring(), Upstream([1, 0]), InferenceRequest([[1]])) == [1, 0]
    upstream = Upstream({"predictions": [0.3]})
    assert await call(MlflowScoring(), upstream, InferenceRequest([[1]], {"k": 1})) == [0.3]
    assert upstream.seen[0] == ("/invocations", {"inputs": [[1]], "params": {"k": 1}})


async def test_generic_json_forwards_parameters() -> None:
    upstream = Upstream({"outputs": [1]})
    assert await call(GenericJson("/score"), upstream, InferenceRequest([[1]], {"t": 2})) == [1]
    assert upstream.seen[0] == ("/score", {"inputs": [[1]], "parameters": {"t": 2}})


async def test_chat_model_is_pinned_by_the_route() -> None:
    answer = {"choices": [{"message": {"content": "hi"}}]}
    upstream = Upstream(answer)
    request = InferenceRequest({"model": "gpt-huge", "messages": [{"role": "user"}]})
    assert await call(OpenAIChat(model="small"), upstream, request) == answer
    assert upstream.seen[0][1]["model"] == "small"


async def test_chat_request_without_messages_is_invalid() -> None:
    with pytest.raises(Invalid):
        await call(OpenAIChat(), Upstream({}), InferenceRequest({"prompt": "x"}))


@pytest.mark.parametrize(
    ("adapter", "answer"),
    [
        (GenericJson(), {"result": 1}),
        (KServeV2(model="m"), {"outputs": "nope"}),
        (KServeV2(model="m"), {"outputs": [{"name": "y", "shape": [2, 2], "data": [1, 2, 3]}]}),
        (KServeV2(model="m"), {"outputs": [{"name": "y", "shape": [10**6, 1], "data": []}]}),
        (KServeV2(model="m"), {"outputs": [{"name": "y", "shape": ["y", 10**6], "data": []}]}),
        # A zero holds no data whatever comes before it: 10**20 empty lists would never end.
        (KServeV2(model="m"), {"outputs": [{"name": "y", "shape": [10**20, 0], "data": []}]}),
        (KServeV2(model="m"), {"outputs": [{"name": "y", "shape": [1] * 1000, "data": [1]}]}),
        (MlflowScoring(), {"other": 1}),
        (OpenAIChat(), {"id": "x"}),
    ],
)
async def test_answers_breaking_the_protocol_are_protocol_failures(
    adapter: Adapter, answer: Any
) -> None:
    inputs: Any = {"messages": []} if isinstance(adapter, OpenAIChat) else [[1.0]]
    with pytest.raises(ProtocolFailure):
        await call(adapter, Upstream(answer), InferenceRequest(inputs))


async def test_non_streaming_protocols_refuse_to_stream() -> None:
    async with make_client() as client:
        backend = HttpBackend("m", client=client, base_url="http://m", adapter=GenericJson())
        assert not backend.streams
        with pytest.raises(ProtocolFailure):
            await backend.stream(InferenceRequest([[1]]), timeout=5)
