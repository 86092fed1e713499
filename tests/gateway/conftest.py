"""Fixtures of the gateway tests: the anyio backend and a clock the test moves by hand."""

from __future__ import annotations

import pytest

from tests.clocks import ManualClock


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()
