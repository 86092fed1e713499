"""The cached-degradation store: keyed on inputs and parameters, timed, and bounded."""

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
    cache.remember({"b": 2, "a": [1]}, None, "yes", TARGET)
    assert cache.recall({"a": [1], "b": 2}, None, ttl=10) == ("yes", TARGET)  # key order
    assert cache.recall({"a": [1], "b": 3}, None, ttl=10) is None
    clock.advance(10.5)
    assert cache.recall({"a": [1], "b": 2}, None, ttl=10) is None


def test_the_oldest_answers_leave_first_when_full() -> None:
    cache = AnswerCache(entries=2, clock=ManualClock())
    for value in range(3):
        cache.remember(value, None, f"answer {value}", TARGET)
    assert cache.recall(0, None, ttl=60) is None
    assert cache.recall(2, None, ttl=60) == ("answer 2", TARGET)


def test_an_answer_is_recalled_only_for_the_parameters_it_was_given() -> None:
    cache = AnswerCache(clock=ManualClock())
    cache.remember([1], {"threshold": 0.9}, "strict", TARGET)
    cache.remember([1], None, "default", TARGET)
    assert cache.recall([1], {"threshold": 0.9}, ttl=60) == ("strict", TARGET)
    assert cache.recall([1], {"threshold": 0.1}, ttl=60) is None
    assert cache.recall([1], None, ttl=60) == ("default", TARGET)
    assert cache.recall([1], {}, ttl=60) == ("default", TARGET)  # no parameters, either way


def test_inputs_alone_never_recall_an_answer_given_with_parameters() -> None:
    cache = AnswerCache(clock=ManualClock())
    cache.remember([1], {"k": 2}, "with parameters", TARGET)
    assert cache.recall([[1], {"k": 2}], None, ttl=60) is None


def test_answers_are_bounded_by_their_bytes_too() -> None:
    cache = AnswerCache(max_bytes=100, clock=ManualClock())
    for value in range(3):
        cache.remember(value, None, "x" * 40, TARGET)  # 42 bytes of JSON each
    assert cache.recall(0, None, ttl=60) is None  # three would pass 100 bytes
    assert cache.recall(2, None, ttl=60) == ("x" * 40, TARGET)
    cache.remember(3, None, "y" * 200, TARGET)  # over the bound alone: not kept
    assert cache.recall(3, None, ttl=60) is None
    assert cache.recall(1, None, ttl=60) == ("x" * 40, TARGET)  # and nothing pushed out
    cache.remember(1, None, {"a": [1, 2]}, TARGET)  # a new answer for the same inputs
    assert cache.recall(1, None, ttl=60) == ({"a": [1, 2]}, TARGET)
