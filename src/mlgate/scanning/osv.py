"""An offline index of OSV advisories (a directory tree or a zip) and OSV range evaluation."""

from __future__ import annotations

import json
import os
import threading
import zipfile
from collections import defaultdict
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from mlgate.errors import Invalid, NotFound
from mlgate.scanning.schemas import Advisory

__all__ = ["AdvisoryIndex", "advisory_index", "affects"]

_SUFFIXES = (".yaml", ".yml", ".json")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _parse(raw: bytes | str, name: str) -> dict[str, Any] | None:
    try:
        data = json.loads(raw) if name.endswith(".json") else yaml.load(raw, Loader=_Loader)  # noqa: S506 - a safe loader
    except (ValueError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def _version(text: object) -> Version | None:
    try:
        return Version(str(text))
    except InvalidVersion:
        return None


def _in_range(version: Version, events: list[dict[str, Any]]) -> tuple[bool, Version | None]:
    """OSV ECOSYSTEM semantics; also returns the first fixed version above ``version``."""
    keyed: list[tuple[Version, str]] = []
    for event in events:
        for kind in ("introduced", "fixed", "last_affected", "limit"):
            if kind in event:
                parsed = Version("0") if str(event[kind]) == "0" else _version(event[kind])
                if parsed is not None:
                    keyed.append((parsed, kind))
    keyed.sort(key=lambda item: item[0])
    affected = False
    for at, kind in keyed:
        if kind == "introduced" and version >= at:
            affected = True
        elif (kind == "fixed" and version >= at) or (kind == "last_affected" and version > at):
            affected = False
    fixes = [at for at, kind in keyed if kind == "fixed" and at > version]
    return affected, min(fixes) if fixes else None


def affects(entry: dict[str, Any], version: Version) -> tuple[bool, Version | None]:
    """Whether one ``affected`` entry covers ``version``, and the first fix above it."""
    listed = {str(v) for v in entry.get("versions") or []}
    hit = str(version) in listed or any(
        (parsed := _version(v)) is not None and parsed == version for v in listed
    )
    first_fix: Version | None = None
    for rng in entry.get("ranges") or []:
        if not isinstance(rng, dict) or rng.get("type") not in ("ECOSYSTEM", "SEMVER"):
            continue
        inside, fix = _in_range(version, rng.get("events") or [])
        hit = hit or inside
        if fix is not None and (first_fix is None or fix < first_fix):
            first_fix = fix
    return hit, first_fix


class AdvisoryIndex:
    """Advisories by normalised package name; a per-package directory is parsed lazily."""

    def __init__(self, source: Path) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._pending: dict[str, list[Path]] = defaultdict(list)
        self._loaded: set[str] = set()
        if source.is_file():
            self._load_zip(source)
        else:
            self._plan_directory(source)

    def _add(self, record: dict[str, Any] | None) -> None:
        if record is None or record.get("withdrawn"):
            return
        for entry in record.get("affected") or []:
            package = entry.get("package") if isinstance(entry, dict) else None
            if isinstance(package, dict) and package.get("ecosystem", "PyPI") == "PyPI":
                name = canonicalize_name(str(package.get("name", "")))
                self._entries[name].append({**entry, "_record": record})

    def _load_zip(self, source: Path) -> None:
        try:
            with zipfile.ZipFile(source) as archive:
                for info in archive.infolist():
                    if info.filename.endswith(_SUFFIXES) and not info.is_dir():
                        self._add(_parse(archive.read(info), info.filename))
        except zipfile.BadZipFile as exc:
            raise Invalid(f"'{source}' is not a zip of OSV advisories") from exc
        self._loaded = set(self._entries)

    def _plan_directory(self, source: Path) -> None:
        """Files in per-package folders wait until that package is asked for; others load now."""
        root = source / "vulns" if (source / "vulns").is_dir() else source
        for dirpath, _, filenames in os.walk(root):
            folder = Path(dirpath)
            for name in filenames:
                if not name.endswith(_SUFFIXES):
                    continue
                if folder == root:
                    self._add(_parse((folder / name).read_bytes(), name))
                else:
                    key = canonicalize_name(folder.relative_to(root).parts[0])
                    self._pending[key].append(folder / name)

    def known(self, name: str) -> bool:
        key = canonicalize_name(name)
        return key in self._pending or key in self._entries

    def entries(self, name: str) -> list[dict[str, Any]]:
        key = canonicalize_name(name)
        with self._lock:
            if key not in self._loaded:
                for path in self._pending.get(key, []):
                    self._add(_parse(path.read_bytes(), path.name))
                self._loaded.add(key)
        return [e for e in self._entries.get(key, [])]

    def advisories_for(self, name: str, version: Version) -> list[Advisory]:
        found: dict[str, Advisory] = {}
        for entry in self.entries(name):
            hit, fix = affects(entry, version)
            if not hit:
                continue
            record = entry["_record"]
            ident = str(record.get("id"))
            previous = found.get(ident)
            fixed = str(fix) if fix is not None else (previous.fixed if previous else None)
            found[ident] = Advisory(
                id=ident,
                aliases=[str(a) for a in record.get("aliases") or []],
                summary=(record.get("summary") or record.get("details") or "")[:300] or None,
                fixed=fixed,
            )
        return sorted(found.values(), key=lambda a: a.id)


@lru_cache(maxsize=8)
def _cached(path: str, stamp: int) -> AdvisoryIndex:
    del stamp  # part of the cache key only: a changed database is indexed again
    return AdvisoryIndex(Path(path))


def advisory_index(source: str | os.PathLike[str]) -> AdvisoryIndex:
    """The index for ``source``, built once per process while the source is unchanged."""
    path = Path(source)
    if not path.exists():
        raise NotFound(f"no advisory database at '{path}'; pass an OSV directory or zip")
    return _cached(str(path.resolve()), path.stat().st_mtime_ns)
