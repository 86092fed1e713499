"""The data plane: authenticate, limit, validate, route, call resiliently, degrade, log.

Per request it touches only memory (the route table, breakers, caches) and, when configured,
Redis for shared limits and breakers. SQL is read by the refresher, off the hot path, when the
audit-chain head moves; the new table is compiled, its backends loaded, and then swapped in
with one assignment, so a request sees either the old table or the new one, never a mix. The
refresher also reads the subject erasures recorded since its last look, and drops their
answers from the routes' caches.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr
from sqlalchemy.orm import Session

from mlgate.auth.keys import hash_key, parse_key
from mlgate.clock import utcnow
from mlgate.errors import (
    FieldError,
    Forbidden,
    Invalid,
    MlgateError,
    NotFound,
    RateLimited,
    Unauthorized,
    Unavailable,
)
from mlgate.gateway.backends.base import Backend, InferenceRequest
from mlgate.gateway.backends.http import make_client
from mlgate.gateway.cache import AnswerCache
from mlgate.gateway.call import (
    AllTargetsFailed,
    Attempt,
    Target,
    TargetRefused,
    call_with_resilience,
)
from mlgate.gateway.ratelimit import RateLimiter
from mlgate.gateway.requestlog import (
    CapturedPayload,
    RecordSink,
    RequestLogRecord,
    RequestLogWriter,
)
from mlgate.gateway.resilience import Bulkhead, CircuitBreaker, Deadline, RetryBudget, RetryPolicy
from mlgate.gateway.table import CompiledRoute, CompiledTarget, KeyGrant, RouteTable
from mlgate.gateway.targets import TargetPool
from mlgate.gateway.watch import IncidentWatch
from mlgate.ids import new_id
from mlgate.monitoring.collector import DriftCollector
from mlgate.monitoring.metrics import GatewayMetrics
from mlgate.privacy.erasures import erased_since
from mlgate.privacy.subjects import subject_pseudonym
from mlgate.runtime import Runtime

__all__ = ["Answer", "Caller", "Gateway", "InputsRefused", "UpstreamRefused", "served_by"]

logger = logging.getLogger(__name__)
STALE_CHECK_SPACING = 0.2
STALE_WAITERS = 32
_STATE_VALUE = {"closed": 0, "half_open": 1, "open": 2}
# Upstream refusals that mean the inputs were wrong; any other 4xx means the route is.
INPUT_REFUSALS = frozenset({400, 413, 422})


@dataclass(frozen=True, slots=True)
class Caller:
    grant: KeyGrant
    subject: str | None
    request_id: str = "-"


@dataclass(frozen=True, slots=True)
class Answer:
    body: dict[str, Any]
    headers: dict[str, str]
    status: int = 200


RouteIdentity = tuple[str, tuple[CompiledTarget, ...], CompiledTarget | None]


@dataclass
class _RouteState:
    """What a route keeps between requests, for as long as it serves the same targets.

    ``identity`` (model, targets, canary) changes when the route is recreated or serves
    something else: the state then starts afresh, so no cached answer of what it served
    before comes back as a degraded answer.
    """

    identity: RouteIdentity
    budget: RetryBudget
    policy: RetryPolicy
    cache: AnswerCache = field(default_factory=AnswerCache)


class InputsRefused(Invalid):
    """422: the route's upstream refused the request's inputs (it answered 400, 413 or 422)."""

    def __init__(self, field: str, message: str, *, served: dict[str, str]) -> None:
        super().__init__(f"{field}: {message}", errors=[FieldError(field, message)])
        self.served = served


class UpstreamRefused(MlgateError):
    """502: the route's upstream refused the call with another 4xx (401, 403, 404, ...)."""

    status = 502
    slug = "bad-gateway"
    title = "Bad gateway"

    def __init__(self, detail: str, *, served: dict[str, str]) -> None:
        super().__init__(detail)
        self.served = served


SecretResolver = Callable[[Session, str], SecretStr]
PAYLOAD_MODES = ("redacted", "full")


