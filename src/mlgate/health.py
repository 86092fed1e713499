"""Liveness and readiness probes: the only routes that need no API key."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from mlgate.runtime import Runtime
from mlgate.store import migrate

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    checks: dict[str, str] = {}

    def check_store() -> None:
        try:
            runtime.db.ping()
            checks["database"] = "ok"
        except Exception:  # the probe reports, it never raises
            checks["database"] = "unreachable"
            return
        checks["migrations"] = "current" if migrate.is_current(runtime.db.engine) else "pending"

    await run_in_threadpool(check_store)
    body: dict[str, object] = {"checks": checks}
    gateway = getattr(request.app.state, "gateway", None)
    if gateway is not None:
        checks["route_table"] = "ok" if gateway.table.revision >= 0 else "not compiled"
        # Open breakers are reported, not failed on: a replica whose upstreams are sick is
        # still the best place to send traffic (it degrades and fails fast).
        body["breakers"] = await gateway.breaker_states()
        body["refused_targets"] = gateway.refused_targets()
        # Targets left out when the table compiled (no longer approved, a signature missing):
        # the route serves without them, so they are reported, not failed on.
        body["route_problems"] = {
            **{name: [problem] for name, problem in gateway.table.unreadable.items()},
            **{
                name: list(route.problems)
                for name, route in gateway.table.routes.items()
                if route.problems
            },
        }
    ready = all(value in ("ok", "current") for value in checks.values())
    body["status"] = "ready" if ready else "not ready"
    return JSONResponse(body, status_code=200 if ready else 503)
