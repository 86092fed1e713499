"""Finds what a pickle global under an ML library's name really is, without loading attacker code.

A library re-exports names it did not write (``sklearn.callback._transport.Client`` is
``multiprocessing.connection.Client``), so a name's prefix says nothing about what it does. Only
modules of libraries listed in ``RESOLVABLE_ROOTS`` are ever imported, and only when installed:
the pickle chooses which of those modules, never which code exists. Test, build and entry-point
modules are never imported, for importing them runs set-up code.

What those modules import in turn is fenced too: while a name is looked up, its thread may import
only the standard library, the listed libraries and what they need to import at all. Anything
else (torch, through ``sklearn.externals.array_api_compat.torch``; pandas, rich, psutil, which
they try) fails as if it were not installed, and a look-up that fails on the fence says so
(``Kind.REFUSED``). Modules already imported are not imported again, so the fence spares them.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
import types
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

__all__ = ["FENCE_ALLOWS", "Kind", "Resolved", "resolve_global"]

# Libraries cheap and inert to import, whose classes a benign model pickles. torch is left out:
# importing it costs seconds and hundreds of megabytes per scanning process.
RESOLVABLE_ROOTS = frozenset({"numpy", "scipy", "sklearn", "joblib", "collections", "datetime"})

# What a look-up may import besides RESOLVABLE_ROOTS: the standard library, and what those
# libraries require (scikit-learn: threadpoolctl, narwhals; joblib: cloudpickle). A test holds
# this to their installed metadata.
FENCE_ALLOWS = (
    RESOLVABLE_ROOTS | {"threadpoolctl", "narwhals", "cloudpickle"} | sys.stdlib_module_names
)

_NEVER_IMPORTED = frozenset(
    {"tests", "test", "testing", "_testing", "conftest", "f2py", "distutils", "setup"}
)
_MAX_PARTS = 12


class Kind(Enum):
    CLASS = "class"
    UFUNC = "ufunc"  # numpy's element-wise math functions: no I/O, no code
    OTHER = "other"  # functions, methods, modules, instances: calling or BUILDing them does work
    REFUSED = "refused"  # finding out needs a module the fence refused (its ``origin_module``)


@dataclass(frozen=True, slots=True)
class Resolved:
    """What ``module.name`` is: its kind, where it was defined, and its bases' modules.

    A module is named by its own dotted name; a top-level one has an empty ``origin_module``.
    """

    kind: Kind
    origin_module: str
    origin_name: str
    base_modules: tuple[str, ...] = ()


def _importable(module: str) -> bool:
    parts = module.split(".")
    if parts[0] not in RESOLVABLE_ROOTS or len(parts) > _MAX_PARTS:
        return False
    return not any(
        not p.isidentifier() or p.startswith(("__", "_build")) or p in _NEVER_IMPORTED
        for p in parts
    )


_LOOKING_UP = threading.Lock()


class _Fence(importlib.abc.MetaPathFinder):
    """Refuses the looking-up thread any module outside FENCE_ALLOWS; other threads pass."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()
        self.refused: list[str] = []

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if threading.get_ident() != self.thread or fullname.split(".")[0] in FENCE_ALLOWS:
            return None  # the next finders look for it as usual
        self.refused.append(fullname)
        raise ModuleNotFoundError(f"the scanner does not import {fullname!r}", name=fullname)


@functools.lru_cache(maxsize=4096)
def resolve_global(module: str, name: str) -> Resolved | None:
    """The object ``module.name`` stands for, or None when it cannot be looked up safely."""
    if not _importable(module) or len(name.split(".")) > _MAX_PARTS:
        return None
    try:
        if importlib.util.find_spec(module.split(".", 1)[0]) is None:
            return None
        # Deprecated aliases warn on import and attribute access, and a few modules print when
        # imported: neither may reach the caller (the CLI's stdout is the report). Both
        # switches are process-wide, so look-ups from two threads take turns (each name once:
        # the answers are cached).
        with _LOOKING_UP, warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
            warnings.simplefilter("ignore")
            return _look_up(module, name)
    except Exception:
        return None


def _look_up(module: str, name: str) -> Resolved | None:
    fence = _Fence()
    # New lists, never edits in place: another thread's import may be looping over the list
    # (an element removed under it would make it skip a finder and fail that import).
    sys.meta_path = [fence, *sys.meta_path]
    try:
        obj: Any = importlib.import_module(module)
        for part in name.split("."):
            obj = getattr(obj, part)
        return _describe(obj, module, name)
    except Exception as exc:
        # Libraries catch refusals of what they only try (pandas, psutil) and carry on: a
        # look-up needed a refused module only when its failure is that refusal.
        for cause in _chain(exc):
            if isinstance(cause, ImportError) and cause.name in fence.refused:
                return Resolved(Kind.REFUSED, cause.name, "")
        return None
    finally:
        sys.meta_path = [finder for finder in sys.meta_path if finder is not fence]


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from or while handling (a few levels)."""
    chain = [exc]
    for _ in range(8):
        cause = chain[-1].__cause__ or chain[-1].__context__
        if cause is None:
            break
        chain.append(cause)
    return chain


def _describe(obj: Any, module: str, name: str) -> Resolved:
    if isinstance(obj, types.ModuleType):  # a re-exported module: numpy.lib._utils_impl.os is os
        parent, _, own = obj.__name__.rpartition(".")
        return Resolved(Kind.OTHER, parent, own)
    if isinstance(obj, type):
        bases = tuple(str(getattr(b, "__module__", "") or "") for b in obj.__mro__[1:])
        origin = str(getattr(obj, "__module__", "") or "")
        return Resolved(Kind.CLASS, origin, str(getattr(obj, "__qualname__", name)), bases)
    if type(obj).__name__ == "ufunc" and type(obj).__module__ == "numpy":
        return Resolved(Kind.UFUNC, "numpy", name)
    defined_in = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if isinstance(defined_in, str) and isinstance(qualname, str):
        return Resolved(Kind.OTHER, defined_in, qualname)
    return Resolved(Kind.OTHER, module, name)
