"""The FastAPI application factory: mounts each domain's router by role."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from mlgate import __version__
from mlgate.approvals import outbox
from mlgate.approvals.routes import router as approvals_router
from mlgate.audit.routes import router as audit_router
from mlgate.auth.deps import document_security, route_scopes
from mlgate.auth.routes import router as keys_router
from mlgate.backup import jobs as backup_jobs
from mlgate.backup.routes import router as backup_router
from mlgate.bodylimit import BodySizeLimit
from mlgate.cards.routes import router as cards_router
from mlgate.config import Settings, get_settings
from mlgate.gateway.dataplane import Gateway
from mlgate.gateway.frontdoor import (
    CLIENT_ENDPOINTS,
    ClientEndpoints,
    document_client_endpoints,
)
from mlgate.gateway.routes import client as gateway_client_router
from mlgate.gateway.routes import control as routes_router
from mlgate.health import router as health_router
from mlgate.incidents.routes import router as incidents_router
from mlgate.jobs import Scheduler
from mlgate.monitoring import jobs as drift_jobs
from mlgate.monitoring.routes import router as drift_router
from mlgate.netaddr import Allowlist
from mlgate.privacy import jobs as privacy_jobs
from mlgate.privacy import serving as privacy_serving
from mlgate.privacy.routes import privacy_router, secrets_router
from mlgate.problems import RequestIdMiddleware, document_problems, install_error_handlers
from mlgate.readiness.routes import router as readiness_router
from mlgate.registry.routes import router as registry_router
from mlgate.runtime import Runtime
from mlgate.scanning.routes import router as scanning_router
from mlgate.serverlog import access_log
from mlgate.web.pages import create_web_app

__all__ = ["create_app"]

logger = logging.getLogger(__name__)
API_BODY_LIMIT = 10 * 1024 * 1024
WEBHOOK_INTERVAL = 2.0
BACKUP_CHECK_INTERVAL = 300.0


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or (runtime.settings if runtime else get_settings())
    runtime = runtime or Runtime.from_settings(settings)

    serves_gateway = settings.role in ("all", "gateway")
    serves_control = settings.role in ("all", "control")
    privacy = privacy_serving.privacy_for(runtime)
    gateway = (
        Gateway(
            runtime,
            log_sinks=privacy_serving.payload_sinks(runtime, privacy),
            resolve_secret=privacy_serving.secret_resolver(privacy),
        )
        if serves_gateway
        else None
    )

    scheduler = Scheduler()
    webhook_hosts = Allowlist.parse(settings.webhook_allowed_hosts)
    scheduler.add(
        "webhook-delivery",
        WEBHOOK_INTERVAL,
        lambda: outbox.deliver_due(runtime.db, server_secret=runtime.secret, allowed=webhook_hosts),
    )
    if settings.backup_schedule:
        # Verifies the audit chain, backs up when the newest backup is older than the
        # interval, prunes; failures open incidents.
        scheduler.add("backup", BACKUP_CHECK_INTERVAL, lambda: backup_jobs.scheduled_run(runtime))
    scheduler.add(
        "privacy-purge",
        settings.privacy_purge_interval_seconds,
        lambda: privacy_jobs.purge_job(runtime),
    )
    if settings.drift_check_seconds:
        scheduler.add(
            "drift-check", settings.drift_check_seconds, lambda: drift_jobs.drift_check_job(runtime)
        )
    scheduler.add(
        "drift-rollup", drift_jobs.ROLL_UP_SECONDS, lambda: drift_jobs.drift_rollup_job(runtime)
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if gateway is not None:
            await gateway.start()
        if serves_control:
            scheduler.start()
        try:
            yield
        finally:
            await scheduler.stop()
            if gateway is not None:
                await gateway.stop()
            privacy.close()
            runtime.close()

    app = MlgateApp(
        title="mlgate",
        version=__version__,
        summary="Govern, serve and recover ML models in production.",
        lifespan=lifespan,
        openapi_url="/openapi.json" if settings.api_docs else None,
        docs_url="/docs" if settings.api_docs else None,
        redoc_url="/redoc" if settings.api_docs else None,
    )
    app.state.runtime = runtime
    app.state.gateway = gateway
    app.state.scheduler = scheduler
    app.state.privacy = privacy
    install_error_handlers(app)
    app.include_router(health_router)
    if gateway is not None:  # /metrics; the client endpoints are served in front (frontdoor)
        app.include_router(gateway_client_router)
    if settings.role in ("all", "control"):
        for router in (keys_router, audit_router, registry_router):
            app.include_router(router)
        app.include_router(approvals_router)
        app.include_router(cards_router)
        app.include_router(incidents_router)
        app.include_router(readiness_router)
        app.include_router(backup_router)
        app.include_router(routes_router)
        app.include_router(privacy_router)
        app.include_router(secrets_router)
        app.include_router(scanning_router)
        app.include_router(drift_router)
        app.mount("/ui", create_web_app(runtime))
        app.add_route("/", _to_web_ui, include_in_schema=False)

    def limit_for(path: str) -> int:
        if path.startswith("/api/v1/models/") and path.endswith("/versions"):
            return settings.max_upload_bytes
        return API_BODY_LIMIT

    app.add_middleware(BodySizeLimit, limit_for=limit_for)
    app.add_middleware(RequestIdMiddleware)
    if gateway is not None:
        app.front_door = ClientEndpoints(
            gateway, default_body_limit=API_BODY_LIMIT, access=access_log(settings)
        )
    return app


def _to_web_ui(request: Request) -> Response:
    return RedirectResponse("/ui/", status_code=303)


class MlgateApp(FastAPI):
    """FastAPI with the gateway's client endpoints served before its middleware stack.

    Those two endpoints are the hot path; ``frontdoor`` says why they skip FastAPI.
    """

    front_door: ClientEndpoints | None = None

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            spec = super().openapi()  # built once and kept in self.openapi_schema
            scopes = route_scopes(self.routes)
            if self.front_door is not None:
                document_client_endpoints(spec)
                scopes |= CLIENT_ENDPOINTS
            document_security(spec, scopes)
            document_problems(spec)
        return self.openapi_schema  # type: ignore[return-value]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        front = self.front_door
        if (
            front is not None
            and scope["type"] == "http"
            and await front.handle(scope, receive, send)
        ):
            return
        await super().__call__(scope, receive, send)
