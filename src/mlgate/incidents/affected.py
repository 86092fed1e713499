"""What a person names as affected by an incident must exist: a typo'd route would match no
runbook and tie the incident to nothing."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from mlgate.errors import Invalid
from mlgate.gateway.models import Route

__all__ = ["require_routes"]


def require_routes(session: Session, names: Iterable[str], *, listed: Iterable[str] = ()) -> None:
    """Refuse a route name no route carries, unless the incident already ``listed`` it: a route
    deleted while the incident runs stays on the incident's record.

    Automatic incidents skip this check: an alert is never refused, and the route it names
    existed when the alert fired.
    """
    wanted = set(names) - set(listed)
    if not wanted:
        return
    known = set(session.scalars(select(Route.name).where(Route.name.in_(wanted))))
    unknown = sorted(wanted - known)
    if unknown:
        raise Invalid.field(
            "affected_routes",
            f"no route named {', '.join(repr(name) for name in unknown)}; list the routes with"
            " `mlgate routes list`",
        )
