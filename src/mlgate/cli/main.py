"""The root ``mlgate`` command: global flags, sub-commands loaded when named, errors as lines."""

from __future__ import annotations

import importlib
import json
import logging
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import typer.main
from pydantic import ValidationError
from typer._click import Command, Context, HelpFormatter  # Typer 0.29 vendors click here
from typer.core import TyperCommand, TyperGroup, TyperOption
from typer.exceptions import TyperException
from typer.models import CommandInfo, TyperInfo

from mlgate import __version__
from mlgate.cli.context import CliState, err_console
from mlgate.config import Settings
from mlgate.errors import MlgateError, message_of

if TYPE_CHECKING:
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, ProgrammingError

__all__ = ["SUBCOMMANDS", "Subcommand", "app", "run"]

logger = logging.getLogger("mlgate.cli")


@dataclass(frozen=True, slots=True)
class Subcommand:
    """Where a sub-command of ``mlgate`` lives, and its line in ``mlgate --help``."""

    module: str  # under mlgate.cli
    attribute: str  # a Typer app (a group) or a command function
    help: str  # the first paragraph of its own help: a test keeps the two the same


# In the order ``mlgate --help`` lists them. Listing imports none of these modules.
SUBCOMMANDS: dict[str, Subcommand] = {
    "init": Subcommand(
        "server",
        "init",
        "Create the data directory, migrate the store and issue the first admin key (idempotent).",
    ),
    "serve": Subcommand(
        "server", "serve", "Run the HTTP server (control plane and gateway by default)."
    ),
    "demo": Subcommand(
        "demo",
        "demo",
        "Train, register, review, deploy and route a small iris model; print how to call it.",
    ),
    "deploy": Subcommand("deploy", "deploy", "Point an alias of MODEL at approved version N."),
    "rollback": Subcommand(
        "deploy", "rollback", "Move an alias back to the previous approved version that held it."
    ),
    "assess": Subcommand(
        "readiness",
        "assess",
        "Assess readiness (ML Test Score, checklist, maturity, risks, debt) and write the report.",
    ),
    "attest": Subcommand(
        "readiness", "attest", "Attest that ITEM is done for TARGET; it counts until it expires."
    ),
    "maturity": Subcommand(
        "readiness",
        "maturity",
        "The workspace's MLOps maturity level and what is missing for the next.",
    ),
    "sign": Subcommand(
        "scan",
        "sign",
        "Sign every artifact of MODEL@N (model-signing bundle) and store the signature.",
    ),
    "verify": Subcommand(
        "scan",
        "verify",
        "Check MODEL@N's signature against its current blobs; exit 1 if it does not match.",
    ),
    "audit-model": Subcommand(
        "scan",
        "audit_model",
        "One security report of MODEL@N: scan, signature, dependencies, schema, routes (stored).",
    ),
    "routes": Subcommand("routes", "app", "Create and change gateway routes."),
    "config": Subcommand("server", "config_app", "Show the effective configuration."),
    "db": Subcommand("server", "db_app", "Manage the database schema."),
    "keys": Subcommand("keys", "app", "Create, list, revoke and rotate API keys."),
    "audit": Subcommand("audit", "app", "Verify and export the hash-chained audit log."),
    "backup": Subcommand("backup", "app", "Back up, verify, restore and drill the store."),
    "incidents": Subcommand("incidents", "app", "Incidents, timelines, postmortems and runbooks."),
    "models": Subcommand("registry", "models_app", "Create, list and show models."),
    "versions": Subcommand("registry", "versions_app", "Register and show model versions."),
    "review": Subcommand("review", "app", "Approval reviews: request, queue, decide."),
    "aliases": Subcommand("deploy", "aliases_app", "Show aliases, their history and protection."),
    "webhooks": Subcommand("webhooks", "app", "Webhook subscriptions and deliveries."),
    "cards": Subcommand("cards", "app", "Model cards of versions, with their history."),
    "debt": Subcommand("readiness", "debt_app", "The technical-debt register."),
    "secrets": Subcommand(
        "secrets", "app", "Store secrets encrypted; gateway upstreams use them by name."
    ),
    "privacy": Subcommand(
        "privacy",
        "app",
        "Retention, legal holds, subject export and erasure, records of processing.",
    ),
    "pii": Subcommand("pii", "app", "Scan files for PII or write redacted copies."),
    "scan": Subcommand(
        "scan", "app", "Scan artifacts, audit dependencies and waive security findings."
    ),
    "drift": Subcommand("drift", "app", "Data drift: reference profiles and drift reports."),
}


