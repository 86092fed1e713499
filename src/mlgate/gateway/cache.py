"""The last good answer per request, for the ``cached`` degradation mode: bounded and timed.

Each answer remembers the subject (its pseudonym) of the request it answered, so that an
erasure reaches it: :meth:`AnswerCache.forget` drops a subject's answers when the gateway
learns of the erasure, and for ``ERASED_MEMORY_SECONDS`` after that no answer for that subject
is remembered, since a request received before the erasure may still be in flight.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

from mlgate.gateway.table import CompiledTarget

__all__ = ["ERASED_MEMORY_SECONDS", "AnswerCache"]

ERASED_MEMORY_SECONDS = 900.0
"""How long answers for an erased subject are refused: longer than any request may take (a
route's deadline is 600 s at most) plus the time the gateway takes to hear of the erasure."""


class AnswerCache:
    """An LRU of at most ``entries`` answers and ``max_bytes`` of them, keyed by the canonical
    JSON of inputs and parameters.

    Parameters are part of the key because they change the answer (a threshold, a top-k);
    none and an empty object are the same request. Answers are kept as their JSON, which is
    what the byte bound counts (as Python objects they took several times as much), and read
    back only when the route degrades; one answer over the bound is not kept. Subjects do not
    key it (equal inputs get equal answers, whoever asks): an answer goes with the subject of
    the last request that gave it.
    """

    def __init__(
        self,
        entries: int = 1024,
        *,
        max_bytes: int = 64 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._entries = entries
        self._max_bytes = max_bytes
        self._bytes = 0
        self._clock = clock
        self._answers: OrderedDict[str, tuple[float, bytes, CompiledTarget, str | None]] = (
            OrderedDict()
        )
        self._erased: dict[str, float] = {}  # subject -> when this cache heard of its erasure

    @staticmethod
    def _key(inputs: Any, parameters: Mapping[str, Any] | None) -> str:
        request = (inputs, parameters or None)  # always a pair, so no inputs alone look like one
        canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def remember(
        self,
        inputs: Any,
        parameters: Mapping[str, Any] | None,
        outputs: Any,
        served: CompiledTarget,
        *,
        subject: str | None = None,
    ) -> None:
        """Keep ``outputs`` as the answer to this request; ``subject`` is its pseudonym."""
        if subject is not None and self._erased and self._recently_erased(subject):
            return
        key = self._key(inputs, parameters)
        answer = orjson.dumps(outputs)  # as the answer itself was: JSON the caller could read
        replaced = self._answers.pop(key, None)
        if replaced is not None:
            self._bytes -= len(replaced[1])
        if len(answer) > self._max_bytes:
            return
        self._answers[key] = (self._clock(), answer, served, subject)
        self._bytes += len(answer)
        while len(self._answers) > self._entries or self._bytes > self._max_bytes:
            self._bytes -= len(self._answers.popitem(last=False)[1][1])

    def recall(
        self, inputs: Any, parameters: Mapping[str, Any] | None, *, ttl: float
    ) -> tuple[Any, CompiledTarget] | None:
        """The answer remembered for ``inputs`` and ``parameters`` if younger than ``ttl`` s."""
        hit = self._answers.get(self._key(inputs, parameters))
        if hit is None or self._clock() - hit[0] > ttl:
            return None
        return orjson.loads(hit[1]), hit[2]

    def forget(self, subjects: Iterable[str]) -> int:
        """Drop every answer given to one of ``subjects`` (pseudonyms of erased subjects), and
        keep none for them for ``ERASED_MEMORY_SECONDS``; returns how many were dropped."""
        now = self._clock()
        self._erased = {s: at for s, at in self._erased.items() if now - at < ERASED_MEMORY_SECONDS}
        self._erased.update(dict.fromkeys(subjects, now))
        gone = [key for key, hit in self._answers.items() if hit[3] in self._erased]
        for key in gone:
            self._bytes -= len(self._answers.pop(key)[1])
        return len(gone)

    def _recently_erased(self, subject: str) -> bool:
        erased_at = self._erased.get(subject)
        if erased_at is None:
            return False
        if self._clock() - erased_at < ERASED_MEMORY_SECONDS:
            return True
        del self._erased[subject]
        return False
