"""The CLI as an operator uses it, on both databases: one line and exit 1 on errors, 2 on usage."""

from __future__ import annotations

import re
import stat
import uuid
from datetime import UTC, timedelta
from pathlib import Path

import pytest

from mlgate.auth.keys import KEY_PATTERN
from mlgate.clock import utcnow
from tests.cli.conftest import Cli


def test_init_is_idempotent_and_writes_the_admin_key_once_with_mode_0600(cli: Cli) -> None:
    first = cli("init")
    assert first.code == 0, first.err
    key_file: Path = cli.data_dir / "admin.key"  # type: ignore[attr-defined]
    assert "admin key written to" in first.out
    key = key_file.read_text().strip()
    assert re.fullmatch(KEY_PATTERN, key)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((key_file.parent / "secret.key").stat().st_mode) == 0o600
    second = cli("init")
    assert second.code == 0
    assert "already issued" in second.out
    assert key_file.read_text().strip() == key
    assert (
        len([line for line in cli("keys", "list", "--json").out.splitlines() if '"id"' in line])
        == 1
    )


def test_keys_lifecycle_from_the_cli(cli: Cli) -> None:
    cli("init")
    created = cli("keys", "create", "ci", "--owner", "ci-bot", "--scope", "registry:write")
    assert created.code == 0, created.err
    key = created.out.strip().splitlines()[-1]
    assert re.fullmatch(KEY_PATTERN, key)
    listing = cli("keys", "list", "--json")
    assert key not in listing.out
    assert "ci-bot" in listing.out
    key_id = re.search(r"key (\w+) for ci-bot", created.out).group(1)  # type: ignore[union-attr]
    rotated = cli("keys", "rotate", key_id, "--grace", "60")
    assert rotated.code == 0
    assert "stops working in 60 s" in rotated.out
    assert cli("keys", "revoke", key_id).code == 0
    again = cli("keys", "revoke", key_id)
    assert again.code == 1
    assert again.err.strip() == f"error: API key '{key_id}' is already revoked"


def test_rotate_says_when_the_old_key_really_stops_working(cli: Cli) -> None:
    # It said "in 86400 s" (the grace) although the key's own expiry came first.
    cli("init")
    expires = (utcnow() + timedelta(hours=1)).replace(microsecond=0, tzinfo=None)
    created = cli(
        "keys", "create", "ci", "--owner", "ci-bot", "--scope", "registry:read",
        "--expires", expires.isoformat(),
    )  # fmt: skip
    assert created.code == 0, created.err
    key_id = re.search(r"key (\w+) for ci-bot", created.out).group(1)  # type: ignore[union-attr]
    rotated = cli("keys", "rotate", key_id, "--grace", "86400")
    assert rotated.code == 0, rotated.err
    assert "86400 s" not in rotated.out
    assert f"at {expires.replace(tzinfo=UTC).isoformat()}" in rotated.out
    seconds = int(re.search(r"stops working in (\d+) s", rotated.out).group(1))  # type: ignore[union-attr]
    assert 0 < seconds <= 3600


def test_unknown_scope_is_one_line_and_exit_1(cli: Cli) -> None:
    cli("init")
    result = cli("keys", "create", "x", "--owner", "o", "--scope", "root")
    assert result.code == 1
    assert len(result.err.strip().splitlines()) == 1
    assert "unknown scope" in result.err


def test_registry_from_the_cli(cli: Cli, tmp_path: Path) -> None:
    cli("init")
    artifact = tmp_path / "model.onnx"
    artifact.write_bytes(b"onnx-bytes")
    schema = tmp_path / "in.json"
    schema.write_text('{"type": "object"}')
    assert cli("models", "create", "churn", "--tag", "demo").code == 0
    registered = cli(
        "versions",
        "register",
        str(artifact),
        "--model",
        "churn",
        "--framework",
        "onnx",
        "--input-schema",
        str(schema),
        "--git-commit",
        "abc",
    )
    assert registered.code == 0, registered.err
    assert "registered churn@1" in registered.out
    shown = cli("versions", "show", "churn@1", "--json")
    assert '"git_commit": "abc"' in shown.out
    assert cli("models", "list", "--json").out.count('"name": "churn"') == 1
    assert cli("audit", "verify").code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("models", "show", "ghost"), "model 'ghost' does not exist"),
        (("versions", "show", "churn"), "is not MODEL@N"),
        (("versions", "show", "churn@²"), "is not MODEL@N"),  # isdigit() holds, int() fails
        (("versions", "show", "churn@99999999999"), "is not MODEL@N"),  # past the store
        (("incidents", "show", "²"), "does not exist"),
        (("versions", "register", "/no/such/file", "--model", "m"), "is not a readable file"),
        (("models", "create", "Bad Name"), "name"),
        (("webhooks", "create", "http://127.0.0.1:9/h", "--event", "approval.aproved"), "event"),
        (("webhooks", "deliver", "--mail-to", "sre@example.com"), "needs --smtp-host"),
    ],
)
def test_errors_are_one_line_with_exit_1(cli: Cli, args: tuple[str, ...], message: str) -> None:
    cli("init")
    result = cli(*args)
    assert result.code == 1
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert "Traceback" not in result.err + result.out


def test_usage_errors_exit_2(cli: Cli) -> None:
    assert cli("no-such-command").code == 2
    assert cli("versions", "show").code == 2
    # A number the store cannot hold is refused by the option itself (it was an OverflowError).
    too_big = cli("cards", "show", "churn@1", "--revision", "9" * 25)
    assert too_big.code == 2
    assert "--revision" in too_big.err