class _Unloaded(TyperCommand):
    """Stands for a sub-command whose module is not imported yet: its name and help line."""


class LazyGroup(TyperGroup):
    """The root group: a sub-command's module is imported when the command line names it.

    Its help lists every sub-command from :data:`SUBCOMMANDS` alone. Resolving one (to run it
    or show its help) imports its module, builds it, and makes each of its commands check its
    scope (:func:`mlgate.cli.scopes.enforce`) before it is returned: no command runs unchecked.
    """

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._listing = False
        # Placeholders keep the order of the help and the "Did you mean …?" of a typo.
        for name, sub in SUBCOMMANDS.items():
            self.commands.setdefault(name, _Unloaded(name, help=sub.help))

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        command = super().get_command(ctx, cmd_name)
        if isinstance(command, _Unloaded) and not self._listing:
            command = self.commands[cmd_name] = self._load(cmd_name)
        return command

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        self._listing = True  # the help lists the placeholders: it imports nothing
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def _load(self, name: str) -> Command:
        from mlgate.cli import scopes  # here: the root's help does without the auth schemas

        sub = SUBCOMMANDS[name]
        target = getattr(importlib.import_module(f"mlgate.cli.{sub.module}"), sub.attribute)
        command: Command
        if isinstance(target, typer.Typer):  # built as add_typer(target, name=name) would
            command = typer.main.get_group_from_info(
                TyperInfo(target, name=name),
                pretty_exceptions_short=app.pretty_exceptions_short,
                suggest_commands=self.suggest_commands,
                rich_markup_mode=self.rich_markup_mode,
            )
        else:
            command = typer.main.get_command_from_info(
                CommandInfo(name=name, callback=target),
                pretty_exceptions_short=app.pretty_exceptions_short,
                rich_markup_mode=self.rich_markup_mode,
            )
        scopes.enforce(command, (name,))
        _untype_flags(command)
        return command


def _untype_flags(command: Command) -> None:
    """Typer 0.29 shows ``<bool>`` beside every flag, as if it took a value: show no type.

    The help option is made once per command and kept (click relies on that), so setting its
    metavar here holds for the help printed later.
    """
    for param in [*command.params, command.get_help_option(Context(command))]:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
    for child in getattr(command, "commands", {}).values():
        if not isinstance(child, _Unloaded):
            _untype_flags(child)


