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
    extra = getattr(request.app.state, "readiness_checks", [])
    for name, probe in extra:
        checks[name] = await probe()
    ready = checks.get("database") == "ok" and checks.get("migrations") == "current"
    ready = ready and all(v in ("ok", "current") for k, v in checks.items())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )
