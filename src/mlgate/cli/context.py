"""What every command needs: the runtime, the acting principal, a console, a unit of work."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from mlgate.config import Settings

if TYPE_CHECKING:  # imported when first used: ``mlgate --help`` needs neither a store nor auth
    from sqlalchemy.orm import Session

    from mlgate.auth.schemas import Principal
    from mlgate.runtime import Runtime

__all__ = ["CliState", "console", "err_console", "state"]

# No emoji codes: ":smile:" in a title or error message is text the user wrote, not an emoji.
console = Console(emoji=False)
err_console = Console(stderr=True, soft_wrap=True, emoji=False)


class CliState:
    """Settings overrides from global flags; the runtime is built on first use."""

    def __init__(self, overrides: dict[str, Any]) -> None:
        self.overrides = {k: v for k, v in overrides.items() if v is not None}
        self._runtime: Runtime | None = None
        self._principal: Principal | None = None

    @property
    def settings(self) -> Settings:
        return self.runtime.settings if self._runtime else Settings(**self.overrides)

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            from mlgate.runtime import Runtime

            self._runtime = Runtime.from_settings(Settings(**self.overrides))
        return self._runtime

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.runtime.db.unit_of_work() as session:
            yield session

    @contextmanager
    def read_only(self) -> Iterator[Session]:
        """For a command that reads much (the whole audit chain): no write lock held."""
        with self.runtime.db.read_only() as session:
            yield session

    def principal(self) -> Principal:
        """The key's principal when MLGATE_API_KEY/--api-key is set, else the local operator.

        Found once per command: the scope check (cli.scopes) and the command both ask.
        """
        if self._principal is None:
            from mlgate.auth import service as auth
            from mlgate.auth.schemas import Principal

            key = self.runtime.settings.api_key
            if key is None:
                local = f"local:{getpass.getuser()}"
                self._principal = Principal(name=local, scopes=frozenset({"admin"}))
            else:
                with self.session() as session:
                    self._principal = auth.authenticate(
                        session, secret=self.runtime.secret, presented=key.get_secret_value()
                    )
        return self._principal

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()


def state(ctx: typer.Context) -> CliState:
    root = ctx.find_root()
    obj = root.obj
    assert isinstance(obj, CliState)
    return obj
