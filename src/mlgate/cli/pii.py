"""``mlgate pii scan|redact FILE``: find or redact PII in text or JSON Lines, streaming."""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TransferSpeedColumn

from mlgate.cli.context import console, err_console
from mlgate.cli.output import print_table
from mlgate.errors import Conflict
from mlgate.privacy.filescan import OPERATORS, redact_lines, scan_lines

app = typer.Typer(help="Scan files for PII or write redacted copies.", no_args_is_help=True)
FileArg = Annotated[Path, typer.Argument(help="Text or .jsonl file.", exists=True, dir_okay=False)]
Jsonl = Annotated[
    bool | None, typer.Option("--jsonl/--text", help="Format (default: by extension).")
]


def _is_jsonl(path: Path, jsonl: bool | None) -> bool:
    return jsonl if jsonl is not None else path.suffix.lower() in (".jsonl", ".ndjson")


def _lines(handle: BinaryIO, progress: Progress, task: TaskID) -> Iterator[str]:
    for raw in handle:
        progress.advance(task, len(raw))
        yield raw.decode("utf-8", errors="replace")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TransferSpeedColumn(),
        console=err_console,
        transient=True,
    )


@app.command("scan")
def scan(
    file: FileArg,
    jsonl: Jsonl = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Count PII by type and say where it is (line, JSON path, offsets), never what it is."""
    counts: Counter[str] = Counter()
    findings = []
    with file.open("rb") as handle, _progress() as progress:
        task = progress.add_task(f"scanning {escape(file.name)}", total=file.stat().st_size)
        for finding in scan_lines(_lines(handle, progress, task), jsonl=_is_jsonl(file, jsonl)):
            counts[finding.entity_type] += 1
            if as_json:
                findings.append(finding.to_dict())
    if as_json:
        typer.echo(json.dumps({"file": str(file), "counts": dict(counts), "findings": findings}))
        return
    print_table("PII found", ["entity type", "count"], sorted(counts.items()))
    console.print(f"{sum(counts.values())} finding(s) in {file}", markup=False)


@app.command("redact")
def redact(
    file: FileArg,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", help="Write a new file, readable by you only (default: stdout)."
        ),
    ] = None,
    operator: Annotated[
        str, typer.Option(help="replace (<TYPE>), mask (keep last 4) or remove.")
    ] = "replace",
    jsonl: Jsonl = None,
) -> None:
    """Write a copy with PII replaced; never overwrites an existing file. The copy is created
    readable by its owner only (0600): detection can miss PII, so check it before sharing."""
    chosen = OPERATORS.get(operator)
    if chosen is None:
        raise typer.BadParameter(f"choose one of {', '.join(OPERATORS)}", param_hint="--operator")
    if output is not None and os.path.lexists(output):  # a dangling link too: a write follows it
        raise Conflict(f"{output} exists; choose another file")
    with file.open("rb") as handle, _progress() as progress:
        task = progress.add_task(f"redacting {escape(file.name)}", total=file.stat().st_size)
        lines = redact_lines(
            _lines(handle, progress, task), jsonl=_is_jsonl(file, jsonl), operator=chosen
        )
        if output is None:
            for line in lines:
                typer.echo(line)
            return
        _write_new(output, lines)
    console.print(f"redacted copy written to {output}", markup=False)


def _write_new(output: Path, lines: Iterator[str]) -> None:
    """Write ``lines`` to ``output``, which must not exist, all or nothing.

    The copy is written to a new temporary file of a random name beside it (never to a path
    someone may have put a link at) and linked to ``output`` when complete: the link fails if
    ``output`` appeared meanwhile, so nothing is ever written over, and a failure leaves no
    partial copy.
    """
    fd, partial = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as sink:
            for line in lines:
                sink.write(line + "\n")
        try:
            os.link(partial, output)
        except FileExistsError as error:
            raise Conflict(f"{output} exists; choose another file") from error
    finally:
        os.unlink(partial)
