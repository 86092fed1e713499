"""Periodic background jobs of the control plane (webhook delivery, purges, backups).

Each job runs its blocking function on a worker thread every ``interval`` seconds; a failure
is logged and the job tries again next time. ``stop()`` lets a run in progress finish, so no
thread is left holding a database connection when the process shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["PeriodicJob", "Scheduler"]

logger = logging.getLogger(__name__)


@dataclass
class PeriodicJob:
    name: str
    interval: float
    run: Callable[[], object]


@dataclass
class Scheduler:
    jobs: list[PeriodicJob] = field(default_factory=list)
    _stop: asyncio.Event | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def add(self, name: str, interval: float, run: Callable[[], object]) -> None:
        self.jobs.append(PeriodicJob(name, interval, run))

    def start(self) -> None:
        self._stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._loop(job), name=job.name) for job in self.jobs]

    async def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _loop(self, job: PeriodicJob) -> None:
        assert self._stop is not None
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=job.interval)
            if self._stop.is_set():
                return
            try:
                await asyncio.to_thread(job.run)
            except Exception:  # logged; the next tick tries again
                logger.exception("background job failed", extra={"job": job.name})
