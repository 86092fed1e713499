"""Fixtures of the fault tests: real fault-injecting upstreams and the shared HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack

import pytest

from mlgate.gateway.backends import make_client
from mlgate.gateway.backends.wire import Http1Client
from tests.clocks import ManualClock

from .upstream import FaultyUpstream


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def start_upstream() -> Iterator[Callable[[], FaultyUpstream]]:
    """Start as many upstreams as a test needs; all stop when it ends."""
    with ExitStack() as stack:
        yield lambda: stack.enter_context(FaultyUpstream())


@pytest.fixture
def upstream(start_upstream: Callable[[], FaultyUpstream]) -> FaultyUpstream:
    return start_upstream()


@pytest.fixture
async def client(anyio_backend: str) -> AsyncIterator[Http1Client]:
    async with make_client() as shared:
        yield shared
