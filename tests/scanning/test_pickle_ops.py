"""The scanner's opcode loop replays a pickle exactly as pickletools.genops and the machine did.

The reference below is the loop the scanner used before: genops feeding pickle_vm.step. Both run
on the same bytes with the same hooks; what they leave (the result or the error, the stack and
memo, every hook call, where the stream stands) must be the same.
"""

from __future__ import annotations

import io
import pickle
import pickletools
import random
import tracemalloc
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgate.scanning import scan_path
from mlgate.scanning.context import Location, Sink
from mlgate.scanning.pickle_ops import MAX_CONSTANT, replay
from mlgate.scanning.pickle_vm import (
    PLAIN_TABLE,
    Call,
    GlobalRef,
    Machine,
    Malformed,
    TrackedDict,
    step,
)
from mlgate.scanning.pickle_watch import watch
from mlgate.scanning.stream import Stream
from tests.scanning.corpus import Exploit, memo_stack_global
from tests.scanning.test_fuzz import SEEDS, mutated


class _Point:
    def __init__(self, x: float) -> None:
        self.x = x


def _seeds() -> list[bytes]:
    rng = random.Random(3)
    shared = ("shared", 2.5)
    value = {
        "ints": [0, 1, -1, 255, 256, 65535, 65536, -(2**31), 2**31, 2**64, -(2**200)],
        "floats": [0.0, -1.5, float("inf"), 1e300],
        "text": [
            "",
            "a",
            "é",
            "\udcff",  # a lone surrogate: pickle writes it with surrogatepass
            "x" * 300,
        ],
        "bytes": [b"", b"\x80\x02", bytearray(b"ab"), b"y" * 300],
        "shapes": [
            (),
            (1,),
            (1, 2),
            (1, 2, 3),
            (1, 2, 3, 4),
            [shared, shared],
            {1, 2},
            frozenset({3}),
        ],
        "nested": OrderedDict(a=[True, False, None], b={"k": shared}),
        "objects": [_Point(1.0), _Point(2.0)],
        "rows": [{"id": i, "w": rng.random(), "t": ("a", i % 3)} for i in range(50)],
    }
    made = [pickle.dumps(value, protocol=p) for p in range(pickle.HIGHEST_PROTOCOL + 1)]
    return made + SEEDS + [pickle.dumps(Exploit(), protocol=0), memo_stack_global()]


_SEEDS = _seeds()


def _machine(calls: list[Any]) -> Machine:
    def on_import(m: Machine, module: Any, name: Any, offset: int, op: str) -> Any:
        calls.append(("import", module, name, offset, op))
        return GlobalRef(str(module), str(name))

    def on_bytes(m: Machine, value: bytes, offset: int) -> None:
        calls.append(("bytes", value, offset))

    def on_build(m: Machine, target: Call, offset: int) -> None:
        calls.append(("build", _shape(target.state), offset))

    return Machine(Location("t.pkl", Sink()), on_import, on_bytes, on_build)


def _shape(value: Any, depth: int = 0) -> Any:
    """A comparable picture of a replayed value (Call compares by identity; cycles are cut)."""
    if depth > 6:
        return "..."
    if isinstance(value, Call):
        return ("call", _shape(value.func, depth + 1), _shape(value.args, depth + 1))
    if isinstance(value, TrackedDict):
        items = [(_shape(k, depth + 1), _shape(v, depth + 1)) for k, v in value.items()]
        return ("dict", repr(items), value.partial)
    if isinstance(value, list | tuple):
        return (type(value).__name__, [_shape(v, depth + 1) for v in value])
    return (type(value).__name__, repr(value))


def _outcome(m: Machine, run: Any, stream: Stream) -> tuple[Any, ...]:
    try:
        with warnings.catch_warnings():  # pickletools warns on escapes pickle accepts
            warnings.simplefilter("ignore", DeprecationWarning)
            result: Any = ("stop", _shape(run()))
    except Malformed as exc:
        result = ("malformed", str(exc), exc.offset)
    except (ValueError, EOFError, OverflowError, MemoryError) as exc:
        result = ("error", type(exc).__name__, str(exc), stream.tell())
    return result, _shape(m.stack), _shape(m.memo), _shape(sorted(m.far.items())), stream.tell()


