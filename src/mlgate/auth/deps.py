"""FastAPI dependencies so routes read like prose: SessionDep, PrincipalDep, require_scope."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from mlgate.auth import service
from mlgate.auth.keys import presented
from mlgate.auth.schemas import Principal
from mlgate.errors import Forbidden
from mlgate.runtime import Runtime

__all__ = ["PrincipalDep", "RuntimeDep", "SessionDep", "presented_key", "require_scope"]


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    # scope="function" (below) runs the commit before the response is sent, so a client never
    # sees success for a transaction that then failed to commit.
    with runtime.db.unit_of_work() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def presented_key(request: Request) -> str | None:
    """The key from ``Authorization: Bearer …`` or ``X-API-Key``."""
    return presented(request.headers.get("authorization"), request.headers.get("x-api-key"))


def get_principal(request: Request, runtime: RuntimeDep) -> Principal:
    # Its own short transaction: authentication (and its last_used_at touch) must not hold the
    # request's transaction open, nor roll back with it.
    with runtime.db.unit_of_work() as session:
        return service.authenticate(
            session, secret=runtime.secret, presented=presented_key(request)
        )


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_scope(scope: str) -> Callable[[Principal], Principal]:
    """A dependency that returns the principal if it holds ``scope``, else 403."""

    def check(principal: PrincipalDep) -> Principal:
        if not principal.has(scope):
            raise Forbidden(
                f"this action needs the '{scope}' scope; ask an admin for a key with it"
            )
        return principal

    check.required_scope = scope  # type: ignore[attr-defined]  # read by the route contract test
    return check
