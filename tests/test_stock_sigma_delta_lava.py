"""The stock sigma-delta baseline against Lava's own ``lava.proc.sdn.SigmaDelta``.

:func:`lprnn.baselines.conversions.simulate_stock_sigma_delta` re-implements Lava's neuron in
torch: each population recomputes its pre-activation from what it has received (Σ), applies
a ReLU and sends the change through :func:`~lprnn.baselines.conversions.delta_encode` (Δ).
Here Lava's ``SigmaDelta`` process (``fixed_pt``) receives the increments of the same integer
pre-activations as graded messages, and its graded spikes must equal ours step for step.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("lava")

# imports Lava with the fork start method forced
import lprnn.snn.lava.procs  # noqa: F401, E402, I001
from lava.magma.core.run_conditions import RunSteps  # noqa: E402
from lava.magma.core.run_configs import Loihi2SimCfg  # noqa: E402
from lava.proc.io.sink import RingBuffer as Sink  # noqa: E402
from lava.proc.io.source import RingBuffer as Source  # noqa: E402
from lava.proc.sdn.process import ActivationMode, SigmaDelta  # noqa: E402

from lprnn.baselines.conversions import delta_encode  # noqa: E402

N_NEURONS, N_STEPS = 6, 40


def _lava_sigma_delta(increments: np.ndarray, bias: np.ndarray, threshold: int) -> np.ndarray:
    """Graded spikes [n, T] of Lava's SigmaDelta (ReLU) fed ``increments`` [n, T]."""
    source = Source(data=increments)
    neuron = SigmaDelta(shape=(increments.shape[0],), vth=threshold, bias=bias,
                        act_mode=ActivationMode.RELU)
    sink = Sink(shape=(increments.shape[0],), buffer=increments.shape[1])
    source.s_out.connect(neuron.a_in)
    neuron.s_out.connect(sink.a_in)
    try:
        neuron.run(condition=RunSteps(num_steps=increments.shape[1]),
                   run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        return sink.data.get().astype(np.int64)
    finally:
        neuron.stop()


def _ours(pre_activation: np.ndarray, bias: np.ndarray, threshold: int) -> np.ndarray:
    """Our stock neuron on the same pre-activations z(t): Δ of relu(z(t) + b)."""
    z = torch.as_tensor(pre_activation, dtype=torch.float64).T        # [T, n]
    sent = torch.zeros(z.shape[1], dtype=torch.float64)
    spikes = []
    for t in range(z.shape[0]):
        s, sent = delta_encode(torch.clamp_min(z[t] + torch.as_tensor(bias), 0.0), sent,
                               threshold)
        spikes.append(s)
    return torch.stack(spikes, 1).numpy()


@pytest.mark.lava
@pytest.mark.parametrize("threshold", [0, 7])
def test_stock_sigma_delta_equals_lavas_sdn(threshold):
    rng = np.random.default_rng(threshold)
    pre_activation = np.cumsum(rng.integers(-20, 21, (N_NEURONS, N_STEPS)), axis=1)
    bias = rng.integers(-30, 31, N_NEURONS)
    lava = _lava_sigma_delta(np.diff(pre_activation, axis=1, prepend=0), bias, threshold)
    ours = _ours(pre_activation, bias, threshold)
    np.testing.assert_array_equal(ours, lava)
    # demanding: the ReLU is active, some changes are held back below θ and sent later
    assert np.any(pre_activation + bias[:, None] < 0) and np.any(lava != 0)
    if threshold > 0:
        assert np.any((lava == 0) & (np.abs(np.diff(pre_activation, axis=1, prepend=0)) > 0))
