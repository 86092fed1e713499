"""Run the real ``mlgate`` entry point in-process against a per-test store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlgate.cli.main import run


@dataclass
class Result:
    code: int
    out: str
    err: str


Cli = Callable[..., Result]


@pytest.fixture
def cli(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    data_dir = tmp_path / "cli-data"

    def invoke(*args: str) -> Result:
        capsys.readouterr()
        code = run(["--database-url", db_url, "--data-dir", str(data_dir), *args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    invoke.data_dir = data_dir  # type: ignore[attr-defined]
    return invoke
