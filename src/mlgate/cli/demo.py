"""``mlgate demo``: a working, reviewed, served model in one command."""

from __future__ import annotations

import typer

from mlgate.cli.context import console, state
from mlgate.demo import seed_demo
from mlgate.store import migrate


def demo(ctx: typer.Context) -> None:
    """Train, register, review, deploy and route a small iris model; print how to call it."""
    cli = state(ctx)
    runtime = cli.runtime
    migrate.upgrade(runtime.db.engine)
    with console.status("training, registering and reviewing the demo model…"):
        result = seed_demo(runtime, actor=cli.principal())
    settings = runtime.settings
    base = f"http://{settings.host}:{settings.port}"
    if result.created:
        console.print(f"demo ready: route '{result.route}' serves iris-demo@2 (fallback @1)")
        console.print(
            f"reviewer and application keys: {result.keys_file} (mode 0600)", markup=False
        )
    else:
        console.print(f"demo already seeded; keys are in {result.keys_file}", markup=False)
    console.print(f"admin key: {runtime.admin_key_file}", markup=False)
    console.print("with `mlgate serve` running, call the model:")
    key = f"$(cat {result.app_key_file})"
    typer.echo(
        f"curl -s -X POST {base}/v1/routes/{result.route}/predict "
        f"-H \"Authorization: Bearer {key}\" -H 'content-type: application/json' "
        "-d '{\"inputs\": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}'"
    )
    console.print(
        f"and see its review, card and route at {base}/ui/ (sign in with the admin key)",
        markup=False,
    )
    console.print(
        f"after some calls, compare its inputs with its training data: "
        f"mlgate drift report {result.route} --html drift.html",
        markup=False,
    )
