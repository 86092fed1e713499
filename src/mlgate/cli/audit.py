"""``mlgate audit verify|export``: prove who did what, and that nobody rewrote it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlgate.audit import service
from mlgate.cli.context import console, state
from mlgate.cli.output import print_json
from mlgate.errors import Conflict

app = typer.Typer(help="Verify and export the hash-chained audit log.", no_args_is_help=True)


@app.command("verify")
def verify(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Walk the chain; exit 1 naming the first broken entry."""
    with state(ctx).session() as session:
        result = service.verify(session)
    if as_json:
        print_json(result)
    if not result.ok:
        raise Conflict(f"audit chain broken at entry {result.first_broken_seq}: {result.reason}")
    if not as_json:
        console.print(
            f"audit chain intact: {result.entries} entries, head {result.head_hash[:16]}…"
        )


@app.command("export")
def export(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File (default stdout).")] = None,
) -> None:
    """Write every entry as JSON Lines."""
    with state(ctx).session() as session:
        if out is None:
            for entry in service.iter_entries(session):
                typer.echo(entry.model_dump_json())
            return
        if out.exists():
            raise Conflict(f"{out} exists; choose another file")
        with out.open("x") as handle:
            count = 0
            for entry in service.iter_entries(session):
                handle.write(entry.model_dump_json() + "\n")
                count += 1
    console.print(f"wrote {count} entries to {out}", markup=False)
