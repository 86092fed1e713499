"""A circuit breaker whose state lives in Redis, so every gateway replica sees one breaker.

Same behaviour and interface as :class:`MemoryBreaker`, with a time-based window only. Keys
(one Redis Cluster slot per breaker thanks to the ``{name}`` hash tag):

- ``<prefix>{<name>}:state`` — a hash (``opened_at``, ``probes``, ``successes``) that exists
  only while the breaker is OPEN or HALF_OPEN; its TTL bounds how long a trip can outlive the
  replicas that saw it.
- ``<prefix>{<name>}:window`` — a hash of per-bucket counters (``<epoch>:c`` calls,
  ``<epoch>:f`` failures); stale buckets are deleted as the window slides.

Each transition is one Lua script, so concurrent replicas cannot admit more probes than allowed
or trip twice. Time comes from the caller's wall clock (replicas must agree on it, hence
``time.time``, not ``time.monotonic``). When Redis is unreachable or slower than
``redis_timeout`` the breaker fails open: it admits calls and logs, since losing the breaker
must not take the gateway down; it then leaves Redis alone for ``redis_backoff`` seconds
(``redisreach``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from redis.asyncio import Redis

from mlgate.gateway.resilience.breaker import BreakerConfig, BreakerState
from mlgate.gateway.resilience.deadline import Clock
from mlgate.gateway.resilience.redisreach import RedisReach, Unreachable

__all__ = ["RedisBreaker"]

T = TypeVar("T")

_ALLOW = """
local opened = redis.call('HGET', KEYS[1], 'opened_at')
if not opened then return 1 end
local now = tonumber(ARGV[1])
local open_s = tonumber(ARGV[2])
opened = tonumber(opened)
if now - opened < open_s then return 0 end
local probes = tonumber(redis.call('HGET', KEYS[1], 'probes') or '0')
if probes >= tonumber(ARGV[3]) then
  if now - opened < 2 * open_s then return 0 end
  redis.call('HSET', KEYS[1], 'opened_at', tostring(now - open_s), 'probes', 0, 'successes', 0)
end
redis.call('HINCRBY', KEYS[1], 'probes', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 2
"""

_RECORD = """
local now = tonumber(ARGV[1])
local failed = ARGV[2] == '1'
local open_s = tonumber(ARGV[3])
local opened = redis.call('HGET', KEYS[1], 'opened_at')
if opened then
  if now - tonumber(opened) < open_s then return 'open' end
  if failed then
    redis.call('HSET', KEYS[1], 'opened_at', ARGV[1], 'probes', 0, 'successes', 0)
    redis.call('PEXPIRE', KEYS[1], ARGV[5])
    return 'open'
  end
  if redis.call('HINCRBY', KEYS[1], 'successes', 1) >= tonumber(ARGV[4]) then
    redis.call('DEL', KEYS[1], KEYS[2])
    return 'closed'
  end
  return 'half_open'
end
local buckets = tonumber(ARGV[7])
local epoch = math.floor(now / tonumber(ARGV[6]))
redis.call('HINCRBY', KEYS[2], string.format('%d:c', epoch), 1)
if failed then redis.call('HINCRBY', KEYS[2], string.format('%d:f', epoch), 1) end
redis.call('PEXPIRE', KEYS[2], ARGV[10])
local fields = redis.call('HGETALL', KEYS[2])
local calls, failures = 0, 0
for i = 1, #fields, 2 do
  local name = fields[i]
  local sep = string.find(name, ':', 1, true)
  local bucket = tonumber(string.sub(name, 1, sep - 1))
  if bucket <= epoch - buckets then
    redis.call('HDEL', KEYS[2], name)
  elseif string.sub(name, sep + 1) == 'c' then
    calls = calls + tonumber(fields[i + 1])
  else
    failures = failures + tonumber(fields[i + 1])
  end
end
if calls >= tonumber(ARGV[8]) and failures >= tonumber(ARGV[9]) * calls then
  redis.call('HSET', KEYS[1], 'opened_at', ARGV[1], 'probes', 0, 'successes', 0)
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  redis.call('DEL', KEYS[2])
  return 'open'
end
return 'closed'
"""


class RedisBreaker:
    """A circuit breaker for one target, shared by every replica using the same Redis."""

    __slots__ = (
        "_allow",
        "_clock",
        "_keys",
        "_reach",
        "_record",
        "_redis",
        "config",
        "name",
    )

    def __init__(
        self,
        name: str,
        redis: Redis,
        config: BreakerConfig | None = None,
        *,
        prefix: str = "mlgate:breaker:",
        clock: Clock = time.time,
        redis_timeout: float = 0.05,
        redis_backoff: float = 1.0,
    ) -> None:
        self.name = name
        self.config = config or BreakerConfig()
        if self.config.window_calls is not None:
            raise ValueError("the Redis breaker has a time-based window only")
        self._redis = redis
        self._clock = clock
        self._reach = RedisReach(
            "breaker state in Redis unavailable; failing open",
            timeout=redis_timeout,
            backoff=redis_backoff,
            extra={"target": name},
        )
        self._keys = [f"{prefix}{{{name}}}:state", f"{prefix}{{{name}}}:window"]
        self._allow = redis.register_script(_ALLOW)
        self._record = redis.register_script(_RECORD)

    @property
    def _state_ttl_ms(self) -> int:
        # Long enough to cover the open period plus a slow half-open, short enough that a
        # breaker nobody probes any more forgets the trip.
        return int((3 * self.config.open_seconds + self.config.window_seconds) * 1000)

    async def _ask(self, operation: Awaitable[T]) -> T | None:
        """The answer of Redis, or None when it is down or slow (the breaker then fails open)."""
        try:
            return await self._reach.ask(operation)
        except Unreachable:
            return None

    async def allow(self) -> bool:
        args: list[Any] = [
            repr(self._clock()),
            self.config.open_seconds,
            self.config.half_open_probes,
            self._state_ttl_ms,
        ]
        answer = await self._ask(self._allow(keys=self._keys[:1], args=args))
        return answer is None or int(answer) > 0

    async def record_success(self) -> None:
        await self._report(failed=False)

    async def record_failure(self) -> None:
        await self._report(failed=True)

    async def _report(self, *, failed: bool) -> None:
        config = self.config
        buckets = 10
        args: list[Any] = [
            repr(self._clock()),
            "1" if failed else "0",
            config.open_seconds,
            config.probe_successes,
            self._state_ttl_ms,
            config.window_seconds / buckets,
            buckets,
            config.minimum_calls,
            config.failure_rate,
            int(config.window_seconds * 2000),
        ]
        await self._ask(self._record(keys=self._keys, args=args))

    async def state(self) -> BreakerState:
        opened = await self._ask(self._redis.hget(self._keys[0], "opened_at"))
        if opened is None:
            return BreakerState.CLOSED
        if self._clock() - float(opened) < self.config.open_seconds:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN
