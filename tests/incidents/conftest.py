"""Incident fixtures: a route for incidents to name (incidents refuse routes that do not exist)."""

from __future__ import annotations

import pytest

from mlgate.runtime import Runtime
from tests.integration import world


def create_route(runtime: Runtime, name: str) -> None:
    """A route named ``name`` to an approved model served elsewhere (nothing listens there)."""
    world.upstream_route(runtime, name, "http://127.0.0.1:9/v1/predict", model=f"{name}-model")


@pytest.fixture
def churn_route(runtime: Runtime) -> str:
    create_route(runtime, "churn")
    return "churn"
