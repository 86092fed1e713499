"""``mlgate secrets set|list|delete|rotate-master``: the envelope-encrypted secret store."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import SecretStr

from mlgate.cli.context import console, state
from mlgate.cli.output import print_json, print_table
from mlgate.errors import Invalid
from mlgate.privacy import service
from mlgate.privacy.keys import PrivacyKeys, static_provider
from mlgate.privacy.logscrub import install_log_scrubbing, register_settings_secrets
from mlgate.privacy.schemas import SecretSet

app = typer.Typer(
    help="Store secrets encrypted; gateway upstreams use them by name.", no_args_is_help=True
)
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def privacy_keys(ctx: typer.Context) -> PrivacyKeys:
    """The cipher and key store for this command, closed when the command ends."""
    runtime = state(ctx).runtime
    keys = PrivacyKeys(runtime)
    ctx.call_on_close(keys.close)
    scrubber = install_log_scrubbing()
    register_settings_secrets(scrubber, runtime.settings)
    scrubber.register(runtime.secret.decode(errors="replace"))
    return keys


def _read_value(value_file: Path | None, from_stdin: bool) -> SecretStr:
    if value_file is not None:
        text = value_file.read_text(encoding="utf-8").rstrip("\r\n")
    elif from_stdin:
        text = sys.stdin.read().rstrip("\r\n")
    else:
        if not sys.stdin.isatty():
            raise Invalid.field("value", "no terminal to ask on; give --stdin or --value-file")
        text = typer.prompt("value", hide_input=True, confirmation_prompt=True)
    if not text:
        raise Invalid.field("value", "a secret cannot be empty")
    return SecretStr(text)


@app.command("set")
def set_secret(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name routes use, e.g. 'openai-key'.")],
    value_file: Annotated[
        Path | None, typer.Option(help="Read the value from this file.", exists=True)
    ] = None,
    from_stdin: Annotated[bool, typer.Option("--stdin", help="Read the value from stdin.")] = False,
    description: Annotated[str, typer.Option(help="What the secret is for.")] = "",
) -> None:
    """Create or replace a secret. The value is read from a file, stdin or a hidden prompt."""
    cli = state(ctx)
    secret_in = SecretSet(value=_read_value(value_file, from_stdin), description=description)
    keys = privacy_keys(ctx)
    actor = cli.principal()
    with cli.session() as session:
        read = service.set_secret(
            session, cipher=keys.cipher, name=name, secret_in=secret_in, actor=actor
        )
    console.print(f"secret {read.name} stored (master key {read.key_id})", markup=False)


@app.command("list")
def list_secrets(ctx: typer.Context, as_json: AsJson = False) -> None:
    """List secrets: names and metadata, never values."""
    cli = state(ctx)
    with cli.session() as session:
        found = service.list_secrets(session)
    if as_json:
        print_json(found)
        return
    rows = [(s.name, s.description, s.key_id, s.updated_at, s.updated_by) for s in found]
    print_table("Secrets", ["name", "description", "master key", "updated", "by"], rows)


@app.command("delete")
def delete_secret(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the secret, as secrets list shows it.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask to retype the name.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would go.")] = False,
    as_json: AsJson = False,
) -> None:
    """Delete a secret; routes that use it lose their upstream until it is set again."""
    cli = state(ctx)
    if dry_run:
        with cli.session() as session:
            found = service.get_secret(session, name=name)
        if as_json:
            print_json({"dry_run": True, "secret": found.model_dump(mode="json")})
        else:
            console.print(f"would delete secret {found.name}", markup=False)
        return
    if not yes and typer.prompt(f"retype '{name}' to delete it") != name:
        raise Invalid.field("confirm", "the name did not match; nothing was deleted")
    actor = cli.principal()
    with cli.session() as session:
        read = service.delete_secret(session, name=name, actor=actor)
    if as_json:
        print_json({"dry_run": False, "secret": read.model_dump(mode="json")})
    else:
        console.print(f"deleted secret {read.name}", markup=False)


@app.command("rotate-master")
def rotate_master(
    ctx: typer.Context,
    new_key_file: Annotated[
        Path | None,
        typer.Option(
            help="File with the new master key (64 hex or base64); needed with "
            "MLGATE_MASTER_KEY, optional with the key file (default: generate one).",
            exists=True,
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Re-wrap every data key under a new master key (one transaction per store)."""
    cli = state(ctx)
    new_key = None
    if new_key_file is not None:
        new_key = SecretStr(new_key_file.read_text(encoding="ascii").strip())
        try:
            static_provider(new_key)
        except Invalid as error:
            raise Invalid.field(
                "new_key_file",
                f"{new_key_file} holds no master key: give 32 bytes as 64 hex digits or base64",
            ) from error
    keys = privacy_keys(ctx)
    actor = cli.principal()
    result = service.rotate_master_job(cli.runtime, keys, new_key=new_key, actor=actor)
    if as_json:
        print_json(result)
        return
    console.print(
        f"re-wrapped {result.secrets} secret(s) and {result.subject_keys} subject key(s) "
        f"under {result.new_key_id}"
    )
    if cli.runtime.settings.master_key is not None:
        console.print("now set MLGATE_MASTER_KEY to the new key; the old one opens nothing")
