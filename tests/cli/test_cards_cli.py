"""`mlgate cards diff`, `cards export` and `cards import` say what they compared and what they
left out."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cards.test_mct_import import TOOLKIT_CARD, TOOLKIT_CARD_NOT_IMPORTED
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


def test_mct_import_says_on_stderr_what_the_card_does_not_hold(cli: Cli, tmp_path: Path) -> None:
    _card_revisions(cli, tmp_path)
    document = json.loads(json.dumps(TOOLKIT_CARD))
    document["model_details"]["version"]["date"] = "03/04/2020"
    source = tmp_path / "toolkit.json"
    source.write_text(json.dumps(document))
    result = cli("cards", "import", "churn@1", str(source), "--format", "mct")
    assert result.code == 0, result.err
    assert result.out.startswith("churn@1 card revision 3 from mct, completeness ")
    assert len(result.out.strip().splitlines()) == 1  # stdout as before
    not_imported = [
        "model_details.version.date"
        ' ("03/04/2020" may be 2020-03-04 or 2020-04-03; write it as YYYY-MM-DD)',
        *TOOLKIT_CARD_NOT_IMPORTED,
    ]
    assert result.err == (
        "note: not imported from Model Card Toolkit JSON, the card has no place for them: "
        + ", ".join(not_imported)
        + "\n"
    )
    shown = cli("cards", "show", "churn@1", "--json")
    assert json.loads(shown.out)["card"]["model_details"]["date"] is None


def test_a_reimported_mct_export_has_a_note_only_for_what_was_added(
    cli: Cli, tmp_path: Path
) -> None:
    _card_revisions(cli, tmp_path)
    exported = tmp_path / "exported.json"
    assert cli("cards", "export", "churn@1", "--format", "mct", "-o", str(exported)).code == 0
    result = cli("cards", "import", "churn@1", str(exported))  # the format read from the file
    assert result.code == 0, result.err
    assert result.out.startswith("churn@1 card revision 3 from mct")
    assert result.err == ""
    document = json.loads(exported.read_text())
    document["model_details"]["overview"] = "changed"
    document["model_details"]["documentation"] = "added"
    exported.write_text(json.dumps(document))
    result = cli("cards", "import", "churn@1", str(exported))
    assert result.out.startswith("churn@1 card revision 4 from mct")
    assert result.err.endswith(": model_details.documentation\n")
