"""Turns compiled targets into live backends, breakers and bulkheads, reused across tables."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from mlgate.errors import MlgateError
from mlgate.gateway.backends import GenericJson, HttpBackend, KServeV2, MlflowScoring, OpenAIChat
from mlgate.gateway.backends.adapters import Adapter
from mlgate.gateway.backends.base import Backend
from mlgate.gateway.backends.wire import Http1Client
from mlgate.gateway.resilience import BreakerConfig, Bulkhead, CircuitBreaker, MemoryBreaker
from mlgate.gateway.table import CompiledRoute, CompiledTarget

__all__ = ["TargetPool"]

logger = logging.getLogger(__name__)


def _adapter(target: CompiledTarget) -> Adapter:
    upstream = target.upstream
    assert upstream is not None
    if upstream.protocol == "kserve":
        return KServeV2(model=upstream.upstream_model or target.model)
    if upstream.protocol == "mlflow":
        return MlflowScoring()
    if upstream.protocol == "openai":
        return OpenAIChat(model=upstream.upstream_model)
    return GenericJson()


def breaker_config(route: CompiledRoute) -> BreakerConfig:
    r = route.resilience
    return BreakerConfig(
        failure_rate=r.breaker_failure_rate,
        minimum_calls=r.breaker_min_calls,
        window_seconds=r.breaker_window_seconds,
        open_seconds=r.breaker_open_seconds,
        half_open_probes=r.breaker_half_open_probes,
        probe_successes=min(2, r.breaker_half_open_probes),
    )


@dataclass
class TargetPool:
    """Live objects per target name. Loading happens at table swap, never per request."""

    client: Http1Client
    blob_path: Any  # Callable[[str], Path]: where the blob store keeps a sha256
    redis: Any = None  # redis.asyncio.Redis when breakers are shared
    redis_prefix: str = "mlgate:breaker:"
    trusted_keys: frozenset[str] = frozenset()  # signers whose signatures count; empty: any
    backends: dict[str, Backend] = field(default_factory=dict)
    breakers: dict[str, CircuitBreaker] = field(default_factory=dict)
    bulkheads: dict[str, Bulkhead] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    built_from: dict[str, str] = field(default_factory=dict)  # name -> _fingerprint at load
    guarded_by: dict[str, tuple[BreakerConfig, int]] = field(default_factory=dict)

    async def prepare(self, routes: list[CompiledRoute]) -> None:
        """Load every target the routes name that is not loaded yet, or not as it is now.

        A loaded target whose upstream settings or secret changed (a rotated upstream key, say)
        is loaded again; its breaker and bulkhead stay, since it is the same target, unless the
        route's breaker or bulkhead settings changed: those are built anew with the new ones.
        """
        for route in routes:
            for target in (*route.targets, *((route.canary,) if route.canary else ())):
                built_from = _fingerprint(target)
                if target.name in self.backends:
                    if self.built_from.get(target.name) == built_from:
                        self._guard(target.name, route)
                        continue
                    _close(self.backends.pop(target.name))
                try:
                    self.backends[target.name] = await self._load(target)
                    self.built_from[target.name] = built_from
                    self.failed.pop(target.name, None)
                except MlgateError as error:
                    self.failed[target.name] = error.detail
                    logger.error(
                        "target refused at load",
                        extra={"target": target.name, "problem": error.detail},
                    )
                    continue
                self._guard(target.name, route)

    def _guard(self, name: str, route: CompiledRoute) -> None:
        """Give ``name`` a breaker and a bulkhead built from the route's settings as they are.

        A request in flight keeps the slot it holds on a replaced bulkhead (a slot releases
        where it was taken); a replaced breaker starts closed, as a new setting asks.
        """
        wanted = (breaker_config(route), route.resilience.bulkhead)
        built = self.guarded_by.get(name)
        if built == wanted:
            return
        if built is None or built[0] != wanted[0]:
            self.breakers[name] = self._breaker(name, route)
        if built is None or built[1] != wanted[1]:
            self.bulkheads[name] = Bulkhead(name, wanted[1])
        self.guarded_by[name] = wanted

    def _breaker(self, name: str, route: CompiledRoute) -> CircuitBreaker:
        if self.redis is not None:
            from mlgate.gateway.resilience import RedisBreaker

            return RedisBreaker(name, self.redis, breaker_config(route), prefix=self.redis_prefix)
        return MemoryBreaker(name, breaker_config(route))

    async def _load(self, target: CompiledTarget) -> Backend:
        if target.require_signature:  # refuse before loading anything (raises Invalid)
            from mlgate.scanning.manifest import verify_manifest

            await asyncio.to_thread(
                partial(verify_manifest, trusted=self.trusted_keys),
                self.blob_path,
                target.artifacts,
                target.signature,
            )
        if target.upstream is not None:
            try:
                return HttpBackend(
                    target.name,
                    client=self.client,
                    base_url=target.upstream.url,
                    adapter=_adapter(target),
                    headers=target.headers,
                )
            except ValueError as error:  # names the header or URL part, never a value
                raise MlgateError(f"{target.name}: {error}") from None
        assert target.artifact_sha256 is not None
        path: Path = self.blob_path(target.artifact_sha256)
        if target.framework == "sklearn":
            from mlgate.gateway.backends.sklearn_model import SklearnBackend

            return await SklearnBackend.load(
                target.name, path=path, expected_sha256=target.artifact_sha256
            )
        if target.framework not in ("onnx", ""):
            raise MlgateError(
                f"{target.name}: framework '{target.framework}' cannot run in-process (onnx "
                "and sklearn can); serve it through an upstream model server"
            )
        from mlgate.gateway.backends.onnx import OnnxBackend

        return await OnnxBackend.load(
            target.name, path=path, expected_sha256=target.artifact_sha256
        )

    def retire(self, keep: set[str]) -> None:
        """Close backends no route uses any more."""
        for name in list(self.backends):
            if name in keep:
                continue
            _close(self.backends.pop(name))
            self.breakers.pop(name, None)
            self.bulkheads.pop(name, None)
            self.built_from.pop(name, None)


def _fingerprint(target: CompiledTarget) -> str:
    """A digest of what a target's backend is built from (kept in memory, never shown)."""
    digest = hashlib.sha256()
    if target.upstream is not None:
        digest.update(target.upstream.model_dump_json().encode())
    for name, value in sorted(target.headers.items()):
        digest.update(f"\0{name}\0{value.get_secret_value()}".encode())
    digest.update(f"\0{target.artifact_sha256}".encode())
    return digest.hexdigest()


def _close(backend: Backend) -> None:
    close = getattr(backend, "close", None)
    if close is not None:
        close()