def test_config_show_masks_secrets(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLGATE_SECRET_KEY", "super-secret-value-1234567890")
    result = cli("config", "show", "--json")
    assert result.code == 0
    assert "super-secret-value" not in result.out
    assert '"secret_key": "**********"' in result.out


def test_a_json_file_nested_past_reading_is_one_line(cli: Cli, tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000)
    artifact = tmp_path / "m.bin"
    artifact.write_bytes(b"weights")
    cli("init")
    cli("models", "create", "m1")
    result = cli(
        "versions", "register", str(artifact), "--model", "m1", "--input-schema", str(deep)
    )
    assert result.code == 1
    assert result.err.strip() == "error: input_schema: is nested deeper than can be read"


def test_a_bad_setting_names_the_variable_to_fix(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLGATE_LOG_LEVEL", "LOUD")
    result = cli("models", "list")
    assert result.code == 1
    assert result.err.startswith("error: setting log_level (MLGATE_LOG_LEVEL or mlgate.toml): ")
    assert len(result.err.strip().splitlines()) == 1


def test_database_password_is_masked_in_config_show(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from mlgate.cli.main import run

    url = "postgresql://user:hunter2@127.0.0.1:1/db"
    assert run(["--database-url", url, "--data-dir", str(tmp_path), "config", "show"]) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out
    assert "postgresql+psycopg://user:***@127.0.0.1:1/db" in out


def test_a_settings_repr_shows_no_password_or_secret(tmp_path: Path) -> None:
    from pydantic import SecretStr

    from mlgate.config import Settings

    settings = Settings(
        database_url="postgresql://user:hunter2@127.0.0.1:1/db",
        keystore_url="postgresql://keys:swordfish@127.0.0.1:1/keys",
        secret_key=SecretStr("super-secret-value-1234567890"),
        data_dir=tmp_path,
    )
    shown = repr(settings)
    assert "user:***@127.0.0.1:1/db" in shown
    for secret in ("hunter2", "swordfish", "super-secret-value"):
        assert secret not in shown


def test_init_keeps_the_store_to_its_owner(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlgate.cli.main import run

    data = tmp_path / "var"
    # No --database-url: the store, like the key store, lives in the data directory.
    assert run(["--data-dir", str(data), "init"]) == 0
    assert run(["--data-dir", str(data), "models", "list"]) == 0
    capsys.readouterr()
    assert data.stat().st_mode & 0o777 == 0o700
    stores = sorted(data.glob("*.db*"))
    assert {"mlgate.db", "keystore.db"} <= {path.name for path in stores}  # and WAL files
    for path in stores:
        assert path.stat().st_mode & 0o077 == 0, path.name


@pytest.mark.parametrize(
    "args",
    [
        ("models", "list", "--bogus"),
        ("nosuch",),
        ("debt", "add"),
        ("keys", "create", "x"),
        ("webhooks", "deliveries", "--state", "bogus"),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(cli: Cli, args: tuple[str, ...]) -> None:
    result = cli(*args)
    assert result.code == 2
    assert len(result.err.strip().splitlines()) == 1, result.err
    assert result.err.startswith("usage: ")
    assert "--help" in result.err


def test_a_wrong_file_is_one_line_naming_it(cli: Cli, tmp_path: Path) -> None:
    cli("init")
    cli("models", "create", "m1")
    not_json = tmp_path / "spec.json"
    not_json.write_text("[1")
    binary = tmp_path / "card.json"
    binary.write_bytes(b"\xff\xfe\x00")
    for args, expected in (
        (
            ("routes", "create", "r", "--model", "m1", "--spec", str(tmp_path / "no.json")),
            "no.json",
        ),
        (("routes", "create", "r", "--model", "m1", "--spec", str(tmp_path)), "Is a directory"),
        (("routes", "create", "r", "--model", "m1", "--spec", str(not_json)), "not valid JSON"),
        (("cards", "import", "m1@1", str(binary), "--format", "json"), "not UTF-8"),
    ):
        result = cli(*args)
        assert result.code == 1, (args, result.err)
        assert len(result.err.strip().splitlines()) == 1, result.err
        assert expected in result.err
        assert "unexpected" not in result.err


def test_an_invalid_card_names_each_wrong_field(cli: Cli, tmp_path: Path) -> None:
    cli("init")
    card = tmp_path / "card.json"
    card.write_text('{"model_details": {"name": 5, "version": {"name": []}}}')
    result = cli("cards", "import", "m1@1", str(card), "--format", "json")
    assert result.code == 1
    line = result.err.strip()
    assert len(line.splitlines()) == 1
    assert "model_details.name" in line


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("models", "list", "--limit", "0"), "--limit"),
        (("models", "list", "--limit", "99999999999"), "--limit"),
        (("models", "list", "--offset", "-5"), "--offset"),
        (("versions", "list", "m", "--limit", "-1"), "--limit"),
        (("keys", "rotate", "k", "--grace", "-5"), "--grace"),
        (("review", "list", "--limit", "0"), "--limit"),
        (("review", "list", "--limit", "501"), "--limit"),
        (("review", "list", "--offset", "-1"), "--offset"),
        (("webhooks", "deliveries", "--limit", "0"), "--limit"),
        (("webhooks", "deliver", "--watch", "--interval", "-1"), "--interval"),
        (("webhooks", "deliveries", "--limit", "99999999999999999999"), "--limit"),
    ],
)
def test_a_number_out_of_range_is_a_usage_error_as_the_api_says(
    cli: Cli, args: tuple[str, ...], option: str
) -> None:
    # They were clamped or taken silently: --grace -5 expired the old key at once.
    result = cli(*args)
    assert result.code == 2
    assert option in result.err


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_store_not_set_up_says_to_run_init(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlgate.cli.main import run
    from tests.conftest import _pg_admin, _pg_url

    name = f"mlgate_empty_{uuid.uuid4().hex[:12]}"
    if database == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.db'}"
    else:
        _pg_admin(f'CREATE DATABASE "{name}"')
        url = _pg_url(name)
    try:
        code = run(["--database-url", url, "--data-dir", str(tmp_path), "models", "list"])
    finally:
        if database == "postgresql":
            _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert code == 1
    assert capsys.readouterr().err.strip() == (
        "error: the store is not set up; run `mlgate init` (or `mlgate db upgrade`)"
    )


def test_serve_on_a_busy_port_is_one_line_before_it_says_listening(cli: Cli) -> None:
    import socket

    cli("init")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("serve", "--port", str(port))
    assert result.code == 1
    assert "listening" not in result.out
    assert result.err.startswith(f"error: cannot listen on 127.0.0.1:{port}")
    assert len(result.err.strip().splitlines()) == 1


def test_every_cli_option_and_argument_has_help() -> None:
    import typer.main

    from mlgate.cli import scopes
    from mlgate.cli.main import app

    missing = [
        f"mlgate {path}: {param.param_type_name} {param.name}"
        for path, command in scopes.commands(typer.main.get_command(app)).items()
        for param in command.params
        if param.name != "help" and not getattr(param, "help", None)
    ]
    assert not missing, "parameters without help:\n" + "\n".join(missing)
