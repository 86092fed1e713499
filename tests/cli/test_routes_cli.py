"""``mlgate routes`` changes a route only as asked: clearing, and never by a stray option."""

from __future__ import annotations

import json

from mlgate.runtime import Runtime
from tests.cli.conftest import Cli
from tests.integration import world


def _route(cli: Cli) -> dict[str, object]:
    shown = cli("routes", "show", "r", "--json")
    assert shown.code == 0, shown.err
    route: dict[str, object] = json.loads(shown.out)
    return route


def test_fallbacks_clear_and_a_canary_needs_its_target(cli: Cli, runtime: Runtime) -> None:
    for _ in range(2):
        world.served_model(runtime, "m", b"served elsewhere", framework="http", schema=None)
    created = cli("routes", "create", "r", "--model", "m", "--upstream", "http://127.0.0.1:9/x")
    assert created.code == 0, created.err
    assert cli("routes", "set-fallbacks", "r", "m@1", "m@2").code == 0
    assert [f["version"] for f in _route(cli)["fallbacks"]] == [1, 2]  # type: ignore[attr-defined]
    cleared = cli("routes", "set-fallbacks", "r")
    assert cleared.code == 0, cleared.err  # "none clears them", as its help says
    assert _route(cli)["fallbacks"] == []
    assert cli("routes", "set-canary", "r", "m@2", "--percent", "5").code == 0
    stray = cli("routes", "set-canary", "r", "--percent", "20")
    assert stray.code == 2  # a share with no target: it used to remove the canary, exit 0
    assert "MODEL@N" in stray.err
    canary = _route(cli)["canary"]
    assert canary["percent"] == 5  # type: ignore[index]
    assert cli("routes", "set-canary", "r").code == 0
    assert _route(cli)["canary"] is None
