"""``mlgate backup …``: create, verify, restore, list, prune and drill backups."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from mlgate.backup import drills, jobs, service
from mlgate.backup.archive import Advance, read_manifest
from mlgate.backup.cipher import generate_key
from mlgate.backup.restore import check_key, restore_backup
from mlgate.backup.schemas import PruneResult
from mlgate.cli.context import console, state
from mlgate.cli.output import new_file, print_json, print_table
from mlgate.errors import Conflict, Invalid, Unavailable

app = typer.Typer(help="Back up, verify, restore and drill the store.", no_args_is_help=True)
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
KeyFile = Annotated[
    Path | None,
    typer.Option(
        "--key-file", help="Backup key (default: MLGATE_BACKUP_KEY_FILE).", show_default=False
    ),
]
BackupRef = Annotated[
    str, typer.Argument(help="Backup id (under --from), backup directory, or latest.")
]
From = Annotated[
    Path | None, typer.Option("--from", help="Backup directory (default: <data_dir>/backups).")
]


@contextmanager
def _progress(enabled: bool) -> Iterator[Advance | None]:
    if not enabled:
        yield None
        return
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("starting", total=None)

        def advance(phase: str, n: int, total: int) -> None:
            progress.update(task, description=phase, total=total, advance=n)

        yield advance


@app.command("create")
def create(
    ctx: typer.Context,
    to: Annotated[
        Path | None, typer.Option("--to", help="Directory to write the backup under.")
    ] = None,
    key_file: KeyFile = None,
    as_json: AsJson = False,
) -> None:
    """Take a consistent online backup of the store and its blobs (the server keeps running)."""
    cli = state(ctx)
    runtime = cli.runtime
    if to is not None and to.exists() and not to.is_dir():  # a typo, not a failed backup
        raise Invalid.field("to", f"{to} is a file; give the directory to write backups under")
    key = jobs.key_for(runtime, key_file)
    actor = cli.principal()
    with _progress(not as_json) as advance:
        backup = jobs.backup_job(runtime, actor=actor, root=to, key=key, progress=advance)
    if as_json:
        print_json(backup)
        return
    lock = " (encrypted)" if backup.encrypted else ""
    console.print(
        f"backup {backup.id}{lock}: {backup.files} files, {backup.size_bytes} bytes, audit head"
        f" {backup.audit_head.seq} -> {backup.path}",
        markup=False,
    )


@app.command("verify")
def verify(
    ctx: typer.Context,
    backup: BackupRef,
    source: From = None,
    key_file: KeyFile = None,
    as_json: AsJson = False,
) -> None:
    """Check every checksum, the database's integrity and the audit chain; name what is broken."""
    runtime = state(ctx).runtime
    path = service.resolve_backup(root=source or runtime.settings.backups_path, ref=backup)
    key = jobs.key_for(runtime, key_file)
    if key is not None:  # a wrong key is the caller's mistake, not damage to the backup
        check_key(read_manifest(path), key)
    report = service.verify_backup(path=path, key=key)
    if as_json:
        print_json(report)
    if not report.ok:
        raise Conflict(f"backup {report.backup_id} is damaged: " + "; ".join(report.problems))
    if not as_json:
        depth = "" if report.deep else " (checksums only: give --key-file to open it)"
        console.print(
            f"backup {report.backup_id} verified: {report.checked_files} files,"
            f" integrity {report.integrity or '-'},"
            f" {report.audit_entries or 0} audit entries{depth}",
            markup=False,
        )


@app.command("restore")
def restore(
    ctx: typer.Context,
    backup: BackupRef,
    target: Annotated[
        str | None, typer.Option(help="Store URL (default: the configured one).")
    ] = None,
    blob_dir: Annotated[
        Path | None, typer.Option(help="Blob directory (default: configured).")
    ] = None,
    source: From = None,
    key_file: KeyFile = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Move a non-empty target aside (renamed, never deleted)."),
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would happen.")] = False,
    as_json: AsJson = False,
) -> None:
    """Restore BACKUP into an empty store, then verify it against its manifest."""
    cli = state(ctx)
    settings = cli.settings
    path = service.resolve_backup(root=source or settings.backups_path, ref=backup)
    key = jobs.key_for(cli.runtime, key_file)
    actor = cli.principal()
    cli.runtime.db.dispose()  # the target may be this very store: hold no connection to it
    with _progress(not as_json and not dry_run) as advance:
        result = restore_backup(
            backup=path,
            target_url=target or settings.database_url,
            blob_dir=blob_dir or settings.blob_dir,
            key=key,
            actor=actor,
            force=force,
            dry_run=dry_run,
            progress=advance,
        )
    if as_json:
        print_json(result)
        return
    if dry_run:
        console.print(
            f"dry run: restoring {result.backup_id} into {result.target} would:", markup=False
        )
        for action in result.actions:
            console.print(f"  - {action}", markup=False)
        return
    for aside in result.moved_aside:
        console.print(f"moved aside: {aside}", markup=False)
    if result.schema_upgraded:
        console.print("upgraded the restored schema to this mlgate's", markup=False)
    console.print(
        f"restored {result.backup_id} into {result.target} and verified it"
        f" ({result.bytes_restored} bytes in {result.seconds:.1f} s)",
        markup=False,
    )


