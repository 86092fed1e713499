"""Unknown keys: a key issued a moment ago works at once; a flood of unknown keys shares checks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event

from mlgate.auth.keys import generate_key
from mlgate.clock import utcnow
from mlgate.errors import Unauthorized
from mlgate.gateway.dataplane import STALE_WAITERS, Gateway
from mlgate.runtime import Runtime
from tests.conftest import KeyFactory

pytestmark = pytest.mark.anyio


@pytest.fixture
async def gateway(runtime: Runtime) -> AsyncIterator[Gateway]:
    gateway = Gateway(runtime, refresh_seconds=3600)  # only a catch-up can bring a new key
    await gateway.start()
    try:
        yield gateway
    finally:
        await gateway.stop()


async def test_a_key_issued_after_the_table_was_built_works_at_once(
    gateway: Gateway, make_key: KeyFactory
) -> None:
    key = make_key("gateway:invoke")
    grant = await gateway.authenticate(key, "")
    assert grant.may_call("", utcnow(), "gateway:invoke") is None


async def test_a_flood_of_unknown_keys_shares_one_check_and_is_refused_fast(
    gateway: Gateway, runtime: Runtime
) -> None:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    unknown = generate_key().value  # well formed, issued by nobody
    event.listen(runtime.db.engine, "before_cursor_execute", count)
    started = time.monotonic()
    try:
        outcomes = await asyncio.gather(
            *(gateway.authenticate(unknown, "") for _ in range(STALE_WAITERS)),
            return_exceptions=True,
        )
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", count)
    elapsed = time.monotonic() - started
    assert all(isinstance(outcome, Unauthorized) for outcome in outcomes), outcomes
    heads = [statement for statement in statements if "audit_head" in statement]
    assert len(heads) == 1, statements  # one check for all of them, not one each
    assert elapsed < 2.0  # one by one, five checks a second, the last waited over six seconds
