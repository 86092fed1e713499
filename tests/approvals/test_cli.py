"""The review and deploy commands act as the principal of MLGATE_API_KEY."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mlgate.approvals import service
from mlgate.cli.main import run
from mlgate.runtime import Runtime
from tests.approvals.conftest import REQUESTER, VersionFactory, as_key, simple_policy
from tests.conftest import KeyFactory


def test_review_and_deploy_from_the_cli_keep_separation_of_duties(
    cli_env: None,
    monkeypatch: pytest.MonkeyPatch,
    make_key: KeyFactory,
    make_version: VersionFactory,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    name, number = make_version(policy_doc=simple_policy(("data-review", ["data"], [])))
    ref = f"{name}@{number}"
    rita = make_key("approvals:request", "approvals:review", owner="rita", groups=("data",))
    dana = make_key("approvals:review", owner="dana", groups=("data",))
    devon = make_key("deploy", "registry:read", owner="devon")

    assert as_key(monkeypatch, rita, "review", "request", ref, "-m", "please") == 0
    assert as_key(monkeypatch, devon, "deploy", ref, "--alias", "production") == 1
    assert "not approved" in capsys.readouterr().err
    assert as_key(monkeypatch, rita, "review", "approve", ref, "-m", "self") == 1
    assert "another reviewer" in capsys.readouterr().err
    assert as_key(monkeypatch, dana, "review", "queue") == 0
    assert ref in capsys.readouterr().out
    assert as_key(monkeypatch, dana, "review", "approve", ref, "-m", "fine") == 0
    assert "approved" in capsys.readouterr().out
    assert as_key(monkeypatch, devon, "deploy", ref, "--alias", "production") == 0
    assert f"{name}:production -> v{number}" in capsys.readouterr().out
    assert as_key(monkeypatch, devon, "rollback", name) == 1
    assert "no earlier approved version" in capsys.readouterr().err
    assert as_key(monkeypatch, dana, "review", "show", ref, "--json") == 0
    assert '"state": "approved"' in capsys.readouterr().out

    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text("stages:\n  - name: only\n    gates: [input_schema_declared]\n")
    assert as_key(monkeypatch, dana, "review", "policy", "set", name, "-f", str(policy_file)) == 1
    admin = make_key("admin", owner="root")
    assert as_key(monkeypatch, admin, "review", "policy", "set", name, "-f", str(policy_file)) == 0
    assert "version 2" in capsys.readouterr().out


def test_review_list_pages_and_says_when_more_reviews_exist(
    cli_env: None,
    runtime: Runtime,
    make_version: VersionFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # It showed the first 50 and no more, without saying that others existed.
    name, _ = make_version(policy_doc=simple_policy(("only", [], [])))
    for _ in range(2):
        make_version(name)
    with runtime.db.unit_of_work() as session:
        for number in (1, 2, 3):
            service.request_review(session, model_name=name, version=number, requester=REQUESTER)
    capsys.readouterr()

    def listed(*options: str) -> tuple[list[str], str]:
        assert run(["review", "list", "--model", name, *options]) == 0
        out = capsys.readouterr().out
        return re.findall(rf"{name}@(\d+)", out), out

    refs, out = listed("--limit", "2")
    assert refs == ["1", "2"]
    assert "showing 2 of 3; use --offset 2 for more" in out
    refs, out = listed("--limit", "2", "--offset", "2")
    assert refs == ["3"]
    assert "showing" not in out
    refs, out = listed()
    assert refs == ["1", "2", "3"]
    assert "showing" not in out
    assert run(["review", "list", "--model", name, "--offset", "1", "--json"]) == 0
    assert [r["version"] for r in json.loads(capsys.readouterr().out)] == [2, 3]
