"""The root ``mlgate`` command: global flags, sub-apps, and the one place errors become lines."""

from __future__ import annotations

import json
import logging
import sys
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.main
from pydantic import ValidationError
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, ProgrammingError
from typer.exceptions import TyperException

from mlgate import __version__
from mlgate.cli import audit, deploy, keys, registry, review, scopes, server, webhooks
from mlgate.cli import backup as backup_cli
from mlgate.cli import cards as cards_cli
from mlgate.cli import demo as demo_cli
from mlgate.cli import drift as drift_cli
from mlgate.cli import incidents as incidents_cli
from mlgate.cli import pii as pii_cli
from mlgate.cli import privacy as privacy_cli
from mlgate.cli import readiness as readiness_cli
from mlgate.cli import routes as routes_cli
from mlgate.cli import scan as scan_cli
from mlgate.cli import secrets as secrets_cli
from mlgate.cli.context import CliState, err_console
from mlgate.config import Settings
from mlgate.errors import MlgateError, message_of

__all__ = ["app", "run"]

logger = logging.getLogger("mlgate.cli")

app = typer.Typer(
    name="mlgate",
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
    ctx.obj = CliState({"database_url": database_url, "data_dir": data_dir})
    ctx.call_on_close(ctx.obj.close)


app.command("init")(server.init)
app.command("serve")(server.serve)
app.command("demo")(demo_cli.demo)
app.add_typer(routes_cli.app, name="routes")
app.add_typer(server.config_app, name="config")
app.add_typer(server.db_app, name="db")
app.add_typer(keys.app, name="keys")
app.add_typer(audit.app, name="audit")
app.add_typer(backup_cli.app, name="backup")
app.add_typer(incidents_cli.app, name="incidents")
app.add_typer(registry.models_app, name="models")
app.add_typer(registry.versions_app, name="versions")
app.add_typer(review.app, name="review")
app.command("deploy")(deploy.deploy)
app.command("rollback")(deploy.rollback)
app.add_typer(deploy.aliases_app, name="aliases")
app.add_typer(webhooks.app, name="webhooks")
app.add_typer(cards_cli.app, name="cards")
app.command("assess")(readiness_cli.assess)
app.command("attest")(readiness_cli.attest)
app.command("maturity")(readiness_cli.maturity)
app.add_typer(readiness_cli.debt_app, name="debt")
app.add_typer(secrets_cli.app, name="secrets")
app.add_typer(privacy_cli.app, name="privacy")
app.add_typer(pii_cli.app, name="pii")
app.add_typer(scan_cli.app, name="scan")
app.add_typer(drift_cli.app, name="drift")
app.command("sign")(scan_cli.sign)
app.command("verify")(scan_cli.verify)
app.command("audit-model")(scan_cli.audit_model)


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
def _command() -> Any:
    """The command tree, every command checking its scope when the CLI acts with a key."""
    command = typer.main.get_command(app)
    scopes.enforce(command)
    return command


def run(argv: list[str] | None = None) -> int:
    """Entry point: one line on stderr and exit 1 for errors, 2 for usage; never a traceback."""
    logging.basicConfig(level=_log_level(), format="%(levelname)s %(name)s: %(message)s")
    _scrub_logs()
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
    except (OperationalError, ProgrammingError) as error:
        logger.debug("database error", exc_info=error)
        if _missing_table(error):
            _say("error: the store is not set up; run `mlgate init` (or `mlgate db upgrade`)")
            return 1
        _say(
            "error: cannot use the database; check MLGATE_DATABASE_URL and that it is running "
            f"({type(error.orig).__name__})"
        )
        return 1
    except (NoSuchModuleError, ArgumentError) as error:  # its text may hold the URL: not shown
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
