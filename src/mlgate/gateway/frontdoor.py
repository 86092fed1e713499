"""The client endpoints, served in front of FastAPI's middleware stack: the gateway's hot path.

Why not FastAPI routes: measured with wrk against one worker, the HTTP passthrough route served
4,250 requests/s as a FastAPI endpoint (request objects, dependency injection, query parsing
and the middleware stack per call) and 8,150 from this front door, everything else equal.
Only ``POST /v1/routes/{route}/predict``, ``POST /v1/chat/completions`` and OpenAI's model list
(``GET /v1/models``, ``GET /v1/models/{route}``: the routes the key may call through chat
completions, read from the route table like the rest) are served here; every other request (control
API, ``/metrics``, health, docs) goes to the FastAPI app behind. Answers keep the API's contract:
problem+json errors with the field that is wrong, an ``X-Request-Id`` on every answer, the
body-size limit, 405 for other methods. Each request ends with one access line (route, status,
latency, what served it, the key's id; never a payload or a key) when the server writes them
(``serverlog.AccessLog``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.types import Message, Receive, Scope, Send

from mlgate.auth.keys import presented
from mlgate.clock import utcnow
from mlgate.errors import Invalid, MlgateError, NotFound, PayloadTooLarge
from mlgate.gateway.chat import Relay, chat_completion
from mlgate.gateway.dataplane import Caller, Gateway, InputsRefused, UpstreamRefused
from mlgate.gateway.schemas import ChatCompletionRequest, PredictRequest, PredictResponse
from mlgate.gateway.table import CompiledRoute
from mlgate.privacy.subjects import subject_at
from mlgate.problems import (
    PROBLEM_JSON,
    PROBLEM_RESPONSE,
    problem_parts,
    request_id,
    request_id_for,
)
from mlgate.serverlog import AccessLog

__all__ = ["CHAT_PATH", "CLIENT_ENDPOINTS", "ClientEndpoints", "document_client_endpoints"]

logger = logging.getLogger(__name__)
CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
STREAM_END_GRACE_S = 1.0  # for the last event of a stream cut at its deadline
PREDICT_PREFIX, PREDICT_SUFFIX = "/v1/routes/", "/predict"
INVOKE = "gateway:invoke"
# What the route contract test checks like any API route: method, path template, scope.
CLIENT_ENDPOINTS = {
    ("POST", "/v1/routes/{route}/predict"): INVOKE,
    ("POST", CHAT_PATH): INVOKE,
    ("GET", MODELS_PATH): INVOKE,
    ("GET", MODELS_PATH + "/{model}"): INVOKE,
}
_JSON = b"application/json"


class _Disconnected(Exception):
    """The caller went away before its request was read: nobody to answer."""


class _Call:
    """One request on the front door: its headers, body and the way to answer."""

    __slots__ = (
        "body_size",
        "headers",
        "key_id",
        "path",
        "receive",
        "request_id",
        "route",
        "scope",
        "send",
        "served",
        "started",
        "status",
    )

    def __init__(self, scope: Scope, receive: Receive, send: Send, rid: str) -> None:
        self.scope, self.receive, self.send = scope, receive, send
        self.path: str = scope["path"]
        self.headers: dict[bytes, bytes] = dict(scope["headers"])
        self.request_id = rid
        self.started = False
        # For the access line: set as the request goes on.
        self.route: str | None = None
        self.key_id: str | None = None
        self.status = 499  # nginx's "client closed request", unless an answer is sent
        self.served: dict[str, str] = {}
        self.body_size = 0  # bytes read by json_body

    def header(self, name: str) -> str | None:
        value = self.headers.get(name.lower().encode("latin-1"))
        return header_text(value) if value is not None else None

    def presented_key(self) -> str | None:
        return presented(self.header("authorization"), self.header("x-api-key"))

    async def json_body(self, limit: int) -> Any:
        length = self.headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise PayloadTooLarge(_too_large(limit))
        message = await self.receive()
        body: bytes = message.get("body", b"")
        if message["type"] == "http.disconnect":
            raise _Disconnected
        if message.get("more_body"):
            chunks = [body]
            size = len(body)
            while message.get("more_body"):
                message = await self.receive()
                if message["type"] == "http.disconnect":
                    raise _Disconnected
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(_too_large(limit))
                chunks.append(chunk)
            body = b"".join(chunks)
        elif len(body) > limit:
            raise PayloadTooLarge(_too_large(limit))
        self.body_size = len(body)
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise Invalid.field("body", f"is not valid JSON: {error}") from None

    def access_line(self, elapsed: float) -> dict[str, Any]:
        """What the access log says about this request: no payload, no key."""
        client = self.scope.get("client")
        served = self.served
        version = served.get("X-MLGate-Version")
        return {
            "request_id": self.request_id,
            "method": self.scope["method"],
            "path": self.path,
            "route": self.route,
            "status": self.status,
            "latency_ms": round(elapsed * 1000, 3),
            "model": served.get("X-MLGate-Model"),
            "version": int(version) if version else None,
            "degraded": served.get("X-MLGate-Degraded"),
            "key_id": self.key_id,
            "client": client[0] if client else None,
        }

    def _start(self, status: int, content_type: bytes, headers: dict[str, str]) -> Message:
        self.status, self.served = status, headers
        raw = [(b"content-type", content_type), (b"x-request-id", self.request_id.encode())]
        raw.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items())
        return {"type": "http.response.start", "status": status, "headers": raw}

    async def answer_json(self, status: int, body: Any, headers: dict[str, str]) -> None:
        await self.answer_bytes(status, orjson.dumps(body), _JSON, headers)

    async def answer_bytes(
        self, status: int, body: bytes, content_type: bytes, headers: dict[str, str]
    ) -> None:
        start = self._start(status, content_type, headers)
        start["headers"].append((b"content-length", str(len(body)).encode()))
        self.started = True
        await self.send(start)
        await self.send({"type": "http.response.body", "body": body})

    async def answer_problem(self, error: MlgateError) -> None:
        body, headers = problem_parts(error, instance=self.path)
        if isinstance(error, _MethodNotAllowed):
            headers["Allow"] = error.allow
        elif isinstance(error, InputsRefused | UpstreamRefused):
            headers.update(error.served)  # a target answered: say which, as answers do
        await self.answer_bytes(error.status, orjson.dumps(body), PROBLEM_JSON.encode(), headers)

    async def answer_stream(self, relay: Relay, headers: dict[str, str]) -> None:
        """Relay a stream; stop (and close the upstream) as soon as the caller goes away or the
        stream's deadline passes, when the caller, if it still reads, gets the relay's ending
        event. The deadline bounds every send, the first included: a caller that stops reading
        must not hold the upstream call and its bulkhead slot."""
        self.started = True
        start = self._start(200, b"text/event-stream", headers)
        sent_start = False

        async def pump() -> None:
            nonlocal sent_start
            await self.send(start)
            sent_start = True
            async for chunk in relay:
                await self.send({"type": "http.response.body", "body": chunk, "more_body": True})
            await self.send({"type": "http.response.body", "body": b""})

        async def watch() -> None:
            while (await self.receive())["type"] != "http.disconnect":
                pass

        def cut() -> None:
            if pumping.done():  # the stream ended in time; nothing may follow its last byte
                return
            relay.expire()  # first, so the relay logs the deadline, not a caller gone
            pumping.cancel()

        pumping = asyncio.ensure_future(pump())
        watching = asyncio.ensure_future(watch())
        deadline = asyncio.get_running_loop().call_at(relay.deadline.expires_at, cut)
        try:
            await asyncio.wait((pumping, watching), return_when=asyncio.FIRST_COMPLETED)
        finally:
            deadline.cancel()
            for task in (pumping, watching):
                task.cancel()
            await asyncio.gather(pumping, watching, return_exceptions=True)
            # Now, not whenever the generator is collected: it frees the upstream connection
            # and bulkhead slot and logs the call.
            await relay.aclose()
        if relay.expired:  # cut at the deadline: tell a caller that still reads, briefly
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STREAM_END_GRACE_S):
                    if not sent_start:
                        await self.send(start)
                    body = {"type": "http.response.body", "body": relay.ending, "more_body": True}
                    await self.send(body)
                    await self.send({"type": "http.response.body", "body": b""})
            return
        if pumping.done() and not pumping.cancelled() and pumping.exception() is not None:
            raise pumping.exception()  # type: ignore[misc]  # the caller's stream must break


class _MethodNotAllowed(MlgateError):
    status = 405
    slug = "http-405"  # the shape FastAPI's own 405s have on the rest of the API
    title = "Method Not Allowed"

    def __init__(self, method: str, allow: str) -> None:
        super().__init__(f"{method} is not allowed here; use {allow}")
        self.allow = allow


def _too_large(limit: int) -> str:
    return f"the request body is larger than the limit of {limit} bytes"


def header_text(value: bytes) -> str:
    """A header's text: UTF-8 as curl and browsers send it, else Latin-1 (HTTP's old charset,
    which Python's http.client and requests send). A subject "josé" must be one subject."""
    try:
        return value.decode()
    except UnicodeDecodeError:
        return value.decode("latin-1")


