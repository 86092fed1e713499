"""The cached-degradation store: keyed on inputs and parameters, timed, and bounded."""

from __future__ import annotations

from mlgate.gateway.cache import ERASED_MEMORY_SECONDS, AnswerCache
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


ALICE = "a" * 64  # subjects as the cache sees them: pseudonyms
BOB = "b" * 64


def test_an_erased_subjects_answers_are_forgotten_and_the_others_kept() -> None:
    cache = AnswerCache(clock=ManualClock())
    cache.remember([1], None, "for alice", TARGET, subject=ALICE)
    cache.remember([2], None, "for alice too", TARGET, subject=ALICE)
    cache.remember([3], None, "for bob", TARGET, subject=BOB)
    cache.remember([4], None, "for nobody in particular", TARGET)
    assert cache.forget([ALICE]) == 2
    assert cache.recall([1], None, ttl=60) is None
    assert cache.recall([2], None, ttl=60) is None
    assert cache.recall([3], None, ttl=60) == ("for bob", TARGET)
    assert cache.recall([4], None, ttl=60) == ("for nobody in particular", TARGET)


def test_an_answer_is_the_last_requests_and_goes_with_its_subject() -> None:
    cache = AnswerCache(clock=ManualClock())
    cache.remember([1], None, "same", TARGET, subject=BOB)
    cache.remember([1], None, "same", TARGET, subject=ALICE)  # alice asked last
    cache.forget([ALICE])
    assert cache.recall([1], None, ttl=60) is None


def test_an_answer_for_a_subject_erased_moments_ago_is_not_remembered() -> None:
    """A request received before the erasure may still be in flight when the cache hears of
    it (deadlines run to 600 s): what it answers later must not be kept either."""
    clock = ManualClock()
    cache = AnswerCache(clock=clock)
    cache.forget([ALICE])
    clock.advance(ERASED_MEMORY_SECONDS - 1)
    cache.remember([1], None, "late answer", TARGET, subject=ALICE)
    assert cache.recall([1], None, ttl=60) is None
    cache.remember([2], None, "for bob", TARGET, subject=BOB)
    assert cache.recall([2], None, ttl=60) == ("for bob", TARGET)
    clock.advance(2)  # long after: a new request of the same person is new processing
    cache.remember([1], None, "new answer", TARGET, subject=ALICE)
    assert cache.recall([1], None, ttl=60) == ("new answer", TARGET)
