"""The review and deploy commands act as the principal of MLGATE_API_KEY."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.approvals.conftest import VersionFactory, as_key, simple_policy
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
