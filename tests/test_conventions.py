"""lprnn.core.conventions against independent constructions of each convention."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lprnn.ann.model import ModelConfig
from lprnn.core import conventions, hardware


@pytest.mark.parametrize("k", [1, 2, 3, 10])
def test_held_input_is_the_hold_delayed_by_one_step(k):
    n_ann = 4
    held = [t for t in range(n_ann) for _ in range(k)]         # source output at each SNN step
    received = [None] + held[:-1]                              # one step of synaptic delay
    assert [conventions.held_input_step(n, k) for n in range(n_ann * k)] == received


def test_window_and_averaging():
    assert conventions.window_start(21, "second_half", 10) == 100
    assert conventions.window_start(21, "all", 10) == 0
    logits = torch.arange(2 * 5 * 3, dtype=torch.float64).reshape(2, 5, 3)
    assert torch.equal(conventions.average_logits(logits, "second_half"), logits[:, 2:].mean(1))
    assert torch.equal(conventions.average_logits(logits, "all"), logits.mean(1))
    with pytest.raises(ValueError, match="averaging='last'"):
        conventions.window_start(4, "last")


def test_layer_fan_outs_count_every_outgoing_nonzero_synapse():
    rng = np.random.default_rng(0)
    sparse = lambda *shape: rng.integers(-1, 2, size=shape)   # noqa: E731
    ff, rec, readout = [sparse(4, 3), sparse(5, 4)], [None, sparse(5, 5)], sparse(2, 5)
    fans = conventions.layer_fan_outs(ff, rec, readout)
    for layer in range(2):
        after = ff[layer + 1] if layer + 1 < 2 else readout
        for j in range(ff[layer].shape[0]):
            count = sum(after[i, j] != 0 for i in range(after.shape[0]))
            if rec[layer] is not None:
                count += sum(rec[layer][i, j] != 0 for i in range(rec[layer].shape[0]))
            assert fans[layer][j] == count
    torch_fans = conventions.layer_fan_outs([torch.as_tensor(w) for w in ff],
                                            [None, torch.as_tensor(rec[1])], torch.as_tensor(readout))
    assert all(torch.equal(t, torch.as_tensor(f)) for t, f in zip(torch_fans, fans))


def test_paper_network_needs_seven_cores():
    """80-128-512-512-20: per layer neurons and dense synapses against the published limits
    (8192 neurons, 937 500 synapses, 192 KiB per core; 8-bit synapses, four 24-bit states)."""
    layers = [(128, 80 * 128), (512, 128 * 512 + 512 * 512), (512, 512 * 512 * 2), (20, 512 * 20)]
    by_hand = [max(math.ceil(n / 8192), math.ceil(s / 937_500),
                   math.ceil((s + 12 * n) / (192 * 1024)), 1) for n, s in layers]
    assert by_hand == [1, 2, 3, 1]
    assert [conventions.loihi2_cores(n, s) for n, s in layers] == by_hand
    assert hardware.LOIHI2_NEURONS_PER_CORE == 8192


@pytest.mark.parametrize("bad", [-1, 1.0, True, "2"])
def test_readout_latency_is_checked_in_one_place_for_every_path(bad):
    with pytest.raises(ValueError, match=rf"ModelConfig.readout_latency={bad!r}: expected an "):
        ModelConfig(readout_latency=bad)
    with pytest.raises(ValueError, match=rf"readout_latency={bad!r}: expected an integer ≥ 0"):
        conventions.extend_input(torch.zeros(1, 3, 2), bad)


def test_extend_input_holds_the_last_frame():
    x = torch.arange(6.0).reshape(1, 3, 2)
    assert torch.equal(conventions.extend_input(x, 2)[0, 3:], x[0, [2, 2]])
    assert conventions.extend_input(x, 0) is x
