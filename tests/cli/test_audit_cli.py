"""`mlgate audit verify --head`: a head kept outside the store shows entries cut off the end."""

from __future__ import annotations

import re

from mlgate.store.database import Database
from tests.audit.tampering import cut_off_the_end
from tests.cli.conftest import Cli


def test_verify_with_the_head_printed_earlier_finds_a_cut_off_tail(cli: Cli, db_url: str) -> None:
    assert cli("init").code == 0
    for name in ("a", "b", "c"):
        assert cli("keys", "create", name, "--owner", "ops", "--scope", "registry:read").code == 0
    first = cli("audit", "verify")
    assert first.code == 0, first.err
    match = re.search(r"head (\d+):([0-9a-f]{64})", first.out)
    assert match, first.out
    head = f"{match[1]}:{match[2]}"
    keep = int(match[1]) - 2
    db = Database(db_url)
    try:
        cut_off_the_end(db, keep=keep)
    finally:
        db.dispose()

    assert cli("audit", "verify").code == 0  # the chain alone cannot tell
    against = cli("audit", "verify", "--head", head)
    assert against.code == 1
    assert against.err.startswith(f"error: audit chain broken at entry {keep + 1}")
    assert len(against.err.strip().splitlines()) == 1


def test_a_malformed_head_is_a_usage_error(cli: Cli) -> None:
    assert cli("init").code == 0
    for bad in ("12", "x:" + "0" * 64, "3:abc", "0:" + "0" * 64, "²:" + "0" * 64):
        result = cli("audit", "verify", "--head", bad)
        assert result.code == 2, (bad, result.err)
        assert "--head" in result.err
