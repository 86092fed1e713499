"""Sliding-window counts agree with a plain list of timestamped events, whatever the clock does."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from mlgate.gateway.resilience.window import SlidingCounts
from tests.clocks import ManualClock

NAMES = ("calls", "failures")
WINDOW, BUCKETS = 10.0, 10

steps = st.lists(
    st.one_of(
        st.tuples(st.just("tick"), st.floats(min_value=-3.0, max_value=15.0)),
        st.tuples(st.just("add"), st.sampled_from(NAMES), st.integers(1, 3)),
        st.tuples(st.just("reset")),
    ),
    max_size=200,
)


@given(steps)
def test_totals_match_a_naive_count_of_the_events_in_the_window(operations: list[tuple]) -> None:  # type: ignore[type-arg]
    clock = ManualClock(1_000.0)
    counts = SlidingCounts(NAMES, window=WINDOW, buckets=BUCKETS, clock=clock)
    width = WINDOW / BUCKETS
    events: dict[int, list[int]] = {}  # bucket index -> [epoch, calls, failures], as stored

    def expected() -> list[int]:
        oldest = math.floor(clock() / width) - BUCKETS
        return [sum(v[1 + i] for v in events.values() if v[0] > oldest) for i in range(len(NAMES))]

    for operation in operations:
        if operation[0] == "tick":
            clock.advance(operation[1])
        elif operation[0] == "add":
            _, name, amount = operation
            counts.add(name, amount)
            epoch = math.floor(clock() / width)
            stored = events.get(epoch % BUCKETS)
            if stored is None or stored[0] != epoch:
                stored = events[epoch % BUCKETS] = [epoch, 0, 0]
            stored[1 + NAMES.index(name)] += amount
        else:
            counts.reset()
            events.clear()
        assert counts.totals() == expected()
        assert [counts.total(name) for name in NAMES] == expected()


def test_an_event_is_forgotten_once_the_window_has_passed() -> None:
    clock = ManualClock(0.0)
    counts = SlidingCounts(NAMES, window=WINDOW, buckets=BUCKETS, clock=clock)
    counts.add("failures")
    clock.advance(WINDOW - WINDOW / BUCKETS - 0.01)
    assert counts.total("failures") == 1
    clock.advance(WINDOW / BUCKETS + 0.02)
    assert counts.total("failures") == 0


def test_a_clock_that_steps_back_a_whole_window_replaces_the_slot_it_lands_on() -> None:
    clock = ManualClock(1_000.0)
    counts = SlidingCounts(NAMES, window=WINDOW, buckets=BUCKETS, clock=clock)
    clock.advance(WINDOW)
    counts.add("calls", 5)  # stored in the slot that 1,000.0 shares
    clock.advance(-WINDOW)
    counts.add("calls")
    assert counts.totals() == [1, 0]
