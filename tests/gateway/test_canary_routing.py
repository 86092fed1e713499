"""A sticky canary splits callers by subject or key, and never sends all of one kind one way."""

from __future__ import annotations

import pytest

from mlgate.gateway.dataplane import Caller, Gateway
from mlgate.gateway.schemas import Degradation, GatewayLimits, Resilience
from mlgate.gateway.table import CompiledRoute, CompiledTarget, KeyGrant
from mlgate.runtime import Runtime


def target(version: int) -> CompiledTarget:
    return CompiledTarget(
        name=f"churn@{version}",
        model="churn",
        version=version,
        framework="onnx",
        artifact_sha256=None,
        upstream=None,
    )


STABLE, CANARY = target(1), target(2)


def canary_route(sticky_by: str) -> CompiledRoute:
    return CompiledRoute(
        name="churn",
        model="churn",
        targets=(STABLE,),
        canary=CANARY,
        canary_percent=50,
        sticky_by=sticky_by,
        resilience=Resilience(),
        degradation=Degradation(),
        limits=GatewayLimits(),
        log_mode="metadata",
        retention_days=30,
        subject_header="X-MLGate-Subject",
        subject_path=None,
        redact_inputs=False,
        require_signature=False,
        problems=(),
    )


def caller(key_id: str, subject: str | None = None) -> Caller:
    grant = KeyGrant(key_id, "alice", frozenset({"gateway:invoke"}), None, None)
    return Caller(grant, subject)


@pytest.fixture
def gateway(runtime: Runtime) -> Gateway:
    return Gateway(runtime)


def test_callers_without_a_subject_stick_by_their_key_on_a_subject_canary(
    gateway: Gateway,
) -> None:
    route = canary_route("subject")
    first = [gateway.ordered_targets(route, caller(f"key-{i}"))[0] for i in range(20)]
    assert set(first) == {STABLE, CANARY}  # before: every caller without a subject on one side
    by_key = [
        gateway.ordered_targets(canary_route("key"), caller(f"key-{i}"))[0] for i in range(20)
    ]
    assert first == by_key


def test_callers_with_a_subject_stick_by_it_whatever_their_key(gateway: Gateway) -> None:
    route = canary_route("subject")
    for subject in ("cust-1", "cust-2", "cust-3"):
        sides = {gateway.ordered_targets(route, caller(f"key-{i}", subject))[0] for i in range(5)}
        assert len(sides) == 1
