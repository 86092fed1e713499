"""The last good answer per input, for the ``cached`` degradation mode: bounded and timed."""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from mlgate.gateway.table import CompiledTarget

__all__ = ["AnswerCache"]


class AnswerCache:
    """An LRU of ``entries`` answers keyed by the canonical JSON of their inputs."""

    def __init__(self, entries: int = 1024, *, clock: Callable[[], float] = time.monotonic):
        self._entries = entries
        self._clock = clock
        self._answers: OrderedDict[str, tuple[float, Any, CompiledTarget]] = OrderedDict()

    @staticmethod
    def _key(inputs: Any) -> str:
        canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def remember(self, inputs: Any, outputs: Any, served: CompiledTarget) -> None:
        key = self._key(inputs)
        self._answers[key] = (self._clock(), outputs, served)
        self._answers.move_to_end(key)
        while len(self._answers) > self._entries:
            self._answers.popitem(last=False)

    def recall(self, inputs: Any, *, ttl: float) -> tuple[Any, CompiledTarget] | None:
        """The answer remembered for ``inputs`` if it is younger than ``ttl`` seconds."""
        hit = self._answers.get(self._key(inputs))
        if hit is None or self._clock() - hit[0] > ttl:
            return None
        return hit[1], hit[2]
