"""The threads that run in-process models: how calls made together reach them."""

from __future__ import annotations

import asyncio
import threading

import pytest

from mlgate.gateway.backends.inprocess import Runners

pytestmark = pytest.mark.anyio


async def test_calls_made_in_one_turn_run_as_one_call_on_one_thread() -> None:
    joint: list[tuple[str, int]] = []  # (thread, jobs) of each joint call

    def together(arguments: list[int]) -> list[int]:
        joint.append((threading.current_thread().name, len(arguments)))
        return [a * 2 for a in arguments]

    runners = Runners("doubler", 2, lambda a: a * 2, together)
    try:
        assert await runners.call(1, timeout=5) == 2  # one call alone: its cost is measured
        answers = await asyncio.gather(*(runners.call(n, timeout=5) for n in range(8)))
    finally:
        runners.stop()
    assert answers == [n * 2 for n in range(8)]
    # A model this cheap fits all eight in one call: one thread wakes, not both with four each.
    assert joint == [(joint[0][0], 8)]
