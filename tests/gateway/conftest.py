"""Fixtures of the gateway tests: the anyio backend and a clock the test moves by hand."""

from __future__ import annotations

import pytest


class ManualClock:
    """Monotonic seconds that only move when the test says so."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()