def _subject(call: _Call, route: CompiledRoute, payload: Any) -> str | None:
    """The data subject: the route's header, else the JSON path it names in the body."""
    subject = call.header(route.subject_header)
    if subject is None and route.subject_path:
        subject = subject_at(payload, route.subject_path)
    return subject


class ClientEndpoints:
    """Serves the client endpoints with ``gateway``; :meth:`handle` says whether it did.

    ``default_body_limit`` applies while reading a chat body (the route is named inside it) and
    to unknown routes; a route's own ``max_body_bytes`` applies to its predict calls, and to a
    chat call once the body names the route. ``access`` writes
    the access lines (None: none are written).
    """

    def __init__(
        self, gateway: Gateway, *, default_body_limit: int, access: AccessLog | None = None
    ) -> None:
        self.gateway = gateway
        self.default_body_limit = default_body_limit
        self.access = access

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Serve ``scope`` if it is a client endpoint and return True; else return False."""
        path: str = scope["path"]
        if path == CHAT_PATH:
            await self._serve(scope, receive, send, self._chat, "")
            return True
        if path == MODELS_PATH or path.startswith(MODELS_PATH + "/"):
            route = path[len(MODELS_PATH) + 1 :]
            if "/" not in route:
                await self._serve(scope, receive, send, self._models, route, method="GET")
                return True
        if path.startswith(PREDICT_PREFIX) and path.endswith(PREDICT_SUFFIX):
            route = path[len(PREDICT_PREFIX) : -len(PREDICT_SUFFIX)]
            if route and "/" not in route:
                await self._serve(scope, receive, send, self._predict, route)
                return True
        return False

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        handler: Callable[[_Call, str], Awaitable[None]],
        route: str,
        method: str = "POST",
    ) -> None:
        incoming = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"")
        rid = request_id_for(incoming.decode("latin-1"))
        token = request_id.set(rid)
        call = _Call(scope, receive, send, rid)
        began = time.perf_counter()
        try:
            if scope["method"] != method:
                raise _MethodNotAllowed(scope["method"], method)
            await handler(call, route)
        except MlgateError as error:
            if call.started:
                raise
            await call.answer_problem(error)
        except _Disconnected:
            logger.debug("client disconnected", extra={"path": call.path})
        except Exception as error:
            logger.error("internal error", exc_info=error, extra={"path": call.path})
            if call.started:  # nothing more can be said to this client; the log has it
                raise
            await call.answer_problem(
                MlgateError(f"internal error; quote request id {rid} when you report it")
            )
        finally:
            request_id.reset(token)
            if self.access is not None:
                self.access.write(call.access_line(time.perf_counter() - began))

    async def _predict(self, call: _Call, name: str) -> None:
        gateway = self.gateway
        route = gateway.table.routes.get(name)
        limit = route.limits.max_body_bytes if route else self.default_body_limit
        length = call.headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise PayloadTooLarge(_too_large(limit))
        call.route = name
        grant = await gateway.authenticate(call.presented_key(), name, INVOKE)
        call.key_id = grant.key_id
        compiled = gateway.route(name)
        await gateway.check_limits(compiled, grant)
        payload = await call.json_body(compiled.limits.max_body_bytes)
        caller = Caller(grant, _subject(call, compiled, payload), call.request_id)
        answer = await gateway.predict(name, caller, payload, body_bytes=call.body_size)
        await call.answer_json(answer.status, answer.body, answer.headers)

    async def _chat(self, call: _Call, _: str) -> None:
        gateway = self.gateway
        # The route is named inside the body; it is checked against the key once it is read.
        grant = await gateway.authenticate(call.presented_key(), "", INVOKE)
        call.key_id = grant.key_id
        payload = await call.json_body(self.default_body_limit)
        route = payload.get("model") if isinstance(payload, dict) else None
        if not isinstance(route, str):
            raise Invalid.field("model", "name the route to call in 'model'")
        call.route = route
        gateway.authorize(grant, route)
        compiled = gateway.route(route)
        if call.body_size > compiled.limits.max_body_bytes:
            raise PayloadTooLarge(_too_large(compiled.limits.max_body_bytes))
        await gateway.check_limits(compiled, grant)
        caller = Caller(grant, _subject(call, compiled, payload), call.request_id)
        answer = await chat_completion(gateway, compiled, caller, payload)
        if isinstance(answer.body, dict):
            await call.answer_json(200, answer.body, answer.headers)
        else:
            await call.answer_stream(answer.body, answer.headers)

    async def _models(self, call: _Call, name: str) -> None:
        """OpenAI's model list: the routes this key may call that chat completions can serve."""
        gateway = self.gateway
        grant = await gateway.authenticate(call.presented_key(), name, INVOKE)
        call.key_id = grant.key_id
        if name:
            call.route = name
            route = gateway.route(name)
            if not route.speaks_openai:
                raise NotFound(f"route '{name}' serves no OpenAI-compatible upstream")
            await call.answer_json(200, _model_object(route), {})
            return
        now = utcnow()
        data = [
            _model_object(route)
            for name, route in sorted(gateway.table.routes.items())
            if route.speaks_openai and grant.may_call(name, now, INVOKE) is None
        ]
        await call.answer_json(200, {"object": "list", "data": data}, {})