app = typer.Typer(
    name="mlgate",
    cls=LazyGroup,
    help="Govern, serve and recover ML models in production.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlgate {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    database_url: Annotated[
        str | None, typer.Option(help="Store URL (env MLGATE_DATABASE_URL).", show_default=False)
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Data directory (env MLGATE_DATA_DIR).", show_default=False)
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    # Before any command runs; not in run(), so that help and --version, which log nothing, do
    # without SQLAlchemy (logscrub parses URLs with it).
    _scrub_logs()
    ctx.obj = CliState({"database_url": database_url, "data_dir": data_dir})
    ctx.call_on_close(ctx.obj.close)


def _log_level() -> str:
    try:
        level = Settings().log_level
    except ValidationError:  # reported properly when a command builds its settings
        return "WARNING"
    return "DEBUG" if level == "DEBUG" else "WARNING"


def _scrub_logs() -> None:
    """Keep secrets out of every log line (mlgate.privacy.logscrub)."""
    from mlgate.privacy.logscrub import install_log_scrubbing, register_settings_secrets

    scrubber = install_log_scrubbing()
    try:
        register_settings_secrets(scrubber, Settings())
    except ValidationError:  # reported properly when a command builds its settings
        return


@cache
def _command() -> Command:
    """The root command; each sub-command is built, scope checks and all, when first named."""
    command = typer.main.get_command(app)
    _untype_flags(command)
    return command


def run(argv: list[str] | None = None) -> int:
    """Entry point: one line on stderr and exit 1 for errors, 2 for usage; never a traceback."""
    logging.basicConfig(level=_log_level(), format="%(levelname)s %(name)s: %(message)s")
    try:
        result = _command().main(args=argv, prog_name="mlgate", standalone_mode=False)
    except typer.Exit as exit_:
        return exit_.exit_code
    except typer.Abort:
        err_console.print("aborted")
        return 1
    except TyperException as error:  # typer's click errors: bad flag, missing argument, …
        code = int(getattr(error, "exit_code", 2))
        format_message = getattr(error, "format_message", None)
        message = format_message() if format_message is not None else str(error)
        ctx = getattr(error, "ctx", None)
        where = ctx.command_path if ctx is not None else "mlgate"
        if not message:  # a group called without a command: its help, already shown
            return code
        if code == 2:
            _say(f"usage: {message} (see '{where} --help')")
        else:
            _say(f"error: {message}")
        return code
    except MlgateError as error:
        _say(f"error: {_detail(error)}")
        return 1
    except ValidationError as error:  # settings from env/mlgate.toml, or a schema a command built
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or error.title
        if error.title == Settings.__name__:  # name what the user set, not our field
            where = f"setting {where} (MLGATE_{where.upper()} or mlgate.toml)"
        _say(f"error: {where}: {message_of(first)}")
        return 1
    except _database_errors() as error:
        logger.debug("database error", exc_info=error)
        if _missing_table(error):
            _say("error: the store is not set up; run `mlgate init` (or `mlgate db upgrade`)")
            return 1
        _say(
            "error: cannot use the database; check MLGATE_DATABASE_URL and that it is running "
            f"({type(error.orig).__name__})"
        )
        return 1
    except _database_url_errors() as error:  # its text may hold the URL: not shown
        logger.debug("database URL error", exc_info=error)
        _say(
            "error: MLGATE_DATABASE_URL is not a database URL mlgate can use (sqlite:///… or "
            "postgresql+psycopg://…)"
        )
        return 1
    except OSError as error:  # a path that is missing, a directory, not writable; a host down
        where = f": {error.filename}" if error.filename else ""
        _say(f"error: {error.strerror or error}{where}")
        return 1
    except UnicodeDecodeError as error:
        _say(f"error: a file given is not UTF-8 text ({error.reason} at byte {error.start})")
        return 1
    except json.JSONDecodeError as error:
        _say(f"error: not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})")
        return 1
    except OverflowError:
        _say("error: a number given is too large")
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        logger.debug("unexpected error", exc_info=error)
        _say(f"error: unexpected {type(error).__name__}; MLGATE_LOG_LEVEL=DEBUG shows details")
        return 1
    return result if isinstance(result, int) else 0


# Python evaluates an ``except`` clause's expression only when an exception reaches it: these
# import SQLAlchemy on that path alone, so ``mlgate --help`` does without it.
def _database_errors() -> tuple[type[OperationalError], type[ProgrammingError]]:
    from sqlalchemy.exc import OperationalError, ProgrammingError

    return OperationalError, ProgrammingError


def _database_url_errors() -> tuple[type[NoSuchModuleError], type[ArgumentError]]:
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    return NoSuchModuleError, ArgumentError


def _missing_table(error: Exception) -> bool:
    """SQLite's "no such table" or PostgreSQL's undefined_table: the schema is not there."""
    orig = getattr(error, "orig", None)
    return "no such table" in str(orig) or getattr(orig, "sqlstate", None) == "42P01"


def _say(line: str) -> None:
    """One line on stderr, whatever the message held (tabs, line breaks), never markup."""
    err_console.print(" ".join(line.split()), markup=False, highlight=False, soft_wrap=True)


def _detail(error: MlgateError) -> str:
    """The error's detail, with each wrong field when the detail only counts them."""
    fields = getattr(error, "errors", None) or []
    named = [f"{e.field}: {e.message}" for e in fields if e.field not in error.detail]
    return "; ".join([error.detail, *named])


def entrypoint() -> None:
    sys.exit(run())
