"""`mlgate cards diff` and `cards export` say what they compared and what they left out."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Cli


def _card_revisions(cli: Cli, tmp_path: Path) -> None:
    assert cli("init").code == 0
    assert cli("models", "create", "churn", "--owner", "ml").code == 0
    artifact = tmp_path / "model.onnx"
    artifact.write_bytes(b"weights")
    assert cli("versions", "register", str(artifact), "--model", "churn").code == 0
    card = tmp_path / "card.yaml"
    for overview in ("Predicts churn.", "Predicts churn within 30 days."):
        card.write_text(
            "model_details:\n  name: churn\n  overview: " + overview + "\n"
            "factors:\n  relevant_factors: [tenure]\n"
        )
        assert cli("cards", "set", "churn@1", "-f", str(card)).code == 0


def test_diff_names_the_revisions_it_compared(cli: Cli, tmp_path: Path) -> None:
    _card_revisions(cli, tmp_path)
    result = cli("cards", "diff", "churn@1")
    assert result.code == 0, result.err
    shown = " ".join(result.out.replace("│", " ").split())  # the table wraps long cells
    assert "from churn@1 card revision 1 to churn@1 card revision 2: 1 field changed" in shown
    assert "model_details.overview" in shown


def test_mct_export_says_on_stderr_what_mct_cannot_hold(cli: Cli, tmp_path: Path) -> None:
    _card_revisions(cli, tmp_path)
    result = cli("cards", "export", "churn@1", "--format", "mct")
    assert result.code == 0, result.err
    exported = json.loads(result.out)  # stdout stays the document alone
    assert exported["model_details"]["overview"] == "Predicts churn within 30 days."
    assert result.err.startswith("note: Model Card Toolkit JSON has no place for: ")
    assert "factors.relevant_factors" in result.err
    assert len(result.err.strip().splitlines()) == 1
