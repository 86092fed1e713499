"""Disassembles pickle streams with pickletools, never loading them, and applies the import policy.

The scanner replays the unpickler's stack and memo with inert values (pickle_vm), so a global
whose module and name were assembled from memoised strings (STACK_GLOBAL after BINGET) is still
resolved. What cannot be resolved to constant strings is itself a finding: a benign pickler never
does that. Nor is a pickle the replay cannot follow within its bound on memory (pickle_values)
a pass: like a malformed one, it is a HIGH finding.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

from mlgate.scanning.archives import escapes_directory
from mlgate.scanning.context import MAX_DEPTH, Location, Sink
from mlgate.scanning.pickle_dtypes import NUMPY_DTYPE, itemsize
from mlgate.scanning.pickle_ops import replay
from mlgate.scanning.pickle_probe import Replay, probe
from mlgate.scanning.pickle_values import CUT_HEAD, MAX_HELD, MAX_TEXT, Cut
from mlgate.scanning.pickle_vm import (
    PLAIN_TABLE,
    UNKNOWN,
    Call,
    GlobalRef,
    Machine,
    Malformed,
    Skipped,
    TooComplex,
    TrackedDict,
)
from mlgate.scanning.pickle_watch import watch
from mlgate.scanning.policy import (
    EXTERNAL_FILE_WRAPPERS,
    classify_cut,
    classify_global,
    normalise_global,
)
from mlgate.scanning.resolve import Kind, resolve_global
from mlgate.scanning.schemas import Severity
from mlgate.scanning.sniff import looks_like_pickle
from mlgate.scanning.stream import Stream

__all__ = ["MAX_IMPORTS", "scan_pickle_bytes", "scan_pickle_stream"]

_MAX_STREAMS = 64
# Distinct imports reported from one pickle. A pickler imports each class once (the memo holds
# it after), and the largest honest pickles above import a few hundred; a crafted one importing
# millions would make as many findings (20 MiB of GLOBAL opcodes: 4 GB of them).
MAX_IMPORTS = 10_000
_LOOK_AHEAD = 64 << 10
_TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_JOBLIB_WRAPPER = GlobalRef("joblib.numpy_pickle", "NumpyArrayWrapper")
_LEGACY_WRAPPERS = frozenset(GlobalRef(*n.rsplit(".", 1)) for n in EXTERNAL_FILE_WRAPPERS)
# Classes whose instances joblib.load treats apart at their BUILD (pickle_watch follows them).
_WRAPPERS = _LEGACY_WRAPPERS | {_JOBLIB_WRAPPER}
_WRAPPER_NAMES = frozenset(ref.name for ref in _WRAPPERS)
# The time budget and what the replay holds are checked at each pickle's start and every _BATCH
# bytes of opcodes after (so at most _BATCH opcodes apart): a small fraction of a second of
# replay, and of what it may allocate (a few dozen bytes an opcode), between checks.
_BATCH = 1 << 16


def _import(m: Machine, module: Any, name: Any, offset: int, op: str) -> Any:
    if op == "EXT":
        _report_once(
            m,
            Severity.HIGH,
            "pickle.extension-code",
            "an extension-registry code imports a global the scanner cannot see",
            subject=str(name),
            offset=offset,
        )
        return UNKNOWN
    module, name = _seen(module), _seen(name)
    if type(module) is not str or type(name) is not str:
        _unjudged(m, op, module, name, offset)
        return UNKNOWN
    m.globals_seen += 1
    verdict = classify_global(module, name)
    mod, attr = normalise_global(module, name)
    if verdict is not None:
        _report_once(
            m,
            verdict.severity,
            verdict.rule,
            verdict.reason,
            subject=f"{mod}.{attr}",
            offset=offset,
        )
    # By its full dotted path: protocol 4 reads "joblib" + "numpy_pickle.NumpyArrayWrapper" as
    # the same class as "joblib.numpy_pickle" + "NumpyArrayWrapper", and so must every check
    # that compares what was imported (the wrapper's array data is skipped only for the
    # wrapper; read as other opcodes, it hid a payload).
    ref = GlobalRef(*f"{mod}.{attr}".rsplit(".", 1))
    if ref.name in _WRAPPER_NAMES and ref not in _WRAPPERS:
        ref = _wrapper_alias(m, ref, (mod, attr), offset)
    if ref in m.watched:
        watch(m)
    return ref


def _seen(operand: Any) -> str | Cut | None:
    """What is seen of an import's operand: all its text, a start (Cut), or nothing (None).

    No module or attribute path is longer than MAX_TEXT (a GLOBAL line may be a MiB): past it
    only a start is kept, as a longer string constant is.
    """
    if type(operand) is str:
        operand = operand.strip()
        return operand if len(operand) <= MAX_TEXT else Cut(operand[:CUT_HEAD])
    if type(operand) is Cut:
        return Cut(operand.head.lstrip())
    return None


def _unjudged(
    m: Machine, op: str, module: str | Cut | None, name: str | Cut | None, offset: int
) -> None:
    """An import whose name is not all seen. Never judged by a part of its name: a dotted name
    resolves attribute by attribute, so its dangerous end could lie past any cut (torch.nn. ...
    .Linear.forward.__builtins__.get), and what is not seen is not passed. But what is seen may
    already decide the worst whatever follows (a module under os): that is not lost with it."""
    seen_module, seen_name = _text(module), _text(name)
    subject = f"{seen_module[:64]}.{seen_name[:64]}…"
    verdict = classify_cut(
        seen_module, seen_name, module_cut=type(module) is not str, name_cut=type(name) is not str
    )
    if verdict is not None:
        reason = verdict.reason
        _report_once(m, verdict.severity, verdict.rule, reason, subject=subject, offset=offset)
    elif module is not None and name is not None:
        _report_once(
            m,
            Severity.HIGH,
            "pickle.unresolved-global",
            f"{op} names a global longer than {MAX_TEXT} characters, which no library has; "
            "it is not judged by a part of its name",
            subject=subject,
            offset=offset,
        )
    else:
        _report_once(
            m,
            Severity.HIGH,
            "pickle.unresolved-global",
            f"{op} operands are not constant strings, so the imported name cannot be known",
            subject=op,
            offset=offset,
        )


def _text(seen: str | Cut | None) -> str:
    return seen if type(seen) is str else seen.head if type(seen) is Cut else ""


def _wrapper_alias(m: Machine, ref: GlobalRef, named: tuple[str, str], offset: int) -> GlobalRef:
    """A class named like a joblib wrapper elsewhere (joblib 0.9 pickled the legacy ones as
    ``joblib.numpy_pickle.NDArrayWrapper``, which still is the class): it is the wrapper when it
    resolves to one. One that cannot be resolved is not followed, and a wrapper not followed
    has joblib read array data where the scanner reads opcodes."""
    found = resolve_global(*named)
    if found is None or found.kind is not Kind.CLASS:
        if found is None or found.kind is Kind.REFUSED:
            _report_once(
                m,
                Severity.HIGH,
                "pickle.unresolved-global",
                f"'{ref.module}.{ref.name}' may be a joblib array wrapper, which the scanner "
                "follows only where it can resolve it",
                subject=f"{ref.module}.{ref.name}",
                offset=offset,
            )
        return ref
    origin = GlobalRef(found.origin_module, found.origin_name)
    return origin if origin in _WRAPPERS else ref


def _report_once(
    m: Machine, severity: Severity, rule: str, message: str, *, subject: str, offset: int
) -> None:
    """A pickle importing the same name again is the same finding (at its first offset)."""
    key = (rule, subject)
    if key in m.reported:
        return
    if len(m.reported) >= MAX_IMPORTS:
        raise TooComplex(f"more than {MAX_IMPORTS} distinct imports to report")
    m.reported.add(key)
    m.loc.report(severity, rule, message, subject=subject, offset=offset)


def _nested(m: Machine, value: bytes | Skipped, offset: int) -> None:
    """A bytes constant that parses as a pickle is scanned: something may ``loads`` it."""
    if isinstance(value, Skipped) or m.loc.depth >= MAX_DEPTH:
        _unscanned(m, value, offset)
        return
    if not looks_like_pickle(value[:256], value[-1:]):
        return
    sink = Sink(deadline=m.loc.sink.deadline)
    nested = _machine(Location(m.loc.file, sink, m.loc.member, m.loc.depth + 1), limit=_rest(m))
    try:
        _disassemble(Stream(io.BytesIO(value)), nested)
    except Malformed:
        if nested.globals_seen == 0:
            return  # raw data that merely starts like a pickle
    except TooComplex as exc:
        _too_complex(nested.loc, exc, None)
    m.loc.report(
        Severity.INFO, "pickle.nested", "a bytes constant holds another pickle", offset=offset
    )
    for finding in sink.findings:
        m.loc.sink.findings.append(
            finding.model_copy(
                update={"message": f"nested pickle: {finding.message}", "offset": offset}
            )
        )


def _unscanned(m: Machine, value: bytes | Skipped, offset: int) -> None:
    """A constant too long to read, or nested too deeply, that a loader would still run."""
    if isinstance(value, Skipped):
        head, last, size, why = value.head, value.last, value.size, "too long"
    else:
        head, last, size, why = value[:_LOOK_AHEAD], value[-1:], len(value), "nested too deeply"
    if not looks_like_pickle(head[:256], last) or probe(head, size) is Replay.NOT_PICKLE:
        return  # raw data, or a pickle that imports nothing: no loader runs anything from it
    m.loc.report(
        Severity.HIGH,  # unscanned content is no pass
        "pickle.nested-unscanned",
        f"a constant holds what looks like another pickle but is {why} to scan; "
        "whatever unpickles it was not checked",
        offset=offset,
    )


def _rest(m: Machine) -> int:
    """The bound left for a pickle replayed inside ``m``'s (m holds its own values meanwhile)."""
    return max(m.limit - m.last_held, 0)


