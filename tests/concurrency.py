"""Units of work run at the same moment: one thread and one transaction each, released together."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.orm import Session

from mlgate.runtime import Runtime

__all__ = ["lock_waiters", "race", "until"]

T = TypeVar("T")
JOIN_TIMEOUT = 60


def race(runtime: Runtime, *units: Callable[[Session], T]) -> list[T | Exception]:
    """Run each unit in its own thread and ``unit_of_work``, released by one barrier; return
    what each returned, or the exception it raised, in the order given."""
    barrier = threading.Barrier(len(units))
    outcomes: list[T | Exception] = [RuntimeError("unfinished")] * len(units)

    def run(index: int, unit: Callable[[Session], T]) -> None:
        barrier.wait(timeout=JOIN_TIMEOUT)
        try:
            with runtime.db.unit_of_work() as session:
                outcomes[index] = unit(session)
        except Exception as error:  # the caller's assertions report it
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=(i, u)) for i, u in enumerate(units)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


def lock_waiters(runtime: Runtime) -> int:
    """How many sessions of this PostgreSQL database wait on a lock."""
    with runtime.db.engine.connect() as connection:
        return int(
            connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            or 0
        )


def until(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)