class Gateway:
    """The data plane of one process.

    ``log_sinks`` prepare each batch of request logs in the writer thread and store their part
    in the batch's transaction (privacy's PayloadSink stores payloads of routes in log mode
    redacted/full); ``resolve_secret`` turns an upstream's secret name into its value when the
    route table is compiled.
    """

    def __init__(
        self,
        runtime: Runtime,
        *,
        refresh_seconds: float = 1.0,
        log_sinks: Sequence[RecordSink] = (),
        resolve_secret: SecretResolver | None = None,
    ) -> None:
        self.runtime = runtime
        self.resolve_secret = resolve_secret
        self.refresh_seconds = refresh_seconds
        self.drift_flush_seconds = runtime.settings.drift_flush_seconds
        self.table = RouteTable.empty()
        self.metrics = GatewayMetrics()
        redis_url = runtime.settings.redis_url
        url = redis_url.get_secret_value() if redis_url else None
        prefix = runtime.settings.redis_prefix
        self._redis: Any = None
        self._redis_pool: Any = None
        if url:
            from redis.asyncio import ConnectionPool, Redis

            # One pool for the shared breakers and the shared limits.
            self._redis_pool = ConnectionPool.from_url(url)
            self._redis = Redis(connection_pool=self._redis_pool)
            self.limiter = RateLimiter.over_redis(url, self._redis_pool, prefix=f"{prefix}:rl")
        else:
            self.limiter = RateLimiter()
        self._pool: TargetPool | None = None
        self._states: dict[str, _RouteState] = {}
        self._refresher: asyncio.Task[None] | None = None
        self.watch = IncidentWatch(runtime)
        self._stopping = asyncio.Event()
        self._refresh_lock = asyncio.Lock()
        self._last_stale_check = 0.0
        self._stale_lock = asyncio.Lock()
        self._stale_waiters = 0
        self._next_check: asyncio.Future[None] | None = None
        self._used_keys: set[str] = set()
        self._erasures_seen: int | None = None  # the audit seq up to which caches forgot
        self.drift = DriftCollector(runtime.db, on_drop=self.metrics.drift_dropped.inc)
        self._last_drift_flush = time.monotonic()
        self.log = RequestLogWriter(
            runtime.db,
            on_drop=self.metrics.logs_dropped.inc,
            on_written=self.metrics.logs_written.inc,
            sinks=log_sinks,
        )

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        blobs = self.runtime.blobs
        self._pool = TargetPool(
            client=make_client(),
            blob_path=blobs.path,
            redis=self._redis,
            redis_prefix=f"{self.runtime.settings.redis_prefix}:breaker:",
            trusted_keys=self.runtime.settings.trusted_keys,
        )
        self.log.start()
        try:
            await self.refresh()
        except Exception:  # e.g. a store not migrated yet: serve nothing, retry every tick
            logger.exception("initial route table could not be compiled")
        self._stopping = asyncio.Event()
        self._refresher = asyncio.get_running_loop().create_task(self._refresh_loop())

    async def stop(self) -> None:
        if self._refresher is not None:
            # Not cancelled: a refresh in flight finishes, so its thread gives its database
            # connection back before the engine is disposed.
            self._stopping.set()
            await self._refresher
            with contextlib.suppress(Exception):  # best effort on the way out
                await self.report_key_use()
        await self.drift.flush(final=True)
        await self.log.stop()
        if self._pool is not None:
            self._pool.retire(keep=set())
            await self._pool.client.close()
        if self._redis is not None:
            await self._redis.aclose()
            await self._redis_pool.disconnect()

    async def _refresh_loop(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.refresh_seconds)
            if self._stopping.is_set():
                return
            try:
                head = await asyncio.to_thread(self._head)
                if head != self.table.revision or head != self._erasures_seen:
                    await self.refresh()
            except Exception:  # the old table keeps serving; the next tick tries again
                logger.exception("route table refresh failed")
            try:
                states = await self.breaker_states()
                await asyncio.to_thread(self.watch.report, states)
            except Exception:
                logger.exception("incident watch failed")
            try:
                await self.report_key_use()
            except Exception:  # kept for the next tick
                logger.exception("key use could not be recorded")
            due = time.monotonic() - self._last_drift_flush >= self.drift_flush_seconds
            if due or self.drift.filling:  # a busy gateway flushes early rather than drop
                self._last_drift_flush = time.monotonic()
                await self.drift.flush()

    async def report_key_use(self) -> None:
        """Write the keys used since the last report to their ``last_used_at`` (one UPDATE).

        The hot path only adds a key id to a set: no SQL per request.
        """
        used, self._used_keys = self._used_keys, set()
        if not used:
            return
        from mlgate.auth import service as auth

        def write() -> None:
            with self.runtime.db.unit_of_work() as session:
                auth.mark_used(session, key_ids=used)

        try:
            await asyncio.to_thread(write)
        except BaseException:
            self._used_keys |= used
            raise

    def _head(self) -> int:
        from mlgate.audit import service as audit

        with self.runtime.db.unit_of_work() as session:
            return audit.head(session)[0]

    async def _catch_up(self) -> None:
        """Catch up with the control plane now (unknown keys only), five head checks a second.

        A key issued a moment ago works at once instead of after the next refresh tick. All
        unknown keys that arrive before a check queries share that check, so a flood of them
        costs at most five tiny queries a second, and each waits at most a check's spacing
        rather than its turn in a queue (measured before: 32 callers presenting a revoked key
        got their 401s one by one, 5 a second). At most ``STALE_WAITERS`` requests wait.
        """
        if self._stale_waiters >= STALE_WAITERS:
            return
        self._stale_waiters += 1
        try:
            check = self._next_check
            if check is None:
                check = self._next_check = asyncio.ensure_future(self._check_head())
                check.add_done_callback(_retrieve)
            await asyncio.shield(check)  # a caller that leaves does not cancel the others' check
        finally:
            self._stale_waiters -= 1

    async def _check_head(self) -> None:
        async with self._stale_lock:
            pause = STALE_CHECK_SPACING - (time.monotonic() - self._last_stale_check)
            if pause > 0:
                await asyncio.sleep(pause)
            # From here the query may miss a key issued meanwhile: later arrivals need the next.
            self._next_check = None
            self._last_stale_check = time.monotonic()
            if await asyncio.to_thread(self._head) != self.table.revision:
                await self.refresh()

    async def _forget_erased(self) -> None:
        """Drop the cached answers of subjects erased since the last look (one small query).

        Called by :meth:`refresh` before it compiles, so a table that cannot be compiled does
        not keep an erasure from the caches; an erasure recorded meanwhile moves the head past
        ``_erasures_seen``, and the next tick looks again.
        """
        after = self._erasures_seen

        def read() -> tuple[int, list[str]]:
            with self.runtime.db.unit_of_work() as session:
                return erased_since(session, after)

        head, subjects = await asyncio.to_thread(read)
        if subjects:
            dropped = sum(state.cache.forget(subjects) for state in self._states.values())
            # Counted, never named: a pseudonym is personal data.
            logger.info(
                "cached answers of erased subjects dropped",
                extra={"subjects": len(subjects), "answers": dropped},
            )
        self._erasures_seen = head

    async def refresh(self) -> RouteTable:
        """Compile the table from SQL, load new backends, then swap the table in."""
        from mlgate.gateway.table import compile_route_table

        async with self._refresh_lock:
            await self._forget_erased()

            def compile_() -> RouteTable:
                with self.runtime.db.unit_of_work() as session:
                    return compile_route_table(session, resolve_secret=self.resolve_secret)

            table = await asyncio.to_thread(compile_)
            assert self._pool is not None
            await self._pool.prepare(list(table.routes.values()))
            for name in self._states.keys() - table.routes.keys():
                del self._states[name]  # deleted: a route of that name later starts afresh
            for name, route in table.routes.items():
                state = self._states.get(name)
                r = route.resilience
                policy = RetryPolicy(
                    max_attempts=r.max_attempts, attempt_timeout=r.attempt_timeout_ms / 1000
                )
                identity = (route.model, route.targets, route.canary)
                if state is None or state.identity != identity:
                    budget = RetryBudget(ratio=r.retry_budget_ratio)
                    self._states[name] = _RouteState(identity, budget, policy)
                    continue
                state.policy = policy
                if state.budget.ratio != r.retry_budget_ratio:
                    state.budget = RetryBudget(ratio=r.retry_budget_ratio)
            self.table = table
            self.metrics.table_revision.set(table.revision)
            used = {t.name for r in table.routes.values() for t in (*r.targets, r.canary) if t}
            self._pool.retire(keep=used)
            return table

    # -- the hot path ----------------------------------------------------------------------

    async def authenticate(
        self, presented: str | None, route: str, scope: str = "gateway:invoke"
    ) -> KeyGrant:
        if not presented:
            raise Unauthorized("an API key is required: send 'Authorization: Bearer mlg_…'")
        # A known key is found by its digest alone; the format and checksum are only checked
        # to say why an unknown one is refused (and to spare a refresh for a typo).
        digest = hash_key(self.runtime.secret, presented)
        grant = self.table.keys.get(digest)
        if grant is None:
            if parse_key(presented) is None:
                raise Unauthorized("the API key is malformed or its checksum does not match")
            await self._catch_up()  # someone else's refresh may have brought the key, too
            grant = self.table.keys.get(digest)
        if grant is None:
            raise Unauthorized("the API key is not known (or was revoked)")
        self.authorize(grant, route, scope)
        self._used_keys.add(grant.key_id)
        return grant

    @staticmethod
    def authorize(grant: KeyGrant, route: str, scope: str = "gateway:invoke") -> None:
        reason = grant.may_call(route, utcnow(), scope)
        if reason is not None:
            raise (Unauthorized if "expired" in reason else Forbidden)(reason)

    def route(self, name: str) -> CompiledRoute:
        route = self.table.routes.get(name)
        if route is None:
            raise NotFound(f"route '{name}' does not exist")
        return route

    async def check_limits(self, route: CompiledRoute, grant: KeyGrant) -> None:
        """The key's limit first: a request it refuses does not use up the route's limit."""
        limits = route.limits
        if limits.key_rate:
            try:
                await self.limiter.hit(
                    limits.key_rate, "key", grant.key_id, route.name, limit="this key's"
                )
            except RateLimited:
                self.metrics.rate_limited.labels(route.name, "key").inc()
                raise
        if limits.route_rate:
            try:
                await self.limiter.hit(limits.route_rate, "route", route.name, limit="the route's")
            except RateLimited:
                self.metrics.rate_limited.labels(route.name, "route").inc()
                raise

    def ordered_targets(self, route: CompiledRoute, caller: Caller) -> list[CompiledTarget]:
        targets = list(route.targets)
        if route.canary is not None and route.canary_percent > 0:
            # A caller without a subject sticks by its key, not with every other such caller.
            sticky = caller.subject if route.sticky_by == "subject" else None
            sticky = sticky or caller.grant.key_id
            bucket = int.from_bytes(hashlib.sha256(f"{route.name}:{sticky}".encode()).digest()[:4])
            if bucket % 10_000 < route.canary_percent * 100:
                targets = [route.canary, *[t for t in targets if t.name != route.canary.name]]
        return targets

    def live(self, targets: list[CompiledTarget]) -> list[tuple[CompiledTarget, Backend]]:
        """The targets whose backends are loaded, with them (a refused load is left out)."""
        assert self._pool is not None
        backends = self._pool.backends
        return [(t, backends[t.name]) for t in targets if t.name in backends]

    def budget(self, route: CompiledRoute) -> RetryBudget:
        state = self._states.get(route.name)
        if state is None:  # deleted since the caller looked it up
            raise NotFound(f"route '{route.name}' does not exist")
        return state.budget

    @property
    def breakers(self) -> dict[str, CircuitBreaker]:
        assert self._pool is not None
        return self._pool.breakers

    @property
    def bulkheads(self) -> dict[str, Bulkhead]:
        assert self._pool is not None
        return self._pool.bulkheads

    @staticmethod
    def validate(target: CompiledTarget, inputs: Any) -> None:
        if target.validator is not None:
            target.validator.check(inputs)

    async def predict(
        self, route_name: str, caller: Caller, payload: Any, *, body_bytes: int
    ) -> Answer:
        """Serve ``payload``, parsed from a request body of ``body_bytes``."""
        started = time.perf_counter()
        route = self.route(route_name)
        state = self._states[route.name]
        if not isinstance(payload, dict) or "inputs" not in payload:
            raise Invalid.field("inputs", "the body must be a JSON object with 'inputs'")
        inputs = payload["inputs"]
        parameters = payload.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise Invalid.field("parameters", "must be a JSON object of names and values")
        ordered = self.ordered_targets(route, caller)
        if not ordered:
            raise Unavailable(
                f"route '{route.name}' has no approved target to serve", retry_after=5
            )
        self.validate(ordered[0], inputs)
        if len(ordered) > 1:  # a fallback whose own schema refuses the inputs is not called
            ordered = [ordered[0], *(t for t in ordered[1:] if _accepts(t, inputs))]
        live = self.live(ordered)
        request = InferenceRequest(inputs=inputs, parameters=parameters)
        r = route.resilience
        try:
            outcome = await call_with_resilience(
                [Target(t.name, backend) for t, backend in live],
                request,
                deadline=Deadline.after(r.deadline_ms / 1000),
                policy=state.policy,
                budget=state.budget,
                breakers=self.breakers,
                bulkheads=self.bulkheads,
            )
        except AllTargetsFailed as failure:
            self._count_attempts(route, failure.attempts)
            return self._degrade(route, state, request, failure, started, caller)
        except TargetRefused as refused:
            self._count_attempts(route, refused.attempts)
            raise self.refusal(
                route, live, refused, started, caller, field="inputs", sent="inputs"
            ) from None
        served = next(t for t, _ in live if t.name == outcome.target)
        self._count_attempts(route, outcome.attempts)
        if outcome.fallback:
            self.metrics.fallbacks.labels(route.name).inc()
        if route.degradation.mode == "cached":
            subject = subject_pseudonym(self.runtime.secret, caller.subject)
            state.cache.remember(inputs, parameters, outcome.value.outputs, served, subject=subject)
        if served.drift is not None:
            self.drift.observe(
                route.name,
                served.model,
                served.version,
                served.drift,
                inputs,
                body_bytes=body_bytes,
            )
        self.finish(
            route,
            served,
            "ok",
            200,
            started,
            len(outcome.attempts),
            caller,
            payload=(inputs, outcome.value.outputs),
        )
        return Answer(
            body={
                "outputs": outcome.value.outputs,
                "model": served.model,
                "version": served.version,
            },
            headers=served_by(served, degraded="false"),
        )

    def _count_attempts(self, route: CompiledRoute, attempts: tuple[Attempt, ...]) -> None:
        seen: set[str] = set()
        m = self.metrics
        for attempt in attempts:
            m.child(m.attempts, route.name, attempt.target, attempt.outcome).inc()
            if attempt.reached_backend and attempt.target in seen:
                self.metrics.retries.labels(route.name).inc()
            if attempt.reached_backend:
                seen.add(attempt.target)

    def refusal(
        self,
        route: CompiledRoute,
        live: list[tuple[CompiledTarget, Backend]],
        refused: TargetRefused,
        started: float,
        caller: Caller,
        *,
        field: str,
        sent: str,
    ) -> InputsRefused | UpstreamRefused:
        """Log a request a target refused and say what the refusal means for the caller.

        400, 413 and 422 refuse what the caller sent (``sent``, in ``field``: 422); any other
        4xx means the route's upstream or its credentials are wrong (502): no caller can fix it.
        """
        served = next(t for t, _ in live if t.name == refused.target)
        headers = served_by(served, degraded="false")
        status = refused.status
        error: InputsRefused | UpstreamRefused
        if status in INPUT_REFUSALS:
            message = f"the upstream refused the {sent} (HTTP {status})"
            error = InputsRefused(field, message, served=headers)
        else:
            error = UpstreamRefused(
                f"route '{route.name}': the upstream answered HTTP {status}; the route's "
                "upstream or its credentials need fixing (tell the route's owner)",
                served=headers,
            )
        attempts = len(refused.attempts)
        self.finish(route, served, "upstream_error", error.status, started, attempts, caller)
        return error

    def _degrade(
        self,
        route: CompiledRoute,
        state: _RouteState,
        request: InferenceRequest,
        failure: AllTargetsFailed,
        started: float,
        caller: Caller,
    ) -> Answer:
        mode = route.degradation.mode
        attempts = len(failure.attempts)
        if mode == "static":
            self.metrics.degraded.labels(route.name, "static").inc()
            self.finish(route, None, "degraded_static", 200, started, attempts, caller)
            return Answer(  # no version answered: null in the body, no version header
                body={
                    "outputs": route.degradation.static_response,
                    "model": route.model,
                    "version": None,
                    "degraded": "static",
                },
                headers={"X-MLGate-Model": route.model, "X-MLGate-Degraded": "static"},
            )
        if mode == "cached":
            ttl = route.degradation.cache_ttl_seconds
            hit = state.cache.recall(request.inputs, request.parameters, ttl=ttl)
            # An answer of a target the route no longer serves is not its answer any more.
            if hit is not None and (hit[1] in route.targets or hit[1] == route.canary):
                outputs, served = hit
                self.metrics.degraded.labels(route.name, "cached").inc()
                self.finish(route, served, "degraded_cached", 200, started, attempts, caller)
                return Answer(
                    body={
                        "outputs": outputs,
                        "model": served.model,
                        "version": served.version,
                        "degraded": "cached",
                    },
                    headers=served_by(served, degraded="cached"),
                )
        if all(not a.reached_backend for a in failure.attempts):
            self.metrics.shed.labels(route.name).inc()
        self.finish(route, None, "unavailable", 503, started, attempts, caller)
        raise Unavailable(
            f"route '{route.name}': every target failed and no degraded answer is configured "
            "or cached",
            retry_after=failure.retry_after,
        )

    def finish(
        self,
        route: CompiledRoute,
        served: CompiledTarget | None,
        outcome: str,
        status: int,
        started: float,
        attempts: int,
        caller: Caller,
        *,
        payload: tuple[Any, Any] | None = None,
    ) -> None:
        """Count the request and emit its log record; ``payload`` is (inputs, outputs)."""
        elapsed = time.perf_counter() - started
        m = self.metrics
        m.child(m.requests, route.name, served.name if served else "-", outcome).inc()
        m.child(m.latency, route.name).observe(elapsed)
        # An input the upstream refused (422) is the caller's to fix, not the route's health.
        self.watch.count(
            route.name, degraded=outcome not in ("ok", "client_closed") and status != 422
        )
        if route.log_mode == "off":
            return
        self.log.emit(
            RequestLogRecord(
                id=new_id(),
                at=utcnow(),
                route=route.name,
                model=served.model if served else route.model,
                version=served.version if served else None,
                target=served.name if served else None,
                status=status,
                outcome=outcome,
                latency_ms=round(elapsed * 1000, 3),
                attempts=attempts,
                key_id=caller.grant.key_id,
                subject=subject_pseudonym(self.runtime.secret, caller.subject),
                request_id=caller.request_id,
                payload=CapturedPayload(route.log_mode, payload[0], payload[1], route.redact_inputs)
                if payload is not None and route.log_mode in PAYLOAD_MODES
                else None,
            )
        )

    def refused_targets(self) -> list[str]:
        """Targets whose backend was refused at load (the log says why); routes skip them."""
        return sorted(self._pool.failed) if self._pool is not None else []

    async def breaker_states(self) -> dict[str, str]:
        if self._pool is None:
            return {}
        states = {name: str(await b.state()) for name, b in self._pool.breakers.items()}
        for name, value in states.items():
            self.metrics.breaker_state.labels(name).set(_STATE_VALUE.get(value, 0))
        return states


def _retrieve(check: asyncio.Future[None]) -> None:
    """Mark a shared check's error as seen: its waiters got it, or all of them had left."""
    if not check.cancelled():
        check.exception()


def served_by(target: CompiledTarget, *, degraded: str) -> dict[str, str]:
    return {
        "X-MLGate-Model": target.model,
        "X-MLGate-Version": str(target.version),
        "X-MLGate-Degraded": degraded,
    }


def _accepts(target: CompiledTarget, inputs: Any) -> bool:
    """Whether ``target``'s version takes ``inputs`` (0.1 µs with the compiled validator)."""
    return target.validator is None or target.validator.accepts(inputs)