def _too_complex(loc: Location, exc: TooComplex, offset: int | None) -> None:
    loc.report(
        Severity.HIGH,  # unscanned content is no pass
        "pickle.too-complex",
        f"{exc}; the scanner stopped reading this pickle there, so the rest of it was not scanned",
        offset=offset,
    )


# The calls whose arguments and BUILD state a check reads; the replay keeps no other call's.
_STATEFUL = frozenset({NUMPY_DTYPE, _JOBLIB_WRAPPER} | _LEGACY_WRAPPERS)


class _Desync(Malformed):
    """joblib.load would read the bytes from here on otherwise than the scanner follows them: no
    joblib writer makes such a file, so it is judged as crafted to run what was not checked."""


# A wrapper's ``args`` once its array was read: joblib replaced it on the stack by the array,
# but the memo keeps the wrapper itself, and a BUILD of it there reads array data again.
_READ = object()


class _Joblib:
    """Skips the raw array data joblib writes right after a NumpyArrayWrapper's BUILD."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream

    def __call__(self, m: Machine, target: Call, offset: int) -> None:
        if target.func in _LEGACY_WRAPPERS:
            _legacy_wrapper(m, target, offset)
            _replace_top(m)  # by what joblib loaded: an array
            return
        if target.func != _JOBLIB_WRAPPER:
            return
        if target.args is _READ:  # joblib writes a fresh wrapper for every array
            raise _Desync("a joblib array wrapper built again reads array data again", offset)
        stream = self.stream
        if target.args != ():  # REDUCE/INST/OBJ would run __init__, setting what BUILD leaves
            raise Malformed("joblib array wrapper built with constructor arguments", offset)
        if stream.tell() < m.frame_end:
            # joblib's unpickler holds the frame in memory and reads the array (its padding
            # byte, its data or an object array's pickle) from the file, past the frame; the
            # frame's opcodes left then run after it. joblib closes the frame before every array.
            raise _Desync(
                f"joblib would read this array from past the end of its pickle frame, then run "
                f"the {m.frame_end - stream.tell()} bytes of opcodes left in the frame",
                stream.tell(),
            )
        self._read(m, target, offset)
        # joblib pushes what read() returned in the wrapper's place: nothing a check follows (an
        # object array's pickle may return anything but a wrapper: _in_array).
        target.args = _READ
        _replace_top(m)

    def _read(self, m: Machine, target: Call, offset: int) -> None:
        stream, state = self.stream, target.state
        if not isinstance(state, TrackedDict) or state.partial or m.aliased_write:
            raise Malformed("joblib array wrapper whose state the scanner cannot follow", offset)
        shape, size = state.get("shape"), itemsize(state.get("dtype"))
        if size == 0:
            # Object arrays are written as a complete pickle inline, which joblib reads with a
            # new plain Unpickler (a memo of its own): no BUILD there reads array data, so none
            # is skipped.
            inner = _machine(m.loc, limit=_rest(m))
            inner.on_import = _in_array
            _disassemble(stream, inner)
            return
        if not isinstance(shape, tuple) or not all(isinstance(d, int) for d in shape) or not size:
            raise Malformed("joblib array wrapper with an unreadable shape or dtype", offset)
        count = 1
        for dim in shape:
            count *= dim
        if state.get("numpy_array_alignment_bytes") is not None:
            padding = stream.read(1)
            if not padding or not stream.skip(padding[0]):
                raise Malformed("joblib array padding is truncated", stream.tell())
        data = count * size
        # joblib reads these bytes as the array; pickle.load, torch.load or pandas would read
        # them as opcodes, so data that replays to an import is a payload for those loaders.
        if data > 0 and probe(stream.peek(min(data, _LOOK_AHEAD)), data) is Replay.PICKLE:
            m.loc.report(
                Severity.HIGH,
                "pickle.array-data-runs",
                "joblib array data that a plain unpickler would run as a pickle with imports",
                offset=stream.tell(),
            )
        if count < 0 or not stream.skip(data):
            raise Malformed("joblib array data is truncated", stream.tell())


def _replace_top(m: Machine) -> None:
    m.stack[-1] = UNKNOWN
    m.cut(len(m.stack))  # the top changed: counted again at the next check


def _in_array(m: Machine, module: Any, name: Any, offset: int, op: str) -> Any:
    """An import in an object array's pickle. A joblib wrapper made there is not read (the
    plain Unpickler's BUILD reads nothing), but it is what the array read may return to the
    outer pickle, and joblib reads array data at a BUILD of it there, where the scanner sees an
    unknown value. No array of objects joblib writes holds a wrapper: the rest is still read,
    to report what else it imports."""
    ref = _import(m, module, name, offset, op)
    if ref in _WRAPPERS:
        _report_once(
            m,
            Severity.CRITICAL,  # crafted: joblib reads array data where the scanner cannot tell
            "pickle.malformed",
            "an object array's pickle imports a joblib array wrapper, whose array joblib would "
            "read wherever the outer pickle builds it; no joblib writer does this",
            subject=f"{ref.module}.{ref.name}",
            offset=offset,
        )
    return ref


def _legacy_wrapper(m: Machine, target: Call, offset: int) -> None:
    """joblib.load joins the wrapper's filename to the dump's directory and unpickles that file.

    An absolute name or one climbing with '..' reads a file outside the model: another upload,
    anything on the host. So does a name the scanner cannot read for sure (a state it stopped
    following or that was written through a second reference, a name too long or made by a
    call, none but what the constructor was given): it is judged the worst it could be. A
    relative name is the HIGH finding the policy already gave.
    """
    state = target.state
    followed = isinstance(state, TrackedDict) and not state.partial and not m.aliased_write
    filename = state.get("filename") if followed else None
    if isinstance(filename, str) and not escapes_directory(filename):
        return
    if isinstance(filename, str):
        message, subject = (
            "a legacy joblib wrapper loads a file outside the model's directory",
            filename[:200],
        )
    else:
        message = (
            "a legacy joblib wrapper loads a file whose name the scanner cannot read for sure; "
            "it may lie outside the model's directory"
        )
        subject = f"{target.func.module}.{target.func.name}.filename"  # not the import's
    # Once a name: a wrapper BUILT again costs the pickle three bytes.
    _report_once(
        m, Severity.CRITICAL, "pickle.external-file", message, subject=subject, offset=offset
    )


def _machine(loc: Location, stream: Stream | None = None, *, limit: int = MAX_HELD) -> Machine:
    """A machine for a pickle of ``loc``; with the ``stream`` it is read from, for a pickle
    joblib.load reads (its wrappers followed, their array data skipped), else for one a plain
    unpickler reads (a nested one, or a joblib object array's)."""
    on_build = _Joblib(stream) if stream is not None else (lambda m, target, offset: None)
    return Machine(
        loc,
        on_import=_import,
        on_bytes=_nested,
        on_build=on_build,
        stateful=_STATEFUL,
        limit=limit,
        watched=_WRAPPERS if stream is not None else frozenset(),
        table=list(PLAIN_TABLE) if stream is not None else PLAIN_TABLE,
    )


def _disassemble(stream: Stream, m: Machine) -> Any:
    """Runs one pickle to its STOP; returns the value left on the stack."""

    def tick() -> None:
        m.loc.sink.check_time()
        m.check()

    try:
        value = replay(stream, m, tick, _BATCH)
    except (ValueError, EOFError, OverflowError, MemoryError, UnicodeError) as exc:
        raise Malformed(str(exc), stream.tell()) from exc
    if stream.tell() < m.frame_end:
        # A pure-Python unpickler (joblib's, for the dump and an object array's pickle) has
        # read the whole frame: the file goes on past it, where the scanner does not.
        raise _Desync(
            f"the pickle stops {m.frame_end - stream.tell()} bytes before the end of its frame, "
            "where joblib would go on reading",
            stream.tell(),
        )
    return value


def scan_pickle_stream(stream: Stream, loc: Location) -> None:
    """Scans each pickle in ``stream`` back to back; malformed input is a finding, not an error."""
    # pickletools warns on odd string escapes that pickle itself accepts; they are not findings.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        _scan_streams(stream, loc)


def _scan_streams(stream: Stream, loc: Location) -> None:
    legacy_left = 0
    for index in range(_MAX_STREAMS):
        start = stream.tell()
        try:
            value = _disassemble(stream, _machine(loc, stream))
        except _Desync as exc:
            loc.report(
                Severity.CRITICAL,  # crafted to be read apart: benign writers never do this
                "pickle.malformed",
                f"joblib.load would not read this pickle as the scanner does ({exc}); no joblib "
                "writer makes such a file, and what joblib would run was not checked",
                offset=exc.offset,
            )
            return
        except Malformed as exc:
            loc.report(
                Severity.HIGH,
                "pickle.malformed",
                f"the pickle stream is malformed or truncated ({exc}); it cannot be vouched for",
                offset=exc.offset if exc.offset is not None else start,
            )
            return
        except TooComplex as exc:
            _too_complex(loc, exc, stream.tell())
            return
        if index == 0 and value == _TORCH_LEGACY_MAGIC:
            legacy_left = 4  # protocol, sys_info, the model, storage keys; then raw storages
        elif legacy_left:
            legacy_left -= 1
            if legacy_left == 0:
                return
        head = stream.peek(64)
        if not head:
            return
        if legacy_left or looks_like_pickle(head) or _pickle_follows(stream):
            continue
        loc.report(
            Severity.MEDIUM,
            "pickle.trailing-data",
            "data follows the pickle's STOP opcode and is not another pickle",
            offset=stream.tell(),
        )
        return
    loc.report(
        Severity.HIGH,  # unscanned content is no pass
        "pickle.too-many-streams",
        f"more than {_MAX_STREAMS} pickles back to back; the rest was not scanned",
        offset=stream.tell(),
    )


def _pickle_follows(stream: Stream) -> bool:
    """What follows a STOP is another pickle, PROTO header or not, when it replays to an import.

    Data that still parses cleanly past the look-ahead is scanned too: failing closed.
    """
    ahead = stream.peek(_LOOK_AHEAD)
    verdict = probe(ahead)
    return verdict is Replay.PICKLE or (verdict is Replay.UNDECIDED and len(ahead) == _LOOK_AHEAD)


def scan_pickle_bytes(data: bytes, loc: Location) -> None:
    """Scans an in-memory pickle (or several back to back)."""
    scan_pickle_stream(Stream(io.BytesIO(data)), loc)
