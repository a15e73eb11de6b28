"""CPU thread policy: every entry point takes an explicit ``threads`` and restores the caller's.

``DEFAULT_THREADS = 1``: measured on a 2-core machine with the other core busy
(``benchmarks/snn_throughput.py --threads 2`` beside a busy process), two threads were slower
than one for the simulator (thread oversubscription: small matmuls and kernel chunks wait for
a core), so one thread is the default that never loses. Pass more on an idle many-core machine.
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