def _reference(data: bytes) -> tuple[Any, ...]:
    calls: list[Any] = []
    m, stream = _machine(calls), Stream(io.BytesIO(data))

    def run() -> Any:
        for opcode, arg, pos in pickletools.genops(stream):
            if step(m, opcode.name, arg, pos if pos is not None else stream.tell()):
                return m.stack[-1] if m.stack else None
        raise AssertionError("genops ends at STOP or raises")

    return (*_outcome(m, run, stream), calls)


def _replayed(data: bytes) -> tuple[Any, ...]:
    calls: list[Any] = []
    m, stream = _machine(calls), Stream(io.BytesIO(data))
    return (*_outcome(m, lambda: replay(stream, m, lambda: None, 1 << 16), stream), calls)


@pytest.mark.parametrize("data", _SEEDS, ids=range(len(_SEEDS)))
def test_the_loop_replays_real_pickles_as_genops_did(data: bytes) -> None:
    assert _replayed(data) == _reference(data)


@settings(max_examples=400)
@given(mutated(_SEEDS) | st.binary(max_size=256))
def test_the_loop_replays_broken_pickles_as_genops_did(data: bytes) -> None:
    assert _replayed(data) == _reference(data)


def _replayed_watching(data: bytes) -> tuple[Any, ...]:
    """As _replayed, with the handlers a machine swaps in once it imports a class it follows
    (pickle_watch): without that class, they replay every pickle as the plain ones."""
    calls: list[Any] = []
    m, stream = _machine(calls), Stream(io.BytesIO(data))
    m.table, m.watched = list(PLAIN_TABLE), frozenset({GlobalRef("never", "imported")})
    watch(m)
    return (*_outcome(m, lambda: replay(stream, m, lambda: None, 1 << 16), stream), calls)


@pytest.mark.parametrize("data", _SEEDS, ids=range(len(_SEEDS)))
def test_the_watching_handlers_replay_real_pickles_as_the_plain_ones(data: bytes) -> None:
    assert _replayed_watching(data) == _replayed(data)


@settings(max_examples=400)
@given(mutated(_SEEDS) | st.binary(max_size=256))
def test_the_watching_handlers_replay_broken_pickles_as_the_plain_ones(data: bytes) -> None:
    assert _replayed_watching(data) == _replayed(data)


def test_opcodes_straddling_the_read_ahead_window_are_replayed_whole() -> None:
    # Strings of every length up to 300 bytes, 3 MiB of them: arguments cross the 1 MiB edges.
    rng = random.Random(5)
    words = ["é" * rng.randrange(150) + str(i) for i in range(20_000)]
    data = pickle.dumps([words, [rng.random() for _ in range(100_000)]], protocol=4)
    assert len(data) > 2 << 20
    assert _replayed(data) == _reference(data)


def test_the_time_budget_is_checked_as_the_replay_goes() -> None:
    data = b"\x80\x02" + b"N0" * 100_000 + b"N."
    ticks: list[int] = []
    m = _machine([])
    stream = Stream(io.BytesIO(data))
    replay(stream, m, lambda: ticks.append(stream.tell()), 1 << 12)
    assert len(ticks) >= len(data) // (1 << 12)


def test_a_constant_longer_than_any_check_reads_is_skipped_not_held(tmp_path: Path) -> None:
    # A pickled array of 64 MiB is one BINBYTES8 constant; genops read it whole into memory.
    size = MAX_CONSTANT + (1 << 20)
    head = b"\x80\x04\x8e" + size.to_bytes(8, "little")
    path = tmp_path / "array.pkl"
    with path.open("wb") as out:
        out.write(head)
        for _ in range(size >> 20):
            out.write(bytes(1 << 20))
        out.write(b".")
    tracemalloc.start()
    try:
        report = scan_path(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20
    assert report.findings == []
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(head + bytes(1024) + b".")  # the constant's end is still checked
    assert [f.rule for f in scan_path(cut).findings] == ["pickle.malformed"]
