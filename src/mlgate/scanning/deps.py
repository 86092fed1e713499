"""Audits requirements (requirements.txt, pyproject, pip freeze) against offline OSV advisories."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from mlgate.errors import Invalid
from mlgate.scanning.osv import advisory_index
from mlgate.scanning.schemas import DependencyFinding, DependencyReport, DependencyStatus

__all__ = ["ParsedRequirement", "audit_requirements", "parse_requirements"]

_OPTION = re.compile(r"\s+(--?[A-Za-z][\w-]*)(=\S+|\s+\S+)?")
# pip options that change what gets installed: an included file, or where packages come from.
_INCLUDE = re.compile(r"^(-r|-c|--requirement|--constraint)(?:\s*=\s*|\s*)(\S+)")
_SOURCE = re.compile(r"^(-i|-f|--index-url|--extra-index-url|--find-links)(?:\s*=\s*|\s*)(\S+)")


@dataclass(frozen=True, slots=True)
class ParsedRequirement:
    """A dependency as written: its name, the spec text, and the exact version when pinned."""

    name: str
    spec: str
    version: str | None
    note: str | None = None


def _pinned(requirement: Requirement) -> str | None:
    specs = list(requirement.specifier)
    if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
        return specs[0].version
    return None


def _parse_line(line: str) -> ParsedRequirement | None:
    line = line.split(" #", 1)[0].strip()
    editable = re.match(r"^(-e|--editable)[\s=]+(\S+)", line)
    if editable:  # pip freeze writes local checkouts this way; there is no version to audit
        target = editable.group(2)
        name = target.split("#egg=", 1)[1] if "#egg=" in target else target.rstrip("/")
        return ParsedRequirement(
            name.rsplit("/", 1)[-1],
            f"-e {target}",
            None,
            "editable install from a checkout, not a released version",
        )
    include = _INCLUDE.match(line)
    if include:  # its requirements were not given to us: the audit cannot answer for them
        option, target = include.groups()
        return ParsedRequirement(
            target, f"{option} {target}", None, "included file not audited; audit it too"
        )
    source = _SOURCE.match(line)
    if source:  # a package index other than PyPI may serve any code under a released name
        option, url = source.groups()
        return ParsedRequirement(
            "package-index",
            f"{option} {url}",
            None,
            "packages may come from an alternative index the advisories cannot vouch for",
        )
    if not line or line.startswith(("#", "-")):
        return None  # comments and other pip options (--hash, --no-binary ...)
    line = _OPTION.sub("", " " + line).strip()
    try:
        requirement = Requirement(line)
    except InvalidRequirement:
        return ParsedRequirement(
            name=line.split()[0], spec=line, version=None, note="not a valid requirement"
        )
    if requirement.url:
        return ParsedRequirement(
            requirement.name,
            f"@ {requirement.url}",
            None,
            "installed from a URL, not a released version",
        )
    return ParsedRequirement(
        requirement.name, str(requirement.specifier) or "*", _pinned(requirement)
    )


def _strings(value: object, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise Invalid.field(key, "must be a list of requirement strings")
    return value


def _pyproject_lines(text: str) -> list[str] | None:
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError):  # tomllib recurses per nested array/table
        return None
    project = data.get("project")
    if not isinstance(project, dict):
        return None
    lines = _strings(project.get("dependencies", []), "project.dependencies")
    optional = project.get("optional-dependencies", {})
    if not isinstance(optional, dict):
        raise Invalid.field(
            "project.optional-dependencies", "must be a table of lists of requirement strings"
        )
    for extra, requirements in optional.items():
        lines += _strings(requirements, f"project.optional-dependencies.{extra}")
    return lines


def parse_requirements(text: str) -> list[ParsedRequirement]:
    """Reads requirements.txt, ``pip freeze`` output, or a pyproject.toml's dependencies."""
    lines: list[str] | None = None
    if "[project]" in text:
        lines = _pyproject_lines(text)
        if lines is None:
            raise Invalid.field("requirements", "pyproject.toml cannot be parsed as TOML")
    if lines is None:
        lines = text.replace("\\\n", " ").splitlines()
    parsed = [p for p in (_parse_line(line) for line in lines) if p is not None]
    return parsed


def audit_requirements(text: str, advisories: str | os.PathLike[str]) -> DependencyReport:
    """Each requirement is vulnerable, clean, or unknown when the data cannot answer for it."""
    index = advisory_index(advisories)
    findings: list[DependencyFinding] = []
    for req in parse_requirements(text):
        base = {"name": req.name, "spec": req.spec, "version": req.version}
        if req.version is None:
            findings.append(
                DependencyFinding(
                    **base,
                    status=DependencyStatus.UNKNOWN,
                    reason=req.note or "not pinned to one version; pin it (==) to audit it",
                )
            )
            continue
        try:
            version = Version(req.version)
        except InvalidVersion:
            findings.append(
                DependencyFinding(
                    **base, status=DependencyStatus.UNKNOWN, reason="the version is not PEP 440"
                )
            )
            continue
        if not index.known(req.name):
            findings.append(
                DependencyFinding(
                    **base,
                    status=DependencyStatus.UNKNOWN,
                    reason="the advisory database does not know this package",
                )
            )
            continue
        advisories_found = index.advisories_for(req.name, version)
        findings.append(
            DependencyFinding(
                **base,
                status=DependencyStatus.VULNERABLE if advisories_found else DependencyStatus.CLEAN,
                advisories=advisories_found,
            )
        )
    return DependencyReport(dependencies=findings)
