"""Shared pytest configuration: markers, and test isolation from the user's data and figures."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "lava: runs Lava processes (seconds each; select with -m lava)")
    config.addinivalue_line("markers", "slow: longer than a few seconds")
