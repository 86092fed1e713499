"""The last good answer per request, for the ``cached`` degradation mode: bounded and timed."""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from mlgate.gateway.table import CompiledTarget

__all__ = ["AnswerCache"]


class AnswerCache:
    """An LRU of at most ``entries`` answers and ``max_bytes`` of them, keyed by the canonical
    JSON of inputs and parameters.

    Parameters are part of the key because they change the answer (a threshold, a top-k);
    none and an empty object are the same request. Answers are kept as their JSON, which is
    what the byte bound counts (as Python objects they took several times as much), and read
    back only when the route degrades; one answer over the bound is not kept.
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
        self._answers: OrderedDict[str, tuple[float, bytes, CompiledTarget]] = OrderedDict()

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
    ) -> None:
        key = self._key(inputs, parameters)
        answer = orjson.dumps(outputs)  # as the answer itself was: JSON the caller could read
        replaced = self._answers.pop(key, None)
        if replaced is not None:
            self._bytes -= len(replaced[1])
        if len(answer) > self._max_bytes:
            return
        self._answers[key] = (self._clock(), answer, served)
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
