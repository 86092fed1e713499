"""The last good answer per request, for the ``cached`` degradation mode: bounded and timed."""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from mlgate.gateway.table import CompiledTarget

__all__ = ["AnswerCache"]


class AnswerCache:
    """An LRU of ``entries`` answers keyed by the canonical JSON of inputs and parameters.

    Parameters are part of the key because they change the answer (a threshold, a top-k);
    none and an empty object are the same request.
    """

    def __init__(self, entries: int = 1024, *, clock: Callable[[], float] = time.monotonic):
        self._entries = entries
        self._clock = clock
        self._answers: OrderedDict[str, tuple[float, Any, CompiledTarget]] = OrderedDict()

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
        self._answers[key] = (self._clock(), outputs, served)
        self._answers.move_to_end(key)
        while len(self._answers) > self._entries:
            self._answers.popitem(last=False)

    def recall(
        self, inputs: Any, parameters: Mapping[str, Any] | None, *, ttl: float
    ) -> tuple[Any, CompiledTarget] | None:
        """The answer remembered for ``inputs`` and ``parameters`` if younger than ``ttl`` s."""
        hit = self._answers.get(self._key(inputs, parameters))
        if hit is None or self._clock() - hit[0] > ttl:
            return None
        return hit[1], hit[2]
