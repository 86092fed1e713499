"""The cached-degradation store: answers expire after their TTL and the store stays bounded."""

from __future__ import annotations

from mlgate.gateway.cache import AnswerCache
from mlgate.gateway.table import CompiledTarget
from tests.clocks import ManualClock

TARGET = CompiledTarget(
    name="m@1", model="m", version=1, framework="onnx", artifact_sha256=None, upstream=None
)


def test_an_answer_is_recalled_for_equal_inputs_until_its_ttl_passes() -> None:
    clock = ManualClock()
    cache = AnswerCache(clock=clock)
    cache.remember({"b": 2, "a": [1]}, "yes", TARGET)
    assert cache.recall({"a": [1], "b": 2}, ttl=10) == ("yes", TARGET)  # key order is irrelevant
    assert cache.recall({"a": [1], "b": 3}, ttl=10) is None
    clock.advance(10.5)
    assert cache.recall({"a": [1], "b": 2}, ttl=10) is None


def test_the_oldest_answers_leave_first_when_full() -> None:
    cache = AnswerCache(entries=2, clock=ManualClock())
    for value in range(3):
        cache.remember(value, f"answer {value}", TARGET)
    assert cache.recall(0, ttl=60) is None
    assert cache.recall(2, ttl=60) == ("answer 2", TARGET)
