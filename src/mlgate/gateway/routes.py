"""Routes over HTTP: the control API (/api/v1/routes) and the client endpoints (/v1/…)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mlgate.auth.deps import SessionDep, presented_key, require_scope
from mlgate.auth.schemas import Principal
from mlgate.errors import Invalid, NotFound
from mlgate.gateway import service
from mlgate.gateway.chat import chat_completion
from mlgate.gateway.dataplane import Caller, Gateway
from mlgate.gateway.schemas import Canary, RouteCreate, RouteRead, RouteUpdate, TargetSpec
from mlgate.gateway.table import CompiledRoute, KeyGrant
from mlgate.privacy.subjects import subject_at

control = APIRouter(prefix="/api/v1/routes", tags=["routes"])
client = APIRouter(tags=["gateway"])
Reader = Annotated[Principal, Depends(require_scope("routes:read"))]
Writer = Annotated[Principal, Depends(require_scope("routes:write"))]


@control.post("", status_code=201, response_model=RouteRead)
def create_route(route_in: RouteCreate, session: SessionDep, actor: Writer) -> RouteRead:
    return service.create_route(session, route_in=route_in, actor=actor)


@control.get("", response_model=list[RouteRead])
def list_routes(session: SessionDep, actor: Reader) -> list[RouteRead]:
    return service.get_all(session)


@control.get("/{name}", response_model=RouteRead)
def show_route(name: str, session: SessionDep, actor: Reader) -> RouteRead:
    return service.get_route(session, name=name)


@control.patch("/{name}", response_model=RouteRead)
def update_route(name: str, route_in: RouteUpdate, session: SessionDep, actor: Writer) -> RouteRead:
    return service.update_route(session, name=name, route_in=route_in, actor=actor)


@control.put("/{name}/fallbacks", response_model=RouteRead)
def set_fallbacks(
    name: str, fallbacks: list[TargetSpec], session: SessionDep, actor: Writer
) -> RouteRead:
    update = RouteUpdate(fallbacks=fallbacks)
    return service.update_route(session, name=name, route_in=update, actor=actor)


@control.put("/{name}/canary", response_model=RouteRead)
def set_canary(name: str, canary: Canary | None, session: SessionDep, actor: Writer) -> RouteRead:
    update = RouteUpdate(canary=canary) if canary else RouteUpdate(clear_canary=True)
    return service.update_route(session, name=name, route_in=update, actor=actor)


@control.delete("/{name}", response_model=RouteRead)
def delete_route(name: str, session: SessionDep, actor: Writer) -> RouteRead:
    return service.delete_route(session, name=name, actor=actor)


# -- client endpoints: no SQL; keys come from the route table ---------------------------------


async def gateway_of(request: Request) -> Gateway:
    # async on purpose: FastAPI runs a sync dependency on a worker thread, a hop per request.
    gateway: Gateway | None = getattr(request.app.state, "gateway", None)
    if gateway is None:
        raise NotFound("this process does not run the gateway (role 'control')")
    return gateway


GatewayDep = Annotated[Gateway, Depends(gateway_of)]


async def _json_body(request: Request) -> Any:
    body = await request.body()
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise Invalid.field("body", f"is not valid JSON: {error}") from error


def _subject(request: Request, route: CompiledRoute, payload: Any) -> str | None:
    """The data subject: the route's header, else the JSON path it names in the body."""
    subject = request.headers.get(route.subject_header)
    if subject is None and route.subject_path:
        subject = subject_at(payload, route.subject_path)
    return subject


async def invoke_grant(request: Request, gateway: GatewayDep) -> KeyGrant:
    route = request.path_params.get("route", "")
    return await gateway.authenticate(presented_key(request), route)


invoke_grant.required_scope = "gateway:invoke"  # type: ignore[attr-defined]


@client.post("/v1/routes/{route}/predict")
async def predict(
    route: str,
    request: Request,
    gateway: GatewayDep,
    grant: Annotated[KeyGrant, Depends(invoke_grant)],
) -> JSONResponse:
    compiled = gateway.route(route)
    await gateway.check_limits(compiled, grant)
    payload = await _json_body(request)
    caller = Caller(grant=grant, subject=_subject(request, compiled, payload))
    answer = await gateway.predict(route, caller, payload)
    return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)


async def chat_grant(request: Request, gateway: GatewayDep) -> KeyGrant:
    # The route is named inside the body; it is checked against the key once the body is read.
    return await gateway.authenticate(presented_key(request), "")


chat_grant.required_scope = "gateway:invoke"  # type: ignore[attr-defined]


@client.post("/v1/chat/completions")
async def chat_completions(
    request: Request,
    gateway: GatewayDep,
    grant: Annotated[KeyGrant, Depends(chat_grant)],
) -> Response:
    payload = await _json_body(request)
    route = payload.get("model") if isinstance(payload, dict) else None
    if not isinstance(route, str):
        raise Invalid.field("model", "name the route to call in 'model'")
    gateway.authorize(grant, route)
    compiled = gateway.route(route)
    await gateway.check_limits(compiled, grant)
    caller = Caller(grant=grant, subject=_subject(request, compiled, payload))
    answer = await chat_completion(gateway, compiled, caller, payload)
    if isinstance(answer.body, dict):
        return JSONResponse(answer.body, headers=answer.headers)
    stream: AsyncIterator[bytes] = answer.body
    return StreamingResponse(stream, media_type="text/event-stream", headers=answer.headers)


async def metrics_grant(request: Request, gateway: GatewayDep) -> KeyGrant:
    return await gateway.authenticate(presented_key(request), "", scope="metrics:read")


metrics_grant.required_scope = "metrics:read"  # type: ignore[attr-defined]


@client.get("/metrics")
async def metrics(
    gateway: GatewayDep, grant: Annotated[KeyGrant, Depends(metrics_grant)]
) -> Response:
    await gateway.breaker_states()
    return Response(generate_latest(gateway.metrics.registry), media_type=CONTENT_TYPE_LATEST)