def _model_object(route: CompiledRoute) -> dict[str, Any]:
    return {"id": route.name, "object": "model", "created": route.created, "owned_by": "mlgate"}


def document_client_endpoints(spec: dict[str, Any]) -> None:
    """Add the client endpoints to an OpenAPI document (FastAPI does not see them)."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for model in (PredictRequest, PredictResponse, ChatCompletionRequest):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema

    def ref(name: str) -> dict[str, Any]:
        return {"schema": {"$ref": f"#/components/schemas/{name}"}}

    errors = {
        str(status): {**PROBLEM_RESPONSE, "description": text}
        for status, text in (
            (401, "No key, or a key that is unknown, revoked or expired"),
            (403, "The key lacks gateway:invoke or may not call this route"),
            (404, "No such route"),
            (413, "The body is over the route's limit"),
            (422, "The body or an input is invalid, or the upstream refused it; see errors"),
            (429, "A rate limit was hit; see Retry-After"),
            (502, "The route's upstream refused the call; its URL or credentials need fixing"),
            (503, "Every target failed and no degraded answer is configured; see Retry-After"),
        )
    }
    served = "X-MLGate-Model, X-MLGate-Version and X-MLGate-Degraded say what served it."
    spec.setdefault("paths", {}).update(
        {
            "/v1/routes/{route}/predict": {
                "post": {
                    "tags": ["gateway"],
                    "summary": "Predict through a route",
                    "description": served,
                    "operationId": "predict",
                    "parameters": [
                        {
                            "name": "route",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": ref("PredictRequest")},
                    },
                    "responses": {
                        "200": {
                            "description": "The model's answer",
                            "content": {"application/json": ref("PredictResponse")},
                        },
                        **errors,
                    },
                }
            },
            MODELS_PATH: {
                "get": {
                    "tags": ["gateway"],
                    "summary": "OpenAI-compatible model list: the routes this key may chat with",
                    "description": "Routes with an OpenAI-compatible target that the key may "
                    "call; `id` is the route's name, `created` its creation (Unix seconds).",
                    "operationId": "list_models",
                    "responses": {
                        "200": {
                            "description": "`{object: list, data: [{id, object, created, "
                            "owned_by}]}`",
                            "content": {"application/json": {}},
                        },
                        **{k: v for k, v in errors.items() if k in ("401", "403")},
                    },
                }
            },
            MODELS_PATH + "/{model}": {
                "get": {
                    "tags": ["gateway"],
                    "summary": "OpenAI-compatible model object of one route",
                    "operationId": "retrieve_model",
                    "parameters": [
                        {
                            "name": "model",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "`{id, object, created, owned_by}`",
                            "content": {"application/json": {}},
                        },
                        **{k: v for k, v in errors.items() if k in ("401", "403", "404")},
                    },
                }
            },
            CHAT_PATH: {
                "post": {
                    "tags": ["gateway"],
                    "summary": "OpenAI-compatible chat completion through a route",
                    "description": "`model` names the route. With `stream: true` the upstream's "
                    "server-sent events pass through. " + served,
                    "operationId": "chat_completions",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": ref("ChatCompletionRequest")},
                    },
                    "responses": {
                        "200": {
                            "description": "The upstream's chat completion, or its event stream",
                            "content": {"application/json": {}, "text/event-stream": {}},
                        },
                        **errors,
                    },
                }
            },
        }
    )
