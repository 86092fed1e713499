"""Record ids are ULIDs: 26 Crockford characters, unique, sorted by creation time."""

from __future__ import annotations

import os
import threading
import time

from ulid import ULID

from mlgate.ids import MAX_NUMBER, new_id, parse_number


def test_an_id_is_a_ulid_carrying_the_time_it_was_made() -> None:
    before = time.time()
    made = new_id()
    after = time.time()
    assert len(made) == 26
    parsed = ULID.from_str(made)  # the reference implementation reads it back
    assert str(parsed) == made
    assert before - 0.001 <= parsed.timestamp <= after + 0.001


def test_ids_made_in_a_row_are_unique_and_sort_in_creation_order() -> None:
    made = [new_id() for _ in range(20_000)]  # many share a millisecond
    assert len(set(made)) == len(made)
    assert made == sorted(made)


def test_ids_made_on_several_threads_never_collide() -> None:
    made: list[list[str]] = [[] for _ in range(4)]

    def work(out: list[str]) -> None:
        out.extend(new_id() for _ in range(5_000))

    threads = [threading.Thread(target=work, args=(out,)) for out in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    everything = [i for out in made for i in out]
    assert len(everything) == 20_000
    assert len(set(everything)) == 20_000


def test_a_forked_child_does_not_repeat_the_parents_random_bits() -> None:
    last = new_id()  # the parent has random bytes read ahead

    def next_millisecond_id() -> str:  # fresh random bits are drawn only in a new millisecond
        made = new_id()
        while made[:10] == last[:10]:
            made = new_id()
        return made

    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: its id to the parent, and out
        os.close(read)
        os.write(write, next_millisecond_id().encode())
        os._exit(0)
    os.close(write)
    theirs = os.read(read, 26).decode()
    os.waitpid(child, 0)
    os.close(read)
    ours = next_millisecond_id()
    assert len(theirs) == 26
    assert theirs[10:] != ours[10:]  # the 80 random bits after the 48-bit time


def test_a_number_is_ascii_digits_within_what_the_store_holds() -> None:
    assert parse_number("0") == 0
    assert parse_number("42") == 42
    assert parse_number(str(MAX_NUMBER)) == MAX_NUMBER
    # Past an INTEGER column, other scripts' digits, superscripts, signs, spaces: not numbers.
    for text in (str(MAX_NUMBER + 1), "9" * 40, "٣", "²", "-1", "+1", " 1", "1.0", ""):
        assert parse_number(text) is None, text