@app.command("list")
def list_backups(ctx: typer.Context, source: From = None, as_json: AsJson = False) -> None:
    """List backups, newest first."""
    root = source or state(ctx).settings.backups_path
    backups = service.list_backups(root=root)
    if as_json:
        print_json(backups)
        return
    print_table(
        f"backups in {root} ({len(backups)})",
        ["id", "created", "dialect", "bytes", "files", "encrypted", "audit head"],
        [
            (b.id, b.created_at, b.dialect, b.size_bytes, b.files, b.encrypted, b.audit_head.seq)
            for b in backups
        ],
    )


@app.command("prune")
def prune(
    ctx: typer.Context,
    source: From = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be deleted.")] = False,
    as_json: AsJson = False,
) -> None:
    """Delete backups outside the daily/weekly/monthly retention (MLGATE_BACKUP_KEEP_*), and
    what interrupted backups left behind."""
    cli = state(ctx)
    try:
        result = jobs.prune_job(cli.runtime, actor=cli.principal(), root=source, dry_run=dry_run)
    except service.PruneIncomplete as incomplete:  # say what went, then the error line
        _print_pruned(incomplete.result, as_json=as_json)
        raise
    _print_pruned(result, as_json=as_json)


def _print_pruned(result: PruneResult, *, as_json: bool) -> None:
    dry_run = result.dry_run
    if as_json:
        print_json(result)
        return
    verb = "would delete" if dry_run else "deleted"
    console.print(f"{verb} {len(result.delete)} backups, keeping {len(result.keep)}")
    for backup_id in result.delete:
        console.print(f"  - {backup_id}", markup=False)
    if result.leftovers:
        verb = "would remove" if dry_run else "removed"
        console.print(f"{verb} {len(result.leftovers)} leftover directories of interrupted backups")
        for name in result.leftovers:
            console.print(f"  - {name}", markup=False)
    if result.duplicates:
        console.print(
            f"left {len(result.duplicates)} backups found in more than one directory;"
            " keep one copy of each by hand:"
        )
        for backup_id in result.duplicates:
            console.print(f"  - {backup_id}", markup=False)


@app.command("drill")
def drill(
    ctx: typer.Context,
    backup: BackupRef = "latest",
    source: From = None,
    key_file: KeyFile = None,
    as_json: AsJson = False,
) -> None:
    """Restore a backup into scratch, verify and smoke-check it; record RTO and RPO."""
    cli = state(ctx)
    runtime = cli.runtime
    path = service.resolve_backup(root=source or runtime.settings.backups_path, ref=backup)
    key = jobs.key_for(runtime, key_file)
    # A missing or wrong key is the operator's mistake: refused before the drill, so no
    # failed drill is recorded and no incident opened for it.
    check_key(read_manifest(path), key)
    with _progress(not as_json) as advance:
        result = jobs.drill_job(
            runtime, actor=cli.principal(), backup=path, key=key, progress=advance
        )
    if as_json:
        print_json(result)
    if not result.ok:
        raise Unavailable(f"drill of {result.backup_id} failed: {result.detail}")
    if not as_json:
        console.print(
            f"drill ok: {result.backup_id} restored in {result.rto_seconds:.2f} s (RTO), backup"
            f" age {result.rpo_seconds:.0f} s (RPO); gateway: {result.gateway_check}",
            markup=False,
        )


@app.command("drills")
def list_drills(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="Most drills to show, newest first.")] = 20,
    as_json: AsJson = False,
) -> None:
    """Recorded drills: when, which backup, RTO, RPO, outcome."""
    with state(ctx).session() as session:
        rows = drills.list_drills(session, limit=limit)
    if as_json:
        print_json(rows)
        return
    print_table(
        "restore drills",
        ["at", "backup", "rto s", "rpo s", "ok", "detail"],
        [(d.at, d.backup_id, d.rto_seconds, d.rpo_seconds, d.ok, d.detail) for d in rows],
    )


@app.command("keygen")
def keygen(
    out: Annotated[Path, typer.Option("--out", help="Key file to create (mode 0600).")],
) -> None:
    """Create a random AES-256 backup key file; keep it apart from the backups."""
    with new_file(out, mode=0o600, exists="a key file is never overwritten") as handle:
        handle.write(generate_key().hex() + "\n")
    console.print(f"backup key written to {out}; set MLGATE_BACKUP_KEY_FILE={out}", markup=False)
