"""``mlgate audit verify|export``: prove who did what, and that nobody rewrote it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from mlgate.audit import service
from mlgate.cli.context import console, state
from mlgate.cli.output import print_json
from mlgate.errors import Conflict
from mlgate.ids import parse_number

_HASH = re.compile("[0-9a-f]{64}")
app = typer.Typer(help="Verify and export the hash-chained audit log.", no_args_is_help=True)


@app.command("verify")
def verify(
    ctx: typer.Context,
    head: Annotated[
        str | None,
        typer.Option(
            "--head",
            metavar="SEQ:HASH",
            help="A head printed by an earlier verify and kept outside the store: that entry "
            "must still be in the chain (shows entries cut off the end).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Walk the chain; exit 1 naming the first broken entry."""
    known = _parse_head(head) if head is not None else None
    with state(ctx).read_only() as session:
        result = service.verify(session, known_head=known)
    if as_json:
        print_json(result)
    if not result.ok:
        raise Conflict(f"audit chain broken at entry {result.first_broken_seq}: {result.reason}")
    if not as_json:
        console.print(
            f"audit chain intact: {result.entries} entries, head {result.head_seq}:"
            f"{result.head_hash} (keep it elsewhere; check later with --head)",
            soft_wrap=True,  # the head is copied from here: never broken across lines
        )


def _parse_head(value: str) -> tuple[int, str]:
    seq, _, digest = value.partition(":")
    number = parse_number(seq)
    if not number or not _HASH.fullmatch(digest):  # entries count from 1
        raise typer.BadParameter("give SEQ:HASH as verify printed it", param_hint="--head")
    return number, digest


@app.command("export")
def export(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File (default stdout).")] = None,
) -> None:
    """Write every entry as JSON Lines."""
    with state(ctx).read_only() as session:
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
