"""Shared pytest configuration: markers, and test isolation from the user's data and figures."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "lava: runs Lava processes (seconds each; select with -m lava)")
    config.addinivalue_line("markers", "slow: longer than a few seconds")


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny test models run fastest on one thread (and leave the other core to Lava workers)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
