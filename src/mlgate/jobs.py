"""Periodic background jobs of the control plane (webhook delivery, purges, backups).

Each job runs its blocking function on a worker thread every ``interval`` seconds, the first
time ``first_run_seconds`` after start when that is sooner (a control plane restarted more often
than hourly would otherwise never run an hourly job); a failure is logged and the job tries
again next time. ``stop()`` lets a run in progress finish, so no thread is left holding a
database connection when the process shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["PeriodicJob", "Scheduler"]

logger = logging.getLogger(__name__)
FIRST_RUN_SECONDS = 60.0  # after start-up settles; every job is idempotent, so an early run is safe


@dataclass
class PeriodicJob:
    name: str
    interval: float
    run: Callable[[], object]


@dataclass
class Scheduler:
    jobs: list[PeriodicJob] = field(default_factory=list)
    first_run_seconds: float = FIRST_RUN_SECONDS
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
        wait = min(job.interval, self.first_run_seconds)
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=wait)
            wait = job.interval
            if self._stop.is_set():
                return
            try:
                await asyncio.to_thread(job.run)
            except Exception:  # logged; the next tick tries again
                logger.exception("background job failed", extra={"job": job.name})
