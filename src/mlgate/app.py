"""The FastAPI application factory: mounts each domain's router by role."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from mlgate import __version__
from mlgate.audit.routes import router as audit_router
from mlgate.auth.routes import router as keys_router
from mlgate.bodylimit import BodySizeLimit
from mlgate.config import Settings, get_settings
from mlgate.health import router as health_router
from mlgate.problems import RequestIdMiddleware, install_error_handlers
from mlgate.registry.routes import router as registry_router
from mlgate.runtime import Runtime

__all__ = ["create_app"]

logger = logging.getLogger(__name__)
API_BODY_LIMIT = 10 * 1024 * 1024


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or (runtime.settings if runtime else get_settings())
    runtime = runtime or Runtime.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        runtime.close()

    app = FastAPI(
        title="mlgate",
        version=__version__,
        summary="Govern, serve and recover ML models in production.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.readiness_checks = []
    install_error_handlers(app)
    app.include_router(health_router)
    if settings.role in ("all", "control"):
        for router in (keys_router, audit_router, registry_router):
            app.include_router(router)

    def limit_for(path: str) -> int:
        if path.startswith("/api/v1/models/") and path.endswith("/versions"):
            return settings.max_upload_bytes
        return API_BODY_LIMIT

    app.add_middleware(BodySizeLimit, limit_for=limit_for)
    app.add_middleware(RequestIdMiddleware)
    return app
