"""Routes over HTTP: the control API (/api/v1/routes) and /metrics.

The client endpoints (/v1/routes/{route}/predict, /v1/chat/completions) are served by
``frontdoor.ClientEndpoints`` in front of FastAPI: they are the hot path.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mlgate.auth.deps import SessionDep, presented_key, require_scope
from mlgate.auth.schemas import Principal
from mlgate.clock import utcnow
from mlgate.errors import NotFound
from mlgate.gateway import service
from mlgate.gateway.dataplane import Gateway
from mlgate.gateway.schemas import Canary, RouteCreate, RouteRead, RouteUpdate, TargetSpec
from mlgate.gateway.table import KeyGrant
from mlgate.monitoring.traffic import TrafficReport, build_traffic_report, parse_window

control = APIRouter(prefix="/api/v1/routes", tags=["routes"])
client = APIRouter(tags=["gateway"])
Reader = Annotated[Principal, Depends(require_scope("routes:read"))]
Writer = Annotated[Principal, Depends(require_scope("routes:write"))]
Since = Annotated[
    str | None,
    Query(description="ISO-8601, or a duration before `until` (30m, 1h, 7d); default 1h."),
]
Until = Annotated[str | None, Query(description="ISO-8601, or a duration before now; default now.")]
Buckets = Annotated[int, Query(description="Equal time buckets, 1 to 500.")]


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


@control.get("/{name}/traffic", response_model=TrafficReport)
def route_traffic(
    name: str,
    session: SessionDep,
    actor: Reader,
    since: Since = None,
    until: Until = None,
    buckets: Buckets = 60,
) -> TrafficReport:
    """Volume, outcomes, latency percentiles and targets of the route, from its request logs."""
    start, end = parse_window(since, until, now=utcnow())
    return build_traffic_report(session, route=name, since=start, until=end, buckets=buckets)


@control.get("/{name}/traffic.html", response_class=HTMLResponse)
def route_traffic_page(
    name: str,
    session: SessionDep,
    actor: Reader,
    since: Since = None,
    until: Until = None,
    buckets: Buckets = 60,
) -> HTMLResponse:
    """The traffic report as a self-contained HTML page (inline SVG charts, no scripts)."""
    report = route_traffic(name, session, actor, since=since, until=until, buckets=buckets)
    return HTMLResponse(report.to_html())


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


async def metrics_grant(request: Request, gateway: GatewayDep) -> KeyGrant:
    return await gateway.authenticate(presented_key(request), "", scope="metrics:read")


metrics_grant.required_scope = "metrics:read"  # type: ignore[attr-defined]


@client.get(
    "/metrics",
    response_class=Response,
    responses={200: {"description": "Prometheus text format", "content": {"text/plain": {}}}},
)
async def metrics(
    gateway: GatewayDep, grant: Annotated[KeyGrant, Depends(metrics_grant)]
) -> Response:
    await gateway.breaker_states()
    return Response(generate_latest(gateway.metrics.registry), media_type=CONTENT_TYPE_LATEST)
