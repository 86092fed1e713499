"""``mlgate keys create|list|revoke|rotate``: API keys for people and applications."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from mlgate.auth import service
from mlgate.auth.schemas import MAX_GRACE_SECONDS, ApiKeyCreate, Scope
from mlgate.cli.context import console, state
from mlgate.cli.output import print_json, print_table
from mlgate.clock import ensure_utc
from mlgate.errors import Invalid

app = typer.Typer(help="Create, list, revoke and rotate API keys.", no_args_is_help=True)
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
KeyId = Annotated[str, typer.Argument(help="Key id, as keys list shows it (not the key).")]


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A label, e.g. 'ci-deployer'.")],
    owner: Annotated[str, typer.Option(help="The principal the key acts as.")],
    scope: Annotated[list[str], typer.Option("--scope", "-s", help="Repeat for each scope.")],
    expires: Annotated[datetime | None, typer.Option(help="Expiry (ISO 8601, UTC).")] = None,
    route: Annotated[
        list[str] | None, typer.Option("--route", help="Restrict gateway calls to routes.")
    ] = None,
    group: Annotated[list[str] | None, typer.Option("--group", help="Reviewer groups.")] = None,
) -> None:
    """Issue a key; its value is printed once and never stored."""
    cli = state(ctx)
    known = {s.value for s in Scope}
    unknown = [s for s in scope if s not in known]
    if unknown:
        raise Invalid.field(
            "scope", f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    key_in = ApiKeyCreate(
        name=name,
        owner=owner,
        scopes=[Scope(s) for s in scope],
        expires_at=expires,
        allowed_routes=route or None,
        groups=group or [],
    )
    actor = cli.principal()
    with cli.session() as session:
        issued = service.create(session, secret=cli.runtime.secret, key_in=key_in, actor=actor)
    console.print(f"key {issued.id} for {issued.owner} ({', '.join(issued.scopes)})", markup=False)
    console.print("store it now, it is not shown again:")
    typer.echo(issued.key.get_secret_value())


@app.command("list")
def list_keys(
    ctx: typer.Context,
    owner: Annotated[str | None, typer.Option(help="Only keys acting as this principal.")] = None,
    as_json: AsJson = False,
) -> None:
    """List keys (never their values)."""
    cli = state(ctx)
    with cli.session() as session:
        keys = service.get_all(session, owner=owner)
    if as_json:
        print_json(keys)
        return
    rows = [
        (
            k.id,
            k.name,
            k.owner,
            f"mlg_{k.lookup}…",
            " ".join(k.scopes),
            k.expires_at,
            k.revoked_at,
            k.last_used_at,
        )
        for k in keys
    ]
    print_table(
        "API keys",
        ["id", "name", "owner", "key", "scopes", "expires", "revoked", "last used"],
        rows,
    )


@app.command("revoke")
def revoke(ctx: typer.Context, key_id: KeyId) -> None:
    """Revoke a key at once."""
    cli = state(ctx)
    actor = cli.principal()
    with cli.session() as session:
        key = service.revoke(session, key_id=key_id, actor=actor)
    console.print(f"revoked {key.id} ({key.name})", markup=False)


@app.command("rotate")
def rotate(
    ctx: typer.Context,
    key_id: KeyId,
    grace: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=MAX_GRACE_SECONDS,
            help="Seconds the old key keeps working (default: settings).",
        ),
    ] = None,
) -> None:
    """Issue a successor key; the old one works for a grace period, then stops."""
    cli = state(ctx)
    actor = cli.principal()
    grace_seconds = cli.runtime.settings.key_grace_seconds if grace is None else grace
    with cli.session() as session:
        issued = service.rotate(
            session,
            secret=cli.runtime.secret,
            key_id=key_id,
            grace_seconds=grace_seconds,
            actor=actor,
        )
        old = service.get(session, key_id=key_id)
    # The old key stops at the earlier of its own expiry and the grace end, not always the latter.
    assert old.expires_at is not None  # rotation always sets it
    stops = ensure_utc(old.expires_at)
    seconds = int((stops - ensure_utc(issued.created_at)).total_seconds())
    note = "" if seconds >= grace_seconds else " (its own expiry, before the grace period ends)"
    console.print(
        f"new key {issued.id}; the old key stops working in {seconds} s, at "
        f"{stops.isoformat(timespec='seconds')}{note}",
        markup=False,
        soft_wrap=True,  # one line: the moment is copied from here
    )
    typer.echo(issued.key.get_secret_value())
