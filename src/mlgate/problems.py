"""Turn every error into an RFC 9457 problem+json response; users never see a traceback."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlgate.errors import (
    FieldError,
    Invalid,
    MlgateError,
    RateLimited,
    Unavailable,
    message_of,
    problem_type,
)
from mlgate.ids import new_id

__all__ = [
    "PROBLEM_RESPONSE",
    "Problem",
    "RequestIdMiddleware",
    "document_problems",
    "install_error_handlers",
    "method_routes",
    "problem_parts",
    "problem_response",
    "request_id",
    "request_id_for",
]

logger = logging.getLogger(__name__)
request_id: ContextVar[str] = ContextVar("request_id", default="-")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
PROBLEM_JSON = "application/problem+json"


class ProblemField(BaseModel):
    field: str = Field(description="Where: body.inputs[0], query.limit, path.version, …")
    message: str


class Problem(BaseModel):
    """An error as RFC 9457 problem details, with the request's id (also in X-Request-Id)."""

    type: str = Field(description="urn:mlgate:problem:<slug>, stable per kind of error")
    title: str
    status: int
    detail: str = Field(description="What went wrong and what to do next")
    instance: str | None = Field(default=None, description="The path that was called")
    request_id: str
    errors: list[ProblemField] | None = Field(
        default=None, description="Each wrong field (422 only)"
    )


PROBLEM_RESPONSE = {
    "description": "A problem (RFC 9457); `status` says which",
    "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
}
_STATUSES = {
    "401": "No key, or a key that is unknown, revoked or expired",
    "403": "The key lacks the scope this operation needs",
    "422": "The request is invalid; `errors` names each wrong field",
}


def document_problems(spec: dict[str, Any]) -> None:
    """Say in an OpenAPI document that every operation answers errors as problem+json.

    FastAPI documents only its own 422 (as application/json, a shape mlgate never sends). Every
    operation gets the Problem schema for 422 and, where it needs a key, 401 and 403, and a
    ``default`` response for any other error status (400, 404, 409, 413, 429, 500, 503, …).
    """
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(schema.pop("$defs", {}))
    schemas["Problem"] = schema
    for item in spec.get("paths", {}).values():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            statuses = ["422"]
            if operation.get("security"):
                statuses += ["401", "403"]
            for status in statuses:  # FastAPI's own 422 is replaced, a route's own kept
                if PROBLEM_JSON not in responses.get(status, {}).get("content", {}):
                    responses[status] = {**PROBLEM_RESPONSE, "description": _STATUSES[status]}
            responses.setdefault("default", PROBLEM_RESPONSE)
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)


def problem_parts(
    error: MlgateError, *, instance: str | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """The problem document of ``error`` and the headers that go with it (Retry-After)."""
    body = error.problem()
    if instance:
        body["instance"] = instance
    body["request_id"] = request_id.get()
    headers: dict[str, str] = {}
    if isinstance(error, RateLimited | Unavailable) and error.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(error.retry_after)))
    return body, headers


def problem_response(error: MlgateError, *, instance: str | None = None) -> JSONResponse:
    body, headers = problem_parts(error, instance=instance)
    return JSONResponse(body, status_code=error.status, headers=headers, media_type=PROBLEM_JSON)


def request_id_for(incoming: str) -> str:
    """The caller's X-Request-Id when it is safe to echo and log, else a new ULID."""
    return incoming if _SAFE_REQUEST_ID.fullmatch(incoming) else new_id()


def _field_path(location: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(part) for part in location]
    return ".".join(parts) if parts else "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(MlgateError)
    async def _mlgate(request: Request, error: MlgateError) -> JSONResponse:
        return problem_response(error, instance=request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            FieldError(_field_path(item.get("loc", ())), message_of(item))
            for item in error.errors()
        ]
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors) or "the request is invalid"
        return problem_response(Invalid(detail, errors=errors), instance=request.url.path)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, error: HTTPException) -> JSONResponse:
        body = {
            "type": problem_type("http-" + str(error.status_code)),
            "title": str(error.detail) if error.status_code < 500 else "Error",
            "status": error.status_code,
            "detail": str(error.detail),
            "instance": request.url.path,
            "request_id": request_id.get(),
        }
        headers = dict(error.headers or {})
        if error.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return JSONResponse(
            body, status_code=error.status_code, headers=headers, media_type=PROBLEM_JSON
        )


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path.

    Starlette's 405 names only the methods of the first route that matched the path, so
    ``DELETE /api/v1/models`` said ``Allow: POST`` although GET is served there too.
    """
    methods: set[str] = set()
    for route in method_routes(request.app.router.routes):
        if route.matches(request.scope)[0] != Match.NONE:
            methods.update(route.methods or ())
    return sorted(methods)


def method_routes(routes: Iterable[Any]) -> Iterator[Route]:
    """The routes that serve methods, those of (lazily) included routers too."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from method_routes(included.routes)
        elif isinstance(route, Route):
            yield route


def internal_error_response(path: str) -> JSONResponse:
    internal = MlgateError(
        f"internal error; quote request id {request_id.get()} when you report it"
    )
    return problem_response(internal, instance=path)


class RequestIdMiddleware:
    """Gives each request an id (a caller's safe X-Request-Id, or a new ULID) and returns it.

    It is also the last line for unexpected errors: it logs them with the request id and answers
    with a 500 problem that names the id and nothing of the error itself.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next(
            (v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"x-request-id"), ""
        )
        rid = request_id_for(incoming)
        token = request_id.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                message["headers"] = headers
            await send(message)

        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send_with_id(message)

        try:
            await self.app(scope, receive, send_tracking)
        except ClientDisconnect:  # the caller went away mid-request: nobody to answer
            logger.debug("client disconnected", extra={"path": scope["path"]})
        except Exception as error:
            logger.error("internal error", exc_info=error, extra={"path": scope["path"]})
            if started:  # nothing more can be said to this client; the log has it
                raise
            await internal_error_response(scope["path"])(scope, receive, send_with_id)
        finally:
            request_id.reset(token)
