"""``mlgate deploy``, ``mlgate rollback`` and ``mlgate aliases``: the deployment gate."""

from __future__ import annotations

from typing import Annotated

import typer

from mlgate.approvals import deployments
from mlgate.approvals.schemas import AliasRead
from mlgate.cli.args import parse_ref
from mlgate.cli.context import console, state
from mlgate.cli.output import print_json, print_table
from mlgate.errors import Forbidden

aliases_app = typer.Typer(help="Show aliases, their history and protection.", no_args_is_help=True)
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Alias = Annotated[str, typer.Option("--alias", "-a", help="staging, production or your own.")]
Comment = Annotated[str, typer.Option("--comment", "-m", help="Why; kept in the history.")]
Model = Annotated[str, typer.Argument(help="Model name.")]


def _moved(read: AliasRead, as_json: bool, verb: str) -> None:
    if as_json:
        print_json(read)
        return
    console.print(f"{verb} {read.model}:{read.alias} -> v{read.version}", highlight=False)


def deploy(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="MODEL@N; the version must be approved.")],
    alias: Alias = "production",
    comment: Comment = "",
    as_json: AsJson = False,
) -> None:
    """Point an alias of MODEL at approved version N."""
    cli = state(ctx)
    name, number = parse_ref(ref)
    actor = cli.principal()
    if not actor.has("deploy"):
        raise Forbidden("deploying needs the 'deploy' scope")
    with cli.session() as session:
        read = deployments.move_alias(
            session, model_name=name, alias=alias, version=number, actor=actor, comment=comment
        )
    _moved(read, as_json, "deployed")


def rollback(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="The model whose alias moves back.")],
    alias: Alias = "production",
    comment: Comment = "",
    as_json: AsJson = False,
) -> None:
    """Move an alias back to the previous approved version that held it."""
    cli = state(ctx)
    actor = cli.principal()
    if not actor.has("deploy"):
        raise Forbidden("rolling back needs the 'deploy' scope")
    with cli.session() as session:
        read = deployments.rollback(
            session, model_name=model, alias=alias, actor=actor, comment=comment
        )
    _moved(read, as_json, "rolled back")


@aliases_app.command("list")
def list_aliases(ctx: typer.Context, model: Model, as_json: AsJson = False) -> None:
    """The aliases of MODEL and the versions they point at."""
    with state(ctx).session() as session:
        items = deployments.list_aliases(session, model_name=model)
    if as_json:
        print_json(items)
        return
    print_table(
        f"{model} aliases",
        ["alias", "version", "protected", "by", "at"],
        [(a.alias, a.version, a.protected, a.updated_by, a.updated_at) for a in items],
    )


@aliases_app.command("history")
def history(
    ctx: typer.Context,
    model: Model,
    alias: Annotated[
        str | None, typer.Option("--alias", "-a", help="Only this alias (default: all).")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Who moved which alias of MODEL, when, from and to which version."""
    with state(ctx).session() as session:
        items = deployments.alias_history(session, model_name=model, alias=alias)
    if as_json:
        print_json(items)
        return
    print_table(
        f"{model} alias history",
        ["at", "alias", "action", "from", "to", "by", "comment"],
        [
            (h.at, h.alias, h.action, h.from_version, h.to_version, h.actor, h.comment)
            for h in items
        ],
    )


@aliases_app.command("protect")
def protect(
    ctx: typer.Context,
    model: Model,
    alias: Alias = "production",
    off: Annotated[bool, typer.Option("--off", help="Remove the protection.")] = False,
    as_json: AsJson = False,
) -> None:
    """Protect an alias so only admins may move it (admin only)."""
    cli = state(ctx)
    actor = cli.principal()
    with cli.session() as session:
        read = deployments.set_protection(
            session, model_name=model, alias=alias, protected=not off, actor=actor
        )
    if as_json:
        print_json(read)
        return
    points = f"v{read.version}" if read.version is not None else "no version yet"
    console.print(
        f"{read.model}:{read.alias} ({points}) is"
        f" {'protected' if read.protected else 'not protected'}",
        markup=False,
    )
