"""The Brian2 reference (tests/oracles/brian2_reference.py, used by benchmarks/snn_throughput.py) computes what lprnn.snn computes,
spike for spike, so the throughput ratio compares two implementations of one network."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("brian2", reason="brian2 is a benchmark-only dependency")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from snn_throughput import spike_mismatches, tiny_network  # noqa: E402


@pytest.mark.parametrize("decay_rounding", ["truncate", "nearest"])
@pytest.mark.parametrize("readout_source", ["spike_counts", "decoded"])
def test_brian2_reference_equals_fast_simulator(readout_source, decay_rounding):
    x = torch.randn(12, 4, generator=torch.Generator().manual_seed(0))
    differ, emitted, _ = spike_mismatches(tiny_network(readout_source,
                                                       decay_rounding=decay_rounding), x)
    assert sum(emitted.values()) > 0, "the tiny network must spike for the check to mean anything"
    assert differ == {name: 0 for name in emitted}, differ
