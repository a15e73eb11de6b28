"""Resource and activity reports: counts by hand on a tiny network, limits from lprnn.core.hardware."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lprnn import snn
from lprnn.core import hardware
from lprnn.snn import resources
from lprnn.snn.network import LoihiLayer, LoihiNetwork, LoihiReadout, SigmaDeltaFixedParams

NEURON = SigmaDeltaFixedParams(decay_in=409, decay_ip=91, decay_v=4096, decay_fb=409,
                               feedback_weight=-1200, threshold=0)


def _network(n_hidden: int = 4) -> LoihiNetwork:
    w0 = np.array([[2, 0, -4], [0, 0, 6], [8, 2, 0], [0, 0, 0], [-2, 2, 2]], np.int32)
    layers = [LoihiLayer("lpff", w0, 0, np.array([10, 20, 0, 5, 1], np.int32), 3, NEURON, 64.0),
              LoihiLayer("rnn", np.full((n_hidden, 5), 4, np.int32), 1,
                         np.zeros(n_hidden, np.int32), 0, NEURON, 32.0,
                         recurrent_weights=np.eye(n_hidden, dtype=np.int32) * -2)]
    readout = LoihiReadout(np.array([[1, 0, 0, 3], [0, 0, 0, 0]], np.int32)[:, :n_hidden],
                           np.array([0, 1]))
    return LoihiNetwork(layers, readout, steps_per_ann_step=3, input_scale=100.0)


def test_resource_counts_by_hand():
    table = resources.resource_report(_network()).set_index("layer")
    assert table.loc["lpff", "neurons"] == 5 and table.loc["lpff", "synapses"] == 15
    assert table.loc["lpff", "nonzero_synapses"] == 8
    assert table.loc["rnn", "synapses"] == 20 + 16 and table.loc["rnn", "nonzero_synapses"] == 24
    assert table.loc["readout", "synapses"] == 8 and table.loc["readout", "nonzero_synapses"] == 2
    assert table.loc["lpff", "state_memory_bytes"] == 5 * 12
    assert table.loc["total", "synapses"] == 15 + 36 + 8
    assert table.loc["total", "cores"] == 3
    assert resources.cores_needed(_network()) == 3 and resources.fits_one_chip(_network())


def test_weight_bits():
    assert resources.weight_bits(np.array([[2, -4, 6]])) == 3       # 1..3 after >>1, + sign
    assert resources.weight_bits(np.array([[255, 1]])) == 8
    assert resources.weight_bits(np.array([[-256, 2]])) == 8         # −128, 1 after >>1
    assert resources.weight_bits(np.array([[-4, -8]])) == 2          # −1, −2 after >>2
    assert resources.weight_bits(np.zeros((2, 2))) == 1


def test_core_count_follows_the_published_limits():
    big = hardware.LOIHI2_NEURONS_PER_CORE + 1
    network = _network(n_hidden=big)
    rnn = resources.resource_report(network).set_index("layer").loc["rnn"]
    memory = (big * 5 + big * big) * resources.SYNAPSE_BYTES + big * 12
    assert rnn["memory_bytes"] == memory
    assert rnn["cores"] == max(2, math.ceil((big * 5 + big * big) / hardware.LOIHI2_SYNAPSES_PER_CORE),
                               math.ceil(memory / hardware.LOIHI2_MEMORY_PER_CORE_BYTES))
    assert not resources.fits_one_chip(network)


def test_activity_matches_the_simulators_synaptic_ops():
    network = _network()
    x = torch.rand(3, 4, 3, generator=torch.Generator().manual_seed(0))
    x[0, 1, 2] = 0.0
    result = snn.simulate(network, x)
    table = resources.activity_report(network, result.spike_counts, x).set_index("layer")
    assert table.loc["total", "synaptic_ops_per_inference"] == \
        pytest.approx(result.synaptic_ops.double().mean().item())
    spikes = result.spike_counts["lpff"].sum(dim=1).double().mean().item()
    assert table.loc["lpff", "spikes_per_inference"] == pytest.approx(spikes)
    assert table.loc["lpff", "spikes_per_neuron_per_step"] == pytest.approx(spikes / (5 * 12))
    events = 3 * (torch.round(x * 100) != 0).sum(dim=1).numpy()        # [B, F] k per ANN step
    assert table.loc["lpff", "synaptic_ops_per_inference"] == \
        pytest.approx((events @ np.array([3, 2, 3])).mean())


def test_activity_refuses_mismatched_counts():
    network = _network()
    x = torch.rand(2, 4, 3)
    with pytest.raises(ValueError, match="spike counts missing for layers \\['rnn'\\]"):
        resources.activity_report(network, {"lpff": np.zeros((2, 5))}, x)
    with pytest.raises(ValueError, match="expected \\[B, 4\\]"):
        resources.activity_report(network, [np.zeros((2, 5)), np.zeros((2, 3))], x)
    with pytest.raises(ValueError, match="3 input samples but spike counts for 2"):
        resources.activity_report(network, [np.zeros((2, 5)), np.zeros((2, 4))],
                                  torch.rand(3, 4, 3))
