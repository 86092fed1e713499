"""FastAPI dependencies so routes read like prose: SessionDep, PrincipalDep, require_scope."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.routing import APIRoute
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from mlgate.auth import service
from mlgate.auth.keys import presented
from mlgate.auth.schemas import Principal
from mlgate.errors import Forbidden, Invalid
from mlgate.ids import MAX_NUMBER
from mlgate.problems import method_routes
from mlgate.runtime import Runtime

__all__ = [
    "PrincipalDep",
    "ReadOnlySessionDep",
    "RuntimeDep",
    "SessionDep",
    "VersionNumber",
    "api_routes",
    "document_security",
    "nul_is_invalid",
    "presented_key",
    "require_scope",
    "required_scopes",
    "route_scopes",
]

# A version number in a path: 1 to MAX_NUMBER, so a larger one is a 422 naming it, not a
# number the store cannot hold.
VersionNumber = Annotated[int, Path(ge=1, le=MAX_NUMBER, description="A version number.")]


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


@contextmanager
def nul_is_invalid() -> Iterator[None]:
    """Text with a NUL character, which PostgreSQL can neither store nor compare, is a 422."""
    try:
        yield
    except DataError as error:
        # psycopg refuses NUL in a parameter; PostgreSQL refuses \u0000 in jsonb (22P05).
        if "NUL (0x00)" not in str(error.orig) and getattr(error.orig, "sqlstate", None) != "22P05":
            raise
        raise Invalid("the request holds a NUL character (\\u0000); remove it") from error


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    # scope="function" (below) runs the commit before the response is sent, so a client never
    # sees success for a transaction that then failed to commit.
    with nul_is_invalid(), runtime.db.unit_of_work() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_read_only_session(runtime: RuntimeDep) -> Iterator[Session]:
    # For routes that read much (the whole audit chain): no write lock held while they do.
    with nul_is_invalid(), runtime.db.read_only() as session:
        yield session


ReadOnlySessionDep = Annotated[Session, Depends(get_read_only_session, scope="function")]


def presented_key(request: Request) -> str | None:
    """The key from ``Authorization: Bearer …`` or ``X-API-Key``."""
    return presented(request.headers.get("authorization"), request.headers.get("x-api-key"))


def get_principal(request: Request, runtime: RuntimeDep) -> Principal:
    # Its own short transactions: authentication must not hold the request's transaction open,
    # nor roll back with it. The key is read without the write lock (SQLite's), so a read-only
    # route never waits for writers; the last-use touch, once a minute per key, writes apart.
    presented = presented_key(request)
    with runtime.db.read_only() as session:
        principal, stale = service.identify(session, secret=runtime.secret, presented=presented)
    if stale and principal.key_id is not None:
        with runtime.db.unit_of_work() as session:
            service.mark_used(session, key_ids=[principal.key_id])
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_scope(scope: str) -> Callable[[Principal], Principal]:
    """A dependency that returns the principal if it holds ``scope``, else 403."""

    def check(principal: PrincipalDep) -> Principal:
        if not principal.has(scope):
            raise Forbidden(
                f"this action needs the '{scope}' scope; ask an admin for a key with it"
            )
        return principal

    # Read by route_scopes (the OpenAPI document) and the route contract test.
    check.required_scope = scope  # type: ignore[attr-defined]
    return check


def required_scopes(dependant: Any) -> Iterator[str]:
    """The scopes a route's dependency tree asks for through :func:`require_scope`."""
    for dependency in dependant.dependencies:
        scope = getattr(dependency.call, "required_scope", None)
        if scope:
            yield scope
        yield from required_scopes(dependency)


def api_routes(routes: Iterable[Any]) -> Iterator[APIRoute]:
    """Every APIRoute of an app, those of lazily included routers too."""
    return (route for route in method_routes(routes) if isinstance(route, APIRoute))


def route_scopes(routes: Iterable[Any]) -> dict[tuple[str, str], str]:
    """(METHOD, path template) -> the scope its key needs, for every API route that needs one."""
    found: dict[tuple[str, str], str] = {}
    for route in api_routes(routes):
        scope = next(required_scopes(route.dependant), None)
        if scope is not None:
            for method in route.methods or ():
                found[(method, route.path_format)] = scope  # {name:path} as {name}
    return found


def document_security(spec: dict[str, Any], scopes: dict[tuple[str, str], str]) -> None:
    """Declare the API key in an OpenAPI document, and on each operation the scope it needs.

    The scope goes into the description and ``x-mlgate-scope``; ``/docs`` then offers its
    "Authorize" button for the key.
    """
    spec.setdefault("components", {})["securitySchemes"] = {
        "apiKey": {
            "type": "http",
            "scheme": "bearer",
            "description": "An mlgate API key (mlg_…), as `Authorization: Bearer <key>`; "
            "an `X-API-Key: <key>` header works too.",
        }
    }
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            scope = scopes.get((method.upper(), path))
            if scope is None:
                continue
            operation["security"] = [{"apiKey": []}]
            operation["x-mlgate-scope"] = scope
            needs = f"Needs a key with `{scope}`."
            described = operation.get("description")
            operation["description"] = f"{described}\n\n{needs}" if described else needs
