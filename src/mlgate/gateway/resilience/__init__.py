"""Resilience of the data plane: deadlines, retries within a budget, breakers, bulkheads.

The executor composing them with backends lives one level up, in ``mlgate.gateway.call``.
"""

from mlgate.gateway.resilience.breaker import (
    BreakerConfig,
    BreakerState,
    CircuitBreaker,
    MemoryBreaker,
)
from mlgate.gateway.resilience.bulkhead import Bulkhead, BulkheadSlot
from mlgate.gateway.resilience.deadline import Clock, Deadline
from mlgate.gateway.resilience.failures import (
    RETRYABLE_STATUSES,
    ConnectFailure,
    ProtocolFailure,
    StatusFailure,
    StreamInterrupted,
    TimeoutFailure,
    UpstreamFailure,
)
from mlgate.gateway.resilience.retry import RetryBudget, RetryPolicy, parse_retry_after
from mlgate.gateway.resilience.shared_breaker import RedisBreaker

__all__ = [
    "RETRYABLE_STATUSES",
    "BreakerConfig",
    "BreakerState",
    "Bulkhead",
    "BulkheadSlot",
    "CircuitBreaker",
    "Clock",
    "ConnectFailure",
    "Deadline",
    "MemoryBreaker",
    "ProtocolFailure",
    "RedisBreaker",
    "RetryBudget",
    "RetryPolicy",
    "StatusFailure",
    "StreamInterrupted",
    "TimeoutFailure",
    "UpstreamFailure",
    "parse_retry_after",
]
