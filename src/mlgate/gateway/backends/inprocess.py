"""What in-process models share: the artifact integrity check and the threads that run them.

Why not ``run_in_executor``: a thread pool hands each call over and back on its own, and that
hand-off, not inference, was most of the cost of a small model (measured: 170 µs per call vs
6 µs in onnxruntime's ``session.run``). Here calls made in one turn of the event loop go to the
threads together (one queue item per thread, so one wake-up), and each thread hands answers
back to the loop in one wake-up, so under load the hand-off is shared by many calls. Sending
calls one by one cost a busy gateway two context switches per call (measured). An answer waits
for later ones at most ``_HAND_BACK_WINDOW``, so a slow model's answers go back one by one.
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
from mlgate.gateway.resilience.failures import ConnectFailure, ProtocolFailure, TimeoutFailure

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
_Batch = list[_Job]
_Answer = tuple[asyncio.Future[Any], bool, Any]
_STOP: Any = None

# How long a thread may keep finished answers to hand them back with later ones: long enough
# to share one wake-up of the event loop among many calls of a small model, short enough that
# no caller notices.
_HAND_BACK_WINDOW = 0.001
_UNMEASURED = float("inf")
# A model whose single call takes up to this much CPU is tried with two jobs in one call, to
# learn what a further job costs: for scikit-learn most of a call is a fixed cost (2 ms here
# for a small pipeline), and joining is then nearly free. Slower models run one job per call.
_PROBE_LIMIT = 0.01


class Runners:
    """Threads that run jobs from one queue and hand answers back in batches.

    Jobs made in one turn of an event loop are queued together when that turn ends, split into
    one batch per thread. Answers (or errors) go back to each job's event loop with one
    ``call_soon_threadsafe`` per batch: what a thread finished while more jobs were waiting,
    within ``_HAND_BACK_WINDOW``. A job whose caller gave up (timeout) before it started is
    skipped; one already running finishes and its answer is dropped. Jobs made before
    :meth:`stop` still run and the threads end after them; a job made after it fails at once
    (``ConnectFailure``). ``run`` may raise an ``MlgateError`` (the model refused the caller's
    input), which reaches the caller as it is; any other error becomes a ``ProtocolFailure``,
    so the call may fall back.

    With ``run_together``, jobs run as one call (one inference over all their rows; it returns
    None when the answers cannot be split back), as many as :meth:`_together_size` allows.
    Each inference gives the GIL up and takes it back, and against a busy event loop each
    taking back cost about two context switches: on one gateway worker, the ONNX route went
    from 2.4 context switches and about 225 µs of CPU per request to 0.4 and 175 µs (wrk, 64
    connections; the process's counters).
    """

    def __init__(
        self,
        name: str,
        threads: int,
        run: Callable[[Any], Any],
        run_together: Callable[[list[Any]], list[Any] | None] | None = None,
    ) -> None:
        self._jobs: queue.SimpleQueue[_Batch | None] = queue.SimpleQueue()
        self._waiting: dict[asyncio.AbstractEventLoop, _Batch] = {}  # made this turn, per loop
        self._run = run
        self._run_together = run_together
        self._single = _UNMEASURED  # CPU seconds of a call with one job (moving average)
        self._extra: float | None = None  # CPU seconds each further job adds to a joint call
        self._stopped = False
        self._threads = [
            threading.Thread(target=self._work, name=f"model-{name}-{i}", daemon=True)
            for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    async def call(self, argument: Any, *, timeout: float) -> Any:
        """``run(argument)`` on a thread; ``TimeoutFailure`` if it has not answered in time.

        The timeout fails the job's own future: a timer costs 2.2 µs, ``asyncio.timeout``
        4.2 µs with its task cancellation (measured on uvloop). A job not started by then is
        skipped; a running one finishes and its answer is dropped.
        """
        if self._stopped:  # the backend was replaced or retired: fail now, not at the timeout
            raise ConnectFailure("the in-process model was unloaded; the call may be retried")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        waiting = self._waiting.get(loop)
        if waiting is None:
            waiting = self._waiting[loop] = []
            loop.call_soon(self._send, loop)  # once this turn's callbacks have run
        waiting.append((loop, future, argument))
        timer = loop.call_later(timeout, _expire, future)
        try:
            return await future
        finally:
            timer.cancel()

    def stop(self) -> None:
        self._stopped = True
        for loop in list(self._waiting):
            self._send(loop)
        for _ in self._threads:
            self._jobs.put(_STOP)

    def _send(self, loop: asyncio.AbstractEventLoop) -> None:
        """Queue this turn's jobs: as few shares as fit in joint calls, one per thread at most.

        Jobs one thread can run as one call go to one thread: splitting them woke both threads
        for a model whose call takes microseconds, and each ran its half as a call of its own.
        """
        jobs = self._waiting.pop(loop, [])
        together = -(-len(jobs) // self._together_size())  # calls they need, rounded up
        shares = min(len(jobs), len(self._threads), together)
        for share in range(shares):
            self._jobs.put(jobs[share::shares])

    def _work(self) -> None:
        finished: list[tuple[asyncio.AbstractEventLoop, _Answer]] = []
        first_started = 0.0
        while True:
            try:
                # Never block while holding answers: another thread may take the last job.
                batch = self._jobs.get_nowait() if finished else self._jobs.get()
            except queue.Empty:
                _hand_back(finished)
                finished = []
                continue
            if batch is None:
                _hand_back(finished)
                return
            # A job whose caller gave up (a timeout) while it queued is skipped.
            live = [job for job in batch if not job[1].done()]
            size = self._together_size()
            for start in range(0, len(live), size):
                jobs = live[start : start + size]
                if not finished:
                    first_started = time.monotonic()
                cpu = time.thread_time()
                if len(jobs) > 1:
                    finished.extend(self._answer_together(jobs))
                else:
                    loop, future, argument = jobs[0]
                    finished.append((loop, self._answer(future, argument)))
                self._observe(len(jobs), time.thread_time() - cpu)
                if time.monotonic() - first_started >= _HAND_BACK_WINDOW:
                    _hand_back(finished)
                    finished = []

    def _together_size(self) -> int:
        """How many jobs run as one call.

        A joint call makes its first caller wait for the others' rows; that wait, (size - 1)
        times what a further job adds, stays within ``_HAND_BACK_WINDOW``. Until a joint call
        was measured, a job is taken to add a whole single call; see ``_PROBE_LIMIT`` for
        models whose single call is longer than the window. Times are this thread's CPU time,
        so waiting for the GIL does not count.
        """
        if self._run_together is None or self._single == _UNMEASURED:
            return 1
        extra = self._extra
        if extra is None:
            if self._single > _PROBE_LIMIT:
                return 1
            if self._single > _HAND_BACK_WINDOW:
                return 2
            extra = self._single
        return 1 + int(_HAND_BACK_WINDOW / max(extra, 1e-7))

    def _observe(self, jobs: int, seconds: float) -> None:
        if jobs == 1:
            self._single = _average(self._single, seconds)
        elif self._single != _UNMEASURED:
            extra = max(0.0, (seconds - self._single) / (jobs - 1))
            self._extra = extra if self._extra is None else _average(self._extra, extra)

    def _answer_together(self, jobs: _Batch) -> list[tuple[asyncio.AbstractEventLoop, _Answer]]:
        """One run for all ``jobs``; one run each if that fails, so each error is its caller's."""
        assert self._run_together is not None
        try:
            values = self._run_together([argument for _, _, argument in jobs])
        except Exception:
            values = None
        if values is None or len(values) != len(jobs):
            return [(loop, self._answer(future, argument)) for loop, future, argument in jobs]
        answered = zip(jobs, values, strict=True)
        return [(loop, (future, True, value)) for (loop, future, _), value in answered]

    def _answer(self, future: asyncio.Future[Any], argument: Any) -> _Answer:
        try:
            return future, True, self._run(argument)
        except MlgateError as error:  # the model refused the caller's input (Invalid)
            return future, False, error
        except Exception as error:  # the runtime's own errors, as the Backend protocol says
            failure = ProtocolFailure(f"in-process model failed: {type(error).__name__}")
            return future, False, failure


def _hand_back(finished: list[tuple[asyncio.AbstractEventLoop, _Answer]]) -> None:
    by_loop: dict[asyncio.AbstractEventLoop, list[_Answer]] = {}
    for loop, answer in finished:
        by_loop.setdefault(loop, []).append(answer)
    for loop, answers in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits
            loop.call_soon_threadsafe(_settle, answers)


def _average(old: float, new: float) -> float:
    """A moving average that follows the last few observations."""
    return new if old == _UNMEASURED else old + 0.2 * (new - old)


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(TimeoutFailure("in-process model did not answer in time"))


def _settle(results: list[_Answer]) -> None:
    for future, ok, value in results:
        if future.done():  # the caller timed out or went away
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
