"""Dependency audit against offline OSV data: vulnerable, clean, or honestly unknown."""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

import pytest

from mlgate.errors import Invalid, NotFound
from mlgate.scanning import DependencyStatus, audit_requirements, parse_requirements

OSV_PYPA = Path(__file__).resolve().parents[3] / "shared" / "data" / "osv-pypa"


@pytest.fixture(scope="module")
def pypa() -> Path:
    if not (OSV_PYPA / "vulns").is_dir():
        pytest.skip(f"no OSV data at {OSV_PYPA}")
    return OSV_PYPA


def _advisory(
    ident: str,
    package: str,
    *,
    events: list[dict[str, str]] | None = None,
    versions: list[str] | None = None,
) -> dict[str, object]:
    affected: dict[str, object] = {"package": {"name": package, "ecosystem": "PyPI"}}
    if events is not None:
        affected["ranges"] = [{"type": "ECOSYSTEM", "events": events}]
    if versions is not None:
        affected["versions"] = versions
    return {"id": ident, "aliases": [f"CVE-{ident}"], "affected": [affected]}


@pytest.fixture
def synthetic(tmp_path: Path) -> Path:
    root = tmp_path / "osv"
    (root / "Demo_Pkg").mkdir(parents=True)
    advisories = [
        _advisory("A-1", "demo-pkg", events=[{"introduced": "0"}, {"fixed": "1.2.0"}]),
        _advisory("A-2", "demo-pkg", events=[{"introduced": "2.0"}, {"last_affected": "2.1"}]),
        _advisory("A-3", "demo-pkg", versions=["3.0.1"]),
        _advisory(
            "A-4",
            "demo-pkg",
            events=[
                {"introduced": "1.0"},
                {"fixed": "1.1"},
                {"introduced": "1.5"},
                {"fixed": "1.6"},
            ],
        ),
    ]
    for advisory in advisories:
        (root / "Demo_Pkg" / f"{advisory['id']}.json").write_text(json.dumps(advisory))
    return root


def _ids(text: str, source: Path) -> list[str]:
    (dep,) = audit_requirements(text, source).dependencies
    return [a.id for a in dep.advisories]


def test_old_requests_has_known_advisories(pypa: Path) -> None:
    (dep,) = audit_requirements("requests==2.19.0\n", pypa).dependencies
    assert dep.status is DependencyStatus.VULNERABLE
    by_id = {a.id: a for a in dep.advisories}
    assert "CVE-2018-18074" in by_id["PYSEC-2018-28"].aliases
    assert by_id["PYSEC-2018-28"].fixed == "2.20.0"


def test_current_requests_is_clean(pypa: Path) -> None:
    (dep,) = audit_requirements("requests==2.32.4", pypa).dependencies
    assert dep.status is DependencyStatus.CLEAN
    assert dep.advisories == []


def test_unpinned_and_unknown_packages_are_unknown_never_clean(pypa: Path) -> None:
    report = audit_requirements("numpy>=1.20\nsurely-not-a-real-package-xyz==1.0\n", pypa)
    assert [d.status for d in report.dependencies] == [DependencyStatus.UNKNOWN] * 2
    assert all(d.reason for d in report.dependencies)


def test_pip_freeze_and_requirements_syntax_are_understood() -> None:
    text = """\
# pinned by pip freeze
Flask==2.0.1
jinja2==3.0.0 \\
    --hash=sha256:deadbeef
-r other.txt
--index-url https://example.invalid/simple
torch @ file:///wheels/torch.whl
-e git+https://example.invalid/org/tool.git@abc123#egg=tool
numpy[extra]>=1.2 ; python_version > "3.8"  # comment
"""
    parsed = {p.name: p for p in parse_requirements(text)}
    assert parsed["Flask"].version == "2.0.1"
    assert parsed["jinja2"].version == "3.0.0"
    assert parsed["torch"].version is None
    assert parsed["numpy"].version is None
    assert parsed["numpy"].spec == ">=1.2"
    assert parsed["tool"].version is None
    assert parsed["other.txt"].note == "included file not audited; audit it too"
    assert parsed["package-index"].spec == "--index-url https://example.invalid/simple"
    assert len(parsed) == 7


@pytest.mark.parametrize(
    "line",
    [
        "-r base.txt",
        "--requirement=base.txt",
        "-c constraints.txt",
        "--extra-index-url https://pypi.example.invalid/simple",
        "-i https://pypi.example.invalid/simple",
    ],
)
def test_included_files_and_other_indexes_make_the_audit_unknown(pypa: Path, line: str) -> None:
    report = audit_requirements(f"{line}\nrequests==2.32.4\n", pypa)
    statuses = [d.status for d in report.dependencies]
    assert statuses == [DependencyStatus.UNKNOWN, DependencyStatus.CLEAN]
    assert report.unknown


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[project]\nname = "x"\ndependencies = 5\n', "project.dependencies"),
        ('[project]\noptional-dependencies = "dev"\n', "project.optional-dependencies"),
        (
            '[project]\noptional-dependencies = {dev = "pytest"}\n',
            "project.optional-dependencies.dev",
        ),
        ('[project]\ndependencies = [["a"]]\n', "project.dependencies"),
        ("[project]\na = " + "[" * 2000 + "]" * 2000 + "\n", "requirements"),
    ],
)
def test_malformed_pyproject_is_invalid_naming_the_key(text: str, key: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_requirements(text)
    assert caught.value.status == 422
    assert [e.field for e in caught.value.errors] == [key]


def test_pyproject_dependencies_are_read() -> None:
    text = (
        '[project]\nname = "x"\ndependencies = ["requests==2.19.0", "rich>=13"]\n'
        '[project.optional-dependencies]\ndev = ["pytest==8.0.0"]\n'
    )
    assert [(p.name, p.version) for p in parse_requirements(text)] == [
        ("requests", "2.19.0"),
        ("rich", None),
        ("pytest", "8.0.0"),
    ]


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("0.9", ["A-1"]),
        ("1.0.5", ["A-1", "A-4"]),
        ("1.2.0", []),
        ("1.5.2", ["A-4"]),
        ("2.1", ["A-2"]),
        ("2.1.1", []),
        ("3.0.1", ["A-3"]),
    ],
)
def test_osv_ranges_and_version_lists(synthetic: Path, version: str, expected: list[str]) -> None:
    assert _ids(f"demo.pkg=={version}", synthetic) == expected


def test_first_fixed_version_is_the_nearest_fix_above(synthetic: Path) -> None:
    (dep,) = audit_requirements("demo-pkg==1.0.5", synthetic).dependencies
    assert {a.id: a.fixed for a in dep.advisories} == {"A-1": "1.2.0", "A-4": "1.1"}


def test_zip_of_advisories_is_accepted(synthetic: Path, tmp_path: Path) -> None:
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for path in (synthetic / "Demo_Pkg").iterdir():
            out.write(path, path.name)
    assert _ids("demo-pkg==0.1", archive) == ["A-1"]


def test_repeated_audits_reuse_the_index(pypa: Path) -> None:
    text = "requests==2.19.0\nflask==0.12\njinja2==2.10\nurllib3==1.24\n"
    audit_requirements(text, pypa)
    started = time.perf_counter()
    for _ in range(20):
        audit_requirements(text, pypa)
    assert time.perf_counter() - started < 2.0


def test_missing_database_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        audit_requirements("requests==2.19.0", tmp_path / "nowhere")
