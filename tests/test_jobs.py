"""The control plane's periodic jobs."""

from __future__ import annotations

import asyncio

import pytest

from mlgate.jobs import Scheduler

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_an_hourly_job_runs_soon_after_start_not_an_hour_later() -> None:
    loop = asyncio.get_running_loop()
    ran = asyncio.Event()
    scheduler = Scheduler(first_run_seconds=0.0)
    scheduler.add("hourly", 3600, lambda: loop.call_soon_threadsafe(ran.set))
    scheduler.start()
    try:
        await asyncio.wait_for(ran.wait(), timeout=10)
    finally:
        await scheduler.stop()


async def test_a_failing_job_is_tried_again_next_time() -> None:
    loop = asyncio.get_running_loop()
    calls: list[int] = []
    second = asyncio.Event()

    def flaky() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first run fails")
        loop.call_soon_threadsafe(second.set)

    scheduler = Scheduler(first_run_seconds=0.0)
    scheduler.add("flaky", 0.01, flaky)
    scheduler.start()
    try:
        await asyncio.wait_for(second.wait(), timeout=10)
    finally:
        await scheduler.stop()
    assert len(calls) >= 2
