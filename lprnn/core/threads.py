"""CPU thread policy: every entry point takes an explicit ``threads`` and restores the caller's.

``DEFAULT_THREADS = 1``, measured on the project's 2-core machine, loaded (other users plus
one ``python -c 'while 1: pass'``), 1 vs 2 threads alternating, medians of 3 to 5 runs:

- a paper-network training batch (64 × 187 steps, forward + backward): 6.4 s vs 23.1 s;
- the simulator's pure-torch path: 12.7 s vs 13.4 s for 2 clips;
- the simulator's C kernel: 35.6 vs 36.4 ms per clip (its chunks wait for a core).

Two threads never won, so one thread is the default that never loses; pass more on an idle
many-core machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

DEFAULT_THREADS = 1


def check_threads(threads: object) -> int:
    """``threads`` if it is a positive integer; else ValueError naming it."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads={threads!r}: expected a positive integer")
    return threads


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` torch CPU threads, then restore the caller's count."""
    check_threads(threads)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
