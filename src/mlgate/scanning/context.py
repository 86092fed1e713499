"""Where the scanner is looking (file, zip member, nesting depth) and the findings it collects."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

from mlgate.scanning.schemas import Finding, Severity

__all__ = ["MAX_DEPTH", "Location", "OutOfTime", "Sink"]

# Nested pickles, archives inside archives and compressed streams all count one level; a bound
# keeps a crafted file from sending the scanner into unbounded recursion.
MAX_DEPTH = 4


class OutOfTime(Exception):
    """The scan's time budget ran out: the file being read was not fully checked."""


@dataclass
class Sink:
    """Collects findings for one scan; reading stops once ``time.monotonic()`` passes
    ``deadline``, so a crafted file cannot hold the scanning thread for minutes."""

    findings: list[Finding] = field(default_factory=list)
    deadline: float = math.inf

    def check_time(self) -> None:
        """Raises OutOfTime past the deadline; called every so many items, not per item."""
        if time.monotonic() > self.deadline:
            raise OutOfTime


@dataclass(frozen=True)
class Location:
    """A place inside the scanned tree; ``report`` files a finding for it."""

    file: str
    sink: Sink
    member: str | None = None
    depth: int = 0

    def inside(self, member: str) -> Location:
        """The location of ``member`` inside this one (members of members are joined with '!')."""
        name = member if self.member is None else f"{self.member}!{member}"
        return replace(self, member=name, depth=self.depth + 1)

    def deeper(self) -> Location:
        return replace(self, depth=self.depth + 1)

    def report(
        self,
        severity: Severity,
        rule: str,
        message: str,
        *,
        subject: str | None = None,
        offset: int | None = None,
    ) -> None:
        self.sink.findings.append(
            Finding(
                severity=severity,
                rule=rule,
                file=self.file,
                member=self.member,
                offset=offset,
                subject=subject,
                message=message,
            )
        )
