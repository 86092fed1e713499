"""The scope each CLI command needs when it acts as a key's owner, as its API route does.

Without ``MLGATE_API_KEY`` (or ``--api-key``) the CLI acts as the local operator, who holds
every scope. With a key it acts as the key's owner and each command needs the scope its API
route needs: :func:`enforce` wraps each command as the root group builds it (cli.main), and a
test checks that every command is listed here. ``None``: the command reads and writes only local
files.
"""

from __future__ import annotations

from typing import Any

import typer

from mlgate.auth.schemas import Scope
from mlgate.errors import Forbidden

__all__ = ["COMMAND_SCOPES", "commands", "enforce"]

_A = Scope.ADMIN.value
_REG_R, _REG_W = Scope.REGISTRY_READ.value, Scope.REGISTRY_WRITE.value
_ROUTES_R, _ROUTES_W = Scope.ROUTES_READ.value, Scope.ROUTES_WRITE.value
_INC_R, _INC_W = Scope.INCIDENTS_READ.value, Scope.INCIDENTS_WRITE.value
_READY_R, _READY_W = Scope.READINESS_READ.value, Scope.READINESS_WRITE.value
_REQ, _REVIEW = Scope.APPROVALS_REQUEST.value, Scope.APPROVALS_REVIEW.value
_PRIVACY, _BACKUP, _SCAN = (
    Scope.PRIVACY_ADMIN.value,
    Scope.BACKUP_ADMIN.value,
    Scope.SCAN_WRITE.value,
)
_AUDIT, _DEPLOY = Scope.AUDIT_READ.value, Scope.DEPLOY.value

_REVIEWS = (_REQ, _REVIEW)  # reading reviews: either will do, as in the API

COMMAND_SCOPES: dict[str, str | tuple[str, ...] | None] = {
    # the operator's own: the store, the server, the configuration, keys and webhooks
    "init": _A,
    "serve": _A,
    "demo": _A,
    "config show": _A,
    "db upgrade": _A,
    "db current": _A,
    "keys create": _A,
    "keys list": _A,
    "keys revoke": _A,
    "keys rotate": _A,
    "webhooks create": _A,
    "webhooks list": _A,
    "webhooks deactivate": _A,
    "webhooks deliveries": _A,
    "webhooks retry": _A,
    "webhooks deliver": _A,
    "review policy set": _A,
    "aliases protect": _A,
    # registry, cards, drift references
    "models create": _REG_W,
    "models list": _REG_R,
    "models show": _REG_R,
    "versions register": _REG_W,
    "versions show": _REG_R,
    "versions list": _REG_R,
    "cards set": _REG_W,
    "cards import": _REG_W,
    "cards show": _REG_R,
    "cards render": _REG_R,
    "cards lint": _REG_R,
    "cards diff": _REG_R,
    "cards export": _REG_R,
    "drift reference": _REG_W,
    "drift show": _REG_R,
    "drift report": _ROUTES_R,
    "aliases list": _REG_R,
    "aliases history": _REG_R,
    "verify": _REG_R,
    # reviews and deployment
    "review request": _REQ,
    "review resubmit": _REQ,
    "review list": _REVIEWS,
    "review show": _REVIEWS,
    "review checks": _REVIEWS,
    "review policy show": _REVIEWS,
    "review queue": _REVIEW,
    "review approve": _REVIEW,
    "review reject": _REVIEW,
    "review request-changes": _REVIEW,
    "deploy": _DEPLOY,
    "rollback": _DEPLOY,
    # security audit
    "scan file": None,
    "scan version": _SCAN,
    "scan deps": _SCAN,
    "scan waive": _SCAN,
    "sign": _SCAN,
    "audit-model": _SCAN,
    # routes
    "routes create": _ROUTES_W,
    "routes set-fallbacks": _ROUTES_W,
    "routes set-canary": _ROUTES_W,
    "routes delete": _ROUTES_W,
    "routes list": _ROUTES_R,
    "routes show": _ROUTES_R,
    "routes traffic": _ROUTES_R,
    # readiness
    "assess": _READY_W,
    "attest": _READY_W,
    "maturity": _READY_R,
    "debt add": _READY_W,
    "debt close": _READY_W,
    "debt from-assessment": _READY_W,
    "debt list": _READY_R,
    # incidents (postmortem --set also needs incidents:write: checked by the command)
    "incidents open": _INC_W,
    "incidents update": _INC_W,
    "incidents handover": _INC_W,
    "incidents task": _INC_W,
    "incidents done": _INC_W,
    "incidents note": _INC_W,
    "incidents close": _INC_W,
    "incidents runbook add": _INC_W,
    "incidents list": _INC_R,
    "incidents show": _INC_R,
    "incidents postmortem": _INC_R,
    "incidents runbook list": _INC_R,
    # privacy, secrets, audit, backups
    "secrets set": _PRIVACY,
    "secrets list": _PRIVACY,
    "secrets delete": _PRIVACY,
    "secrets rotate-master": _PRIVACY,
    "privacy purge": _PRIVACY,
    "privacy export": _PRIVACY,
    "privacy erase": _PRIVACY,
    "privacy report": _PRIVACY,
    "privacy purpose": _PRIVACY,
    "privacy hold add": _PRIVACY,
    "privacy hold remove": _PRIVACY,
    "privacy hold list": _PRIVACY,
    "pii scan": None,
    "pii redact": None,
    "audit verify": _AUDIT,
    "audit export": _AUDIT,
    "backup create": _BACKUP,
    "backup verify": _BACKUP,
    "backup restore": _BACKUP,
    "backup list": _BACKUP,
    "backup prune": _BACKUP,
    "backup drill": _BACKUP,
    "backup drills": _BACKUP,
    "backup keygen": _BACKUP,
}


def commands(command: Any, path: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every leaf command under ``command``, which sits at ``path``, by its path ("keys create").

    Groups are asked as click asks them (``list_commands``, ``get_command``), so the root's
    sub-commands are built, and imported, on the way.
    """
    if not hasattr(command, "list_commands"):
        return {" ".join(path): command}
    ctx = typer.Context(command)
    found: dict[str, Any] = {}
    for name in command.list_commands(ctx):
        found |= commands(command.get_command(ctx, name), (*path, name))
    return found


def enforce(command: Any, path: tuple[str, ...] = ()) -> None:
    """Make every command under ``command`` (at ``path``) check its scope before it runs.

    KeyError: a command is not listed in COMMAND_SCOPES (it cannot run unchecked).
    """
    for name, leaf in commands(command, path).items():
        scope = COMMAND_SCOPES[name]
        if scope is not None:
            leaf.invoke = _checked(leaf.invoke, name, scope)


def _checked(invoke: Any, path: str, scope: str | tuple[str, ...]) -> Any:
    wanted = (scope,) if isinstance(scope, str) else scope

    def checked(ctx: Any) -> Any:
        cli = ctx.find_root().obj
        if cli is not None and cli.settings.api_key is not None:
            principal = cli.principal()
            if not any(principal.has(one) for one in wanted):
                needed = " or ".join(f"'{one}'" for one in wanted)
                raise Forbidden(
                    f"`mlgate {path}` needs a key with scope {needed}; this key has "
                    f"{', '.join(sorted(principal.scopes)) or 'none'}"
                )
        return invoke(ctx)

    return checked
