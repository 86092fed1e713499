"""The bulkhead rejects at once when full and gives its slots back exactly once."""

from __future__ import annotations

import pytest

from mlgate.errors import Unavailable
from mlgate.gateway.resilience import Bulkhead


def test_rejects_immediately_with_retry_after_when_full() -> None:
    bulkhead = Bulkhead("model-a", 2, retry_after=0.5)
    first, second = bulkhead.acquire(), bulkhead.acquire()
    with pytest.raises(Unavailable) as caught:
        bulkhead.acquire()
    assert caught.value.retry_after == 0.5
    assert caught.value.status == 503
    first.release()
    second.release()
    assert bulkhead.in_flight == 0


def test_slot_released_twice_frees_only_one_place() -> None:
    bulkhead = Bulkhead("model-a", 2)
    slot = bulkhead.acquire()
    bulkhead.acquire()
    slot.release()
    slot.release()
    assert bulkhead.in_flight == 1


def test_with_block_releases_even_on_error() -> None:
    bulkhead = Bulkhead("model-a", 1)
    with pytest.raises(RuntimeError), bulkhead.acquire():
        raise RuntimeError("backend exploded")
    assert bulkhead.in_flight == 0
    with bulkhead.acquire():
        assert bulkhead.in_flight == 1
