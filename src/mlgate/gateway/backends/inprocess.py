"""What in-process models share: the artifact integrity check and the threads that run them.

Why not ``run_in_executor``: a thread pool hands each call over and back on its own, and that
hand-off, not inference, was most of the cost of a small model (measured: 170 µs per call vs
6 µs in onnxruntime's ``session.run``). Here each thread keeps taking waiting calls one at a
time and hands their answers back to the event loop in one wake-up, so under load the hand-off
is shared by many calls; an answer waits for later calls at most ``_HAND_BACK_WINDOW``, so a
slow model's answers go back one by one and a caller never waits for other callers' inferences.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlgate.errors import Conflict, MlgateError
from mlgate.gateway.resilience.failures import ConnectFailure, ProtocolFailure

__all__ = ["Runners", "read_verified"]


def read_verified(path: Path, expected_sha256: str) -> bytes:
    """The file's bytes, or Conflict if they are not the artifact the registry recorded.

    The bytes that were hashed are the bytes that get loaded, so the file cannot be swapped
    between the check and the load.
    """
    content = path.read_bytes()
    actual = hashlib.sha256(content).hexdigest()
    if not hmac.compare_digest(actual, expected_sha256.lower()):
        raise Conflict(
            f"artifact {path.name} has sha256 {actual}, but the registry expects "
            f"{expected_sha256}; refusing to load it. Re-upload the approved artifact."
        )
    return content


_Job = tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], Any]
_Answer = tuple[asyncio.Future[Any], bool, Any]
_STOP: Any = None

# How long a thread may keep finished answers to hand them back with later ones: long enough
# to share one wake-up of the event loop among many calls of a small model, short enough that
# no caller notices. Taking one job at a time (not the whole queue) keeps every thread busy.
_HAND_BACK_WINDOW = 0.001


class Runners:
    """Threads that run jobs from one queue and hand answers back in batches.

    Answers (or errors) go back to each job's event loop with one ``call_soon_threadsafe`` per
    batch: what a thread finished while more jobs were waiting, within ``_HAND_BACK_WINDOW``.
    A job whose caller gave up (timeout) before it started is skipped; one already running
    finishes and its answer is dropped. Jobs submitted before :meth:`stop` still run and the
    threads end after them; a job submitted after it fails at once (``ConnectFailure``).
    ``run`` may raise an ``MlgateError`` (the model refused the caller's input), which reaches the
    caller as it is; any other error becomes a ``ProtocolFailure``, so the call may fall back.
    """

    def __init__(self, name: str, threads: int, run: Callable[[Any], Any]) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._run = run
        self._stopped = False
        self._threads = [
            threading.Thread(target=self._work, name=f"model-{name}-{i}", daemon=True)
            for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, loop: asyncio.AbstractEventLoop, argument: Any) -> asyncio.Future[Any]:
        if self._stopped:  # the backend was replaced or retired: fail now, not at the timeout
            raise ConnectFailure("the in-process model was unloaded; the call may be retried")
        future = loop.create_future()
        self._jobs.put((loop, future, argument))
        return future

    def stop(self) -> None:
        self._stopped = True
        for _ in self._threads:
            self._jobs.put(_STOP)

    def _work(self) -> None:
        finished: list[tuple[asyncio.AbstractEventLoop, _Answer]] = []
        first_started = 0.0
        while True:
            try:
                # Never block while holding answers: another thread may take the last job.
                job = self._jobs.get_nowait() if finished else self._jobs.get()
            except queue.Empty:
                _hand_back(finished)
                finished = []
                continue
            if job is None:
                _hand_back(finished)
                return
            loop, future, argument = job
            if future.done():  # its caller gave up (a timeout) while it queued: skip the work
                continue
            if not finished:
                first_started = time.monotonic()
            try:
                finished.append((loop, (future, True, self._run(argument))))
            except MlgateError as error:  # the model refused the caller's input (Invalid)
                finished.append((loop, (future, False, error)))
            except Exception as error:  # the runtime's own errors, as the Backend protocol says
                failure = ProtocolFailure(f"in-process model failed: {type(error).__name__}")
                finished.append((loop, (future, False, failure)))
            if time.monotonic() - first_started >= _HAND_BACK_WINDOW:
                _hand_back(finished)
                finished = []


def _hand_back(finished: list[tuple[asyncio.AbstractEventLoop, _Answer]]) -> None:
    by_loop: dict[asyncio.AbstractEventLoop, list[_Answer]] = {}
    for loop, answer in finished:
        by_loop.setdefault(loop, []).append(answer)
    for loop, answers in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits
            loop.call_soon_threadsafe(_settle, answers)


def _settle(results: list[_Answer]) -> None:
    for future, ok, value in results:
        if future.done():  # the caller timed out or went away
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
