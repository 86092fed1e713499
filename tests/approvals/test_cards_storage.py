"""Model cards stored per version: revisions, diff, lint, render, import/export, and gates."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mlgate.approvals import service
from mlgate.approvals.policy import DEFAULT_POLICY
from mlgate.approvals.schemas import RequestState
from mlgate.audit import service as audit
from mlgate.cards import ModelCard
from mlgate.cards import service as cards
from mlgate.cards.revisions import CardFormat
from mlgate.errors import Conflict
from mlgate.registry import service as registry
from mlgate.runtime import Runtime
from tests.approvals.conftest import ADMIN, REQUESTER, VersionFactory, as_key, reviewer
from tests.cards.conftest import full_card_data
from tests.conftest import KeyFactory, bearer


def sparse_card(name: str = "churn") -> dict[str, Any]:
    return {"model_details": {"name": name, "overview": "Predicts churn."}}


def test_revisions_are_kept_and_diffed(runtime: Runtime, make_version: VersionFactory) -> None:
    name, number = make_version()
    with runtime.db.unit_of_work() as session:
        first = cards.set_card(
            session,
            model_name=name,
            version=number,
            card=ModelCard.model_validate(sparse_card()),
            actor=REQUESTER,
        )
        second = cards.set_card(
            session,
            model_name=name,
            version=number,
            card=ModelCard.model_validate(full_card_data()),
            actor=REQUESTER,
            comment="filled in",
        )
        with pytest.raises(Conflict, match="unchanged"):
            cards.set_card(
                session,
                model_name=name,
                version=number,
                card=ModelCard.model_validate(full_card_data()),
                actor=REQUESTER,
            )
        history = cards.list_revisions(session, model_name=name, version=number)
        old = cards.get_card(session, model_name=name, version=number, revision=1)
        changes = cards.diff_revisions(session, model_name=name, version=number)
        entries = audit.get_all(session, object_type="model_card")
    assert (first.revision, second.revision) == (1, 2)
    assert first.completeness < second.completeness == 1.0
    assert [h.revision for h in history] == [1, 2]
    assert old.card.model_details.overview == "Predicts churn."
    paths = {c.path for c in changes.changes}
    assert "model_details.overview" in paths
    assert "intended_use.primary_uses[0]" in paths
    assert [e.change["revision"] for e in entries] == [1, 2]


def test_cards_of_two_versions_diff_and_round_trip_through_formats(
    runtime: Runtime, make_version: VersionFactory
) -> None:
    name, v1 = make_version()
    _, v2 = make_version(name, policy_doc=None)
    data = full_card_data()
    changed = copy.deepcopy(data)
    changed["model_details"]["version"] = "3.2.0"
    with runtime.db.unit_of_work() as session:
        for number, card in ((v1, data), (v2, changed)):
            cards.set_card(
                session,
                model_name=name,
                version=number,
                card=ModelCard.model_validate(card),
                actor=REQUESTER,
            )
        result = cards.diff_versions(session, model_name=name, from_version=v1, to_version=v2)
        mct = cards.export(session, model_name=name, version=v1, format=CardFormat.MCT).text
        hf = cards.export(session, model_name=name, version=v1, format=CardFormat.HUGGINGFACE).text
    assert [(c.path, c.old, c.new) for c in result.changes] == [
        ("model_details.version", "3.1.0", "3.2.0")
    ]
    _, v3 = make_version(name, policy_doc=None)
    with runtime.db.unit_of_work() as session:
        imported = cards.import_card(
            session, model_name=name, version=v3, text=mct, format=CardFormat.MCT, actor=ADMIN
        )
        again = cards.import_card(
            session,
            model_name=name,
            version=v3,
            text=hf,
            format=CardFormat.HUGGINGFACE,
            actor=ADMIN,
        )
    assert imported.source == "mct"
    assert imported.card.model_details.name == data["model_details"]["name"]
    assert again.revision == 2
    assert again.card.model_details.overview == data["model_details"]["overview"]


def test_cards_over_http(
    client: TestClient, make_key: KeyFactory, make_version: VersionFactory
) -> None:
    name, number = make_version()
    writer = bearer(make_key("registry:write"))
    reader = bearer(make_key("registry:read"))
    base = f"/api/v1/cards/{name}/{number}"
    assert client.get(base, headers=reader).status_code == 404
    put = client.put(base, json={"card": sparse_card()}, headers=writer)
    assert put.status_code == 200, put.text
    assert client.put(base, json={"card": sparse_card()}, headers=reader).status_code == 403
    bad = client.put(base, json={"card": {"model_details": {}}}, headers=writer)
    assert bad.status_code == 422
    client.put(base, json={"card": full_card_data(), "comment": "full"}, headers=writer)
    shown = client.get(f"{base}?revision=1", headers=reader).json()
    assert shown["revision"] == 1
    lint = client.get(f"{base}/lint", headers=reader).json()
    assert lint["completeness"] == 1.0
    html = client.get(f"{base}/render?format=html", headers=reader)
    assert html.headers["content-type"].startswith("text/html")
    assert "Predicts which subscribers cancel" in html.text
    diff = client.get(f"{base}/diff?from_revision=1&to_revision=2", headers=reader).json()
    assert diff["changes"]
    exported = client.get(f"{base}/export?format=huggingface", headers=reader)
    assert exported.status_code == 200
    imported = client.post(
        f"{base}/import",
        json={"format": "json", "content": '{"model_details": {"name": "x"}}'},
        headers=writer,
    )
    assert imported.json()["revision"] == 3
    versions = client.get(
        f"/api/v1/cards/{name}/diff?from_version={number}&to_version={number}", headers=reader
    )
    assert versions.json()["changes"] == []
    assert (
        versions.json()["summary"]
        == f"{name}@{number} card revision 3 compared with itself: no changes"
    )


def test_default_policy_card_gates_read_the_stored_card(
    runtime: Runtime, make_version: VersionFactory
) -> None:
    """The six default stages, each by its own group, with the card deciding the card gates.

    The security stage's own gate (a recorded security audit) belongs to scanning; it is
    dropped here so this test is about cards only.
    """
    document = DEFAULT_POLICY.model_copy(deep=True)
    for stage in document.stages:
        stage.gates = [g for g in stage.gates if g.check != "security_audit_clean"]
    name, number = make_version(policy_doc=document)
    people = {
        "data-review": reviewer("dana", "data"),
        "model-review": reviewer("mo", "ml"),
        "fairness-review": reviewer("fay", "fairness"),
        "security-review": reviewer("sam", "security"),
        "compliance-review": reviewer("cole", "compliance"),
        "final-approval": reviewer("fin", "approvers"),
    }
    assert list(people) == [s.name for s in DEFAULT_POLICY.stages]
    no_fairness = full_card_data()
    no_fairness["quantitative_analyses"]["fairness_metrics"] = []
    with runtime.db.unit_of_work() as session:
        request_id = service.request_review(
            session, model_name=name, version=number, requester=REQUESTER
        ).id
        service.approve(
            session, request_id=request_id, reviewer=people["data-review"], comment="ok"
        )
        with pytest.raises(service.GateFailed, match="no model card"):
            service.approve(
                session, request_id=request_id, reviewer=people["model-review"], comment="ok"
            )
    with runtime.db.unit_of_work() as session:
        cards.set_card(
            session,
            model_name=name,
            version=number,
            card=ModelCard.model_validate(no_fairness),
            actor=REQUESTER,
        )
        service.approve(
            session, request_id=request_id, reviewer=people["model-review"], comment="ok"
        )
        with pytest.raises(service.GateFailed, match="no fairness metrics"):
            service.approve(
                session, request_id=request_id, reviewer=people["fairness-review"], comment="ok"
            )
    with runtime.db.unit_of_work() as session:
        cards.set_card(
            session,
            model_name=name,
            version=number,
            card=ModelCard.model_validate(full_card_data()),
            actor=REQUESTER,
        )
        for stage in list(people)[2:]:
            done = service.approve(
                session, request_id=request_id, reviewer=people[stage], comment=f"{stage} ok"
            )
        assert registry.get_version(session, model_name=name, version=number).status == "approved"
    assert done.state == RequestState.APPROVED


def test_cards_cli(
    cli_env: None,
    monkeypatch: pytest.MonkeyPatch,
    make_key: KeyFactory,
    make_version: VersionFactory,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    import json

    name, number = make_version()
    ref = f"{name}@{number}"
    writer = make_key("registry:write", owner="wes")
    reader = make_key("registry:read", owner="rea")
    card_file = tmp_path / "card.yaml"
    card_file.write_text("model_details:\n  name: churn\n  overview: Predicts churn.\n")
    assert as_key(monkeypatch, reader, "cards", "set", ref, "-f", str(card_file)) == 1
    assert as_key(monkeypatch, writer, "cards", "set", ref, "-f", str(card_file)) == 0
    full = tmp_path / "full.json"
    full.write_text(json.dumps(full_card_data()))
    assert as_key(monkeypatch, writer, "cards", "import", ref, str(full)) == 0  # JSON: ours
    assert "from json" in capsys.readouterr().out
    capsys.readouterr()
    assert as_key(monkeypatch, reader, "cards", "lint", ref) == 0
    assert "completeness 100%" in capsys.readouterr().out
    assert as_key(monkeypatch, reader, "cards", "diff", ref, "--json") == 0
    assert "model_details.overview" in capsys.readouterr().out
    out = tmp_path / "README.md"
    assert (
        as_key(
            monkeypatch, reader, "cards", "export", ref, "--format", "huggingface", "-o", str(out)
        )
        == 0
    )
    assert "Predicts which subscribers cancel" in out.read_text()
    # Each exported format comes back in without --format: the file says what it is.
    for fmt, name in (("mct", "card.mct.json"), ("huggingface", "README.md")):
        path = tmp_path / name
        if not path.exists():
            exported = ("cards", "export", ref, "--format", fmt, "-o", str(path))
            assert as_key(monkeypatch, reader, *exported) == 0
        capsys.readouterr()
        assert as_key(monkeypatch, writer, "cards", "import", ref, str(path)) == 0
        assert f"from {fmt}" in capsys.readouterr().out
    assert as_key(monkeypatch, reader, "cards", "render", ref, "--format", "markdown") == 0
    assert "Predicts which subscribers cancel" in capsys.readouterr().out
    assert as_key(monkeypatch, reader, "cards", "show", ref, "--revision", "1") == 0
    assert "Predicts churn." in capsys.readouterr().out
