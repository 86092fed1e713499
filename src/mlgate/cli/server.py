"""``mlgate init``, ``serve``, ``config show`` and ``db upgrade``: set up and run the service."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape

from mlgate.auth import service as auth
from mlgate.cli.context import console, state
from mlgate.errors import Unavailable
from mlgate.privacy.keys import ensure_local_keys
from mlgate.store import migrate

config_app = typer.Typer(help="Show the effective configuration.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the database schema.", no_args_is_help=True)


def init(ctx: typer.Context) -> None:
    """Create the data directory, migrate the store and issue the first admin key (idempotent)."""
    cli = state(ctx)
    runtime = cli.runtime
    runtime.settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    migrate.upgrade(runtime.db.engine)
    _ = runtime.secret  # created on first use, mode 0600
    ensure_local_keys(runtime.settings)  # master key file and the subject key store
    with cli.session() as session:
        issued = auth.bootstrap_admin(
            session, secret=runtime.secret, key_file=runtime.admin_key_file
        )
    console.print(f"store ready: {runtime.settings.masked()['database_url']}", markup=False)
    if issued is not None:
        console.print(
            f"admin key written to {runtime.admin_key_file} (mode 0600); keep it safe",
            markup=False,
        )
        console.print("new here? `mlgate demo` trains, reviews, deploys and routes a small model")
    else:
        console.print(f"admin key already issued (see {runtime.admin_key_file})", markup=False)


def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind.")] = None,
    role: Annotated[str | None, typer.Option(help="all, control or gateway.")] = None,
) -> None:
    """Run the HTTP server (control plane and gateway by default)."""
    from mlgate.app import create_app
    from mlgate.server import bind, run_server

    cli = state(ctx)
    cli.overrides.update({k: v for k, v in {"host": host, "port": port, "role": role}.items() if v})
    runtime = cli.runtime
    if not migrate.is_current(runtime.db.engine):
        raise Unavailable("the store is not migrated; run `mlgate init` or `mlgate db upgrade`")
    settings = runtime.settings
    sock = bind(settings.host, settings.port)
    console.print(
        f"mlgate listening on http://{settings.host}:{settings.port} (role {settings.role})",
        markup=False,
    )
    docs = "; API docs: /docs" if settings.api_docs else ""
    pages = "; web UI: /ui/" if settings.role in ("all", "control") else ""
    console.print(f"admin key: {runtime.admin_key_file}{docs}{pages}", markup=False)
    run_server(create_app(runtime=runtime), settings, sock=sock)


@config_app.command("show")
def config_show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the effective settings; secrets are masked."""
    shown = state(ctx).settings.masked()
    if as_json:
        console.print_json(json.dumps(shown))
        return
    for name, value in shown.items():
        console.print(f"[bold]{name}[/bold] = {escape(str(value))}")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply every pending migration."""
    engine = state(ctx).runtime.db.engine
    migrate.upgrade(engine)
    console.print(f"schema at {', '.join(sorted(migrate.current_revisions(engine)))}")


@db_app.command("current")
def db_current(ctx: typer.Context) -> None:
    """Show the schema revision and whether migrations are pending."""
    engine = state(ctx).runtime.db.engine
    current = ", ".join(sorted(migrate.current_revisions(engine))) or "empty"
    pending = "" if migrate.is_current(engine) else " (migrations pending)"
    console.print(f"schema at {current}{pending}")
