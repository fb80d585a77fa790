"""mfa.random_ids: 128-bit ids from the kernel's CSPRNG, drawn in blocks."""

from __future__ import annotations

import os
import re
import threading

from mfa import random_ids
from mfa.events.record import new_event_id


def test_ids_are_128_bit_hex_and_never_repeat_across_blocks() -> None:
    ids = [random_ids.random_hex() for _ in range(3000)]  # a dozen blocks
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert re.fullmatch(r"evt_[0-9a-f]{32}", new_event_id())


def test_threads_never_take_the_same_slice() -> None:
    found: list[list[str]] = [[] for _ in range(4)]

    def draw(out: list[str]) -> None:
        out.extend(random_ids.random_hex() for _ in range(2000))

    threads = [threading.Thread(target=draw, args=(out,)) for out in found]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for out in found for i in out]
    assert len(set(every)) == len(every) == 8000


def test_a_forked_child_does_not_hand_out_its_parents_ids() -> None:
    random_ids.random_hex()  # a block is in hand, with ids left in it
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent
        try:
            os.write(write, "".join(random_ids.random_hex() for _ in range(8)).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        text = pipe.read()
    child = {text[i : i + 32] for i in range(0, len(text), 32)}
    parent = {random_ids.random_hex() for _ in range(8)}
    assert len(child) == 8 and not child & parent
