"""``mlgate versions register`` refuses what the API refuses, in one line, and keeps names."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Cli


def _nested(depth: int) -> dict[str, object]:
    schema: dict[str, object] = {"type": "object"}
    for _ in range(depth):
        schema = {"anyOf": [schema]}
    return schema


def test_a_deep_schema_is_refused_by_the_cli_as_by_the_api(cli: Cli, tmp_path: Path) -> None:
    # The API refused it; the CLI died on "unexpected RecursionError" (or stored it, shallower).
    schema = tmp_path / "deep.json"
    schema.write_text(json.dumps(_nested(100)))
    artifact = tmp_path / "m.bin"
    artifact.write_bytes(b"weights")
    assert cli("init").code == 0
    assert cli("models", "create", "m1").code == 0
    result = cli("versions", "register", str(artifact), "-m", "m1", "--input-schema", str(schema))
    assert result.code == 1
    assert result.err.strip() == "error: input_schema: is nested deeper than 64 levels"
    assert json.loads(cli("versions", "list", "m1", "--json").out)["total"] == 0


def test_a_decomposed_file_name_is_registered_in_its_composed_form(
    cli: Cli, tmp_path: Path
) -> None:
    # macOS file systems hand out names like "cafe\u0301"; the registry keeps "caf\u00e9".
    artifact = tmp_path / "cafe\u0301.bin"
    artifact.write_bytes(b"weights")
    assert cli("init").code == 0
    assert cli("models", "create", "m1").code == 0
    wrong = "cafe\u0301.bin=" + "0" * 64
    refused = cli("versions", "register", str(artifact), "-m", "m1", "--sha256", wrong)
    assert refused.code == 1
    assert "expected sha256" in refused.err  # the digest is matched to the file by its name
    result = cli("versions", "register", str(artifact), "-m", "m1", "--json")
    assert result.code == 0, result.err
    assert [a["name"] for a in json.loads(result.out)["artifacts"]] == ["caf\u00e9.bin"]


def test_a_file_name_with_a_look_alike_letter_is_refused_in_one_line(
    cli: Cli, tmp_path: Path
) -> None:
    artifact = tmp_path / "mod\u0435l.onnx"  # Cyrillic e
    artifact.write_bytes(b"weights")
    assert cli("init").code == 0
    assert cli("models", "create", "m1").code == 0
    result = cli("versions", "register", str(artifact), "-m", "m1")
    assert result.code == 1
    assert result.err.count("\n") == 1, result.err
    assert result.err.startswith("error: the version is not valid: artifacts[0]: ")
    assert "U+0435 CYRILLIC SMALL LETTER IE" in result.err
    assert json.loads(cli("versions", "list", "m1", "--json").out)["total"] == 0


def test_an_empty_expected_digest_is_refused_not_skipped(cli: Cli, tmp_path: Path) -> None:
    # `--sha256 m.bin=` registered m.bin unchecked, as the API did with "".
    artifact = tmp_path / "m.bin"
    artifact.write_bytes(b"weights")
    assert cli("init").code == 0
    assert cli("models", "create", "m1").code == 0
    result = cli("versions", "register", str(artifact), "-m", "m1", "--sha256", "m.bin=")
    assert result.code == 1
    assert result.err.strip() == (
        "error: artifact_sha256.m.bin: must be 64 hexadecimal characters (a sha256 digest)"
    )
    assert json.loads(cli("versions", "list", "m1", "--json").out)["total"] == 0


def test_a_schema_file_json_cannot_hold_is_refused_in_one_line(cli: Cli, tmp_path: Path) -> None:
    # The API refused these; the CLI stored NaN, or died on a ValueError or UnicodeDecodeError.
    artifact = tmp_path / "m.bin"
    artifact.write_bytes(b"weights")
    assert cli("init").code == 0
    assert cli("models", "create", "m1").code == 0
    for content, says in (
        (b'{"type": "number", "maximum": NaN}', "holds NaN, which is not a JSON number"),
        (b'{"maximum": 1e999}', "a number too large for a double"),
        (b'{"maximum": ' + b"9" * 5000 + b"}", "holds an integer longer than"),
        (b'{"title": "caf\xe9"}', "cannot read JSON from"),
        (b'{"title": ', "is not valid JSON"),
    ):
        schema = tmp_path / "schema.json"
        schema.write_bytes(content)
        result = cli(
            "versions", "register", str(artifact), "-m", "m1", "--input-schema", str(schema)
        )
        assert result.code == 1, content
        assert result.err.count("\n") == 1
        assert "Traceback" not in result.err
        assert result.err.startswith("error: input_schema: ")
        assert says in result.err
    assert json.loads(cli("versions", "list", "m1", "--json").out)["total"] == 0
