"""Corpora shared by the scanning tests: built once per session under a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.scanning.corpus import build_benign, build_malicious
from tests.scanning.factories import write_keypair


@pytest.fixture(scope="session")
def malicious(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return build_malicious(tmp_path_factory.mktemp("malicious"))


@pytest.fixture(scope="session")
def benign(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return build_benign(tmp_path_factory.mktemp("benign"))


# -- fixtures of the scanning service tests (registered versions, keys, advisories) ----------

OSV_PYPA = Path(__file__).parents[2].parent / "shared/data/osv-pypa"


@pytest.fixture(scope="session")
def osv_pypa() -> Path:
    """The shared offline OSV PyPI database, read in place (never copied into the repo)."""
    if not (OSV_PYPA / "vulns").is_dir():
        pytest.skip(f"no OSV data at {OSV_PYPA}")
    return OSV_PYPA


@pytest.fixture
def signing_keys(tmp_path: Path) -> tuple[Path, Path]:
    return write_keypair(tmp_path, "signer")
