"""Baselines: shapes and gradients, the 16-level discretizer, the fan-in limit, the IF conversions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lprnn.baselines import (AdaptiveSRNN, BaselineConfig, ElmanClassifier, LSTMClassifier,
                             constrain, discretize_activations,
                             discretize_weights, fan_in_mask, simulate_integrate_fire,
                             spiking_activity)
from lprnn.baselines.conversions import (delta_encode, simulate_rate_coded,
                                         simulate_stock_sigma_delta)
from lprnn.ann.model import LpRNNClassifier, ModelConfig
from lprnn.baselines.srnn import adaptive_lif_scan
from tests.oracles.adaptive_lif import adaptive_lif_autograd


@pytest.mark.parametrize("model", [
    ElmanClassifier(BaselineConfig(n_inputs=5, hidden_sizes=(6, 4), n_classes=3)),
    LSTMClassifier(BaselineConfig(n_inputs=5, hidden_sizes=(6, 4), n_classes=3)),
    AdaptiveSRNN(BaselineConfig(n_inputs=5, hidden_sizes=(6, 4), n_classes=3, averaging="all")),
], ids=["elman", "lstm", "srnn"])
def test_classifiers_forward_and_backward_shapes(model):
    torch.manual_seed(0)
    x = torch.randn(2, 7, 5)
    logits = model(x)
    assert logits.shape == (2, 3)
    trace = model.trace(x)
    assert trace["rnn_layers.0"].shape == (2, 7, 6) and trace["rnn_layers.1"].shape == (2, 7, 4)
    assert trace["logits"].shape == (2, 7, 3)
    logits.sum().backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    assert all(g is not None and g.shape == p.shape for (_, p), g in zip(model.named_parameters(), grads.values()))
    assert any(g.abs().sum() > 0 for g in grads.values())
    with pytest.raises(ValueError, match=r"expected \[B, T, 5\]"):
        model(torch.randn(2, 5, 7))


def test_srnn_spikes_are_binary_and_time_constants_learn():
    torch.manual_seed(1)
    model = AdaptiveSRNN(BaselineConfig(n_inputs=4, hidden_sizes=(8,), n_classes=2))
    x = torch.randn(3, 10, 4) * 3
    spikes = model.trace(x)["rnn_layers.0"]
    assert set(spikes.unique().tolist()) <= {0.0, 1.0} and spikes.sum() > 0
    model(x).sum().backward()
    assert model.rnn_layers[0].tau_m.grad.abs().sum() > 0
    assert model.rnn_layers[0].tau_adp.grad is not None
    activity = spiking_activity(model, x)
    assert torch.equal(activity.spike_counts[0], spikes.sum(dim=1))
    assert torch.allclose(activity.logits, model(x))


def test_adaptive_lif_scan_matches_a_step_by_step_autograd_loop():
    torch.manual_seed(3)
    hidden = 6
    x = (torch.randn(4, 25, hidden, dtype=torch.float64) * 1.5).requires_grad_()
    weight_hh = (torch.randn(hidden, hidden, dtype=torch.float64) * 0.6).requires_grad_()
    tau_m = (torch.rand(hidden, dtype=torch.float64) * 20 + 3).requires_grad_()
    tau_adp = (torch.rand(hidden, dtype=torch.float64) * 100 + 50).requires_grad_()
    inputs = (x, weight_hh, tau_m, tau_adp)
    weights = torch.randn(4, 25, hidden, dtype=torch.float64)
    scan = adaptive_lif_scan(*inputs)
    reference = adaptive_lif_autograd(*inputs)
    assert torch.equal(scan, reference.detach()) and 0.1 < scan.mean() < 0.9
    expected = torch.autograd.grad((reference * weights).sum(), inputs)
    got = torch.autograd.grad((scan * weights).sum(), inputs)
    for name, g, e in zip(("x", "U", "tau_m", "tau_adp"), got, expected):
        assert e.abs().max() > 0, name
        torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-12, msg=name)


def test_weight_discretizer_has_16_levels_and_straight_through_gradient():
    w = torch.linspace(-1.3, 0.9, 200, requires_grad=True)
    q = discretize_weights(w)
    step = 1.3 / 7
    k = q.detach() / step
    assert torch.allclose(k, k.round(), atol=1e-5)
    assert k.round().min() == -7 and k.round().max() <= 7
    assert len(torch.unique(q.detach())) <= 16
    q.sum().backward()
    assert torch.equal(w.grad, torch.ones_like(w))
    with pytest.raises(ValueError, match="levels=5"):
        discretize_weights(w, levels=5)


def test_activation_discretizer_rounds_to_16_levels_and_clips():
    h = torch.tensor([0.0, 0.1, 0.5, 1.0, 1.49, 1.5, 3.0])
    q = discretize_activations(h, a_max=1.5)
    assert torch.allclose(q, torch.tensor([0.0, 0.1, 0.5, 1.0, 1.5, 1.5, 1.5]))
    levels = discretize_activations(torch.linspace(0, 2, 1000), a_max=1.5).unique()
    assert len(levels) == 16
    with pytest.raises(ValueError, match="levels=1"):
        discretize_activations(h, 1.0, levels=1)


def test_fan_in_mask_keeps_the_largest_incoming_weights():
    torch.manual_seed(0)
    w = torch.randn(5, 100)
    mask = fan_in_mask(w, 64)
    assert torch.equal(mask.sum(dim=1), torch.full((5,), 64))
    kept_min = torch.where(mask, w.abs(), torch.inf).min(dim=1).values
    dropped_max = torch.where(mask, -torch.inf, w.abs()).max(dim=1).values
    assert (kept_min >= dropped_max).all()
    assert fan_in_mask(w[:, :10], 64).all()
    with pytest.raises(ValueError, match="fan-in limit 0"):
        fan_in_mask(w, 0)


def test_constrain_limits_fan_in_over_input_and_recurrent_weights():
    torch.manual_seed(0)
    model = ElmanClassifier(BaselineConfig(n_inputs=50, hidden_sizes=(40,), n_classes=3))
    constrained = constrain(model, torch.randn(4, 6, 50), fan_in=64)
    w, u, _ = constrained.rnn_layers[0].effective_weights()
    assert torch.equal(((w != 0).sum(dim=1) + (u != 0).sum(dim=1)) <= 64, torch.ones(40, dtype=torch.bool))
    assert model.rnn_layers[0].constraints is None  # the float model is untouched
    with pytest.raises(ValueError, match="already constrained"):
        constrain(constrained, torch.randn(4, 6, 50))
    with pytest.raises(ValueError, match="constrained model"):
        simulate_integrate_fire(model, torch.randn(2, 3, 50))


def _constrained_elman(hidden_sizes, seed=0):
    torch.manual_seed(seed)
    model = ElmanClassifier(BaselineConfig(n_inputs=10, hidden_sizes=hidden_sizes, n_classes=4))
    for layer in model.rnn_layers:
        layer.linear_hh.weight.data *= 0.5
    x = torch.randn(16, 12, 10) * 0.5
    return constrain(model, x), x


def test_integrate_fire_counts_are_exact_for_one_step():
    constrained, _ = _constrained_elman((8,))
    layer = constrained.rnn_layers[0]
    x = torch.rand(32, 1, 10)
    w, _, b = layer.effective_weights()
    z = (x[:, 0] @ w.t() + b).detach()
    result = simulate_integrate_fire(constrained, x, ticks_per_step=15)
    expected = torch.clamp(torch.floor(z * 15 / layer.constraints.a_max), 0, 15)
    assert torch.equal(result.spike_counts[0], expected)


def test_integrate_fire_conversion_tracks_the_constrained_network():
    constrained, x = _constrained_elman((12, 12))
    ann = constrained(x).detach()
    snn = simulate_integrate_fire(constrained, x, ticks_per_step=15, batch_size=5)
    assert snn.logits.shape == ann.shape and snn.spike_counts[1].shape == (16, 12)
    assert (snn.logits - ann).abs().mean() < 0.1 * ann.abs().mean()
    assert (snn.synaptic_ops >= snn.spikes_per_sample).all()
    with pytest.raises(ValueError, match="ticks_per_step=0"):
        simulate_integrate_fire(constrained, x, ticks_per_step=0)


def _lprnn(seed=0):
    torch.manual_seed(seed)
    model = LpRNNClassifier(ModelConfig(n_inputs=6, ff_size=8, rnn_sizes=(10,), n_classes=3))
    return model.eval(), torch.randn(8, 15, 6) * 2


def test_stock_sigma_delta_with_zero_threshold_is_the_ann():
    model, x = _lprnn()
    result = simulate_stock_sigma_delta(model, x, threshold=0.0)
    assert torch.allclose(result.logits, model(x).detach(), atol=1e-5)
    sparse = simulate_stock_sigma_delta(model, x, threshold=0.5)
    assert sparse.spikes_per_sample.sum() < result.spikes_per_sample.sum()
    with pytest.raises(ValueError, match="threshold=-1"):
        simulate_stock_sigma_delta(model, x, threshold=-1)


def test_delta_encoder_keeps_the_receiver_within_threshold():
    values = torch.tensor([[0.0], [0.3], [0.35], [1.0], [0.2]])
    sent = torch.zeros(1)
    for value in values:
        spikes, sent = delta_encode(value, sent, 0.25)
        assert (value - sent).abs() < 0.25


def test_rate_coded_conversion_approaches_the_ann_with_more_steps():
    model, x = _lprnn(1)
    ann = model(x).detach()
    coarse = simulate_rate_coded(model, x, steps_per_ann_step=2)
    fine = simulate_rate_coded(model, x, steps_per_ann_step=32)
    assert fine.spikes_per_sample.sum() > coarse.spikes_per_sample.sum()
    assert (fine.logits - ann).abs().mean() < (coarse.logits - ann).abs().mean()
    assert [c.shape for c in fine.spike_counts] == [(8, 8), (8, 10)]
    with pytest.raises(ValueError, match="steps_per_ann_step=0"):
        simulate_rate_coded(model, x, steps_per_ann_step=0)
    with pytest.raises(TypeError, match="LpRNNClassifier"):
        simulate_rate_coded(torch.nn.Linear(2, 2), x)


def test_srnn_benchmark_runs_both_versions_on_the_same_weights():
    """benchmarks/srnn_step.py at a tiny size: same logits, both timed, a ratio printed."""
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, str(root / "benchmarks" / "srnn_step.py"), "--steps",
                          "6", "--hidden", "5", "3", "--batch-size", "4", "--warmup", "0",
                          "--repeats", "1"], capture_output=True, text=True, check=True, cwd=root)
    assert "max |logit difference| = 0.00e+00" in run.stdout
    assert "lprnn:" in run.stdout and "plain per-step:" in run.stdout
    assert "speed-up:" in run.stdout
