"""Encoding one signal with one ΣΔ neuron or one IF neuron (lprnn.snn.encoding)."""

from __future__ import annotations

import math

import pytest
import torch

from lprnn.snn import encoding


@pytest.mark.parametrize("steps_per_ann_step", [4, 10])
@pytest.mark.parametrize("value", [0.0, 0.3, 1.7, 3.0, 5.9])
def test_sigma_delta_decodes_constant_input_within_one_quantization_step(value, steps_per_ann_step):
    signal = torch.full((70,), value, dtype=torch.float64)
    result = encoding.sigma_delta_encode(signal, steps_per_ann_step=steps_per_ann_step)
    step = abs(encoding.sigma_delta_params(steps_per_ann_step=steps_per_ann_step).feedback_weight)
    assert step == pytest.approx(6.0 * (1 - 0.8 ** (1 / steps_per_ann_step)))  # a_max · d_ip
    settled = slice(40, None)  # the lpRNN state and the reconstruction have converged
    assert (result.target[settled] - value).abs().max() < 1e-3
    assert (result.decoded[settled] - value).abs().max() <= step
    assert (result.reconstruction[..., 40 * steps_per_ann_step:] - value).abs().max() <= step


@pytest.mark.parametrize("value, expected", [(-2.0, 0.0), (9.0, 6.0)])
def test_sigma_delta_clamps_its_drive_like_the_ann(value, expected):
    signal = torch.full((70,), value, dtype=torch.float64)
    result = encoding.sigma_delta_encode(signal, steps_per_ann_step=10)
    step = abs(encoding.sigma_delta_params(steps_per_ann_step=10).feedback_weight)
    assert (result.target[40:] - expected).abs().max() < 1e-3
    assert (result.decoded[40:] - expected).abs().max() <= step
    if expected == 0.0:
        assert int(result.spikes.sum()) == 0


def test_sigma_delta_rate_follows_input_over_a_max():
    signal = torch.tensor([[1.5], [3.0], [6.0]], dtype=torch.float64).expand(3, 200)
    result = encoding.sigma_delta_encode(signal, steps_per_ann_step=10)
    rate = result.spikes[:, 1000:].mean(-1)  # spikes per SNN step, after the transient
    # x / a_max, within half a quantization step (|w_fb| / a_max = d_fb ≈ 0.022 per step)
    assert rate.tolist() == pytest.approx([0.25, 0.5, 1.0], abs=0.011)


def test_sigma_delta_is_batched_elementwise():
    signals = torch.stack([encoding.chirp(40), encoding.chirp(40, high=3.0)])
    batched = encoding.sigma_delta_encode(signals, steps_per_ann_step=5)
    single = encoding.sigma_delta_encode(signals[1], steps_per_ann_step=5)
    assert torch.equal(batched.spikes[1], single.spikes)
    assert torch.equal(batched.decoded[1], single.decoded)
    assert batched.spikes.shape == (2, 200) and batched.decoded.shape == (2, 40)


def test_threshold_trades_spikes_for_error():
    signal = encoding.chirp(100)
    counts, errors = [], []
    for threshold in (0.0, 1.0, 3.0):
        result = encoding.sigma_delta_encode(signal, steps_per_ann_step=8, threshold=threshold)
        counts.append(int(result.spikes.sum()))
        errors.append(encoding.reconstruction_error(result.decoded, result.target))
    assert counts[0] > counts[1] > counts[2]
    assert errors[0] < errors[1] < errors[2]


@pytest.mark.parametrize("value, threshold", [(0.25, 1.0), (0.5, 2.0), (1.0, 1.0), (0.375, 0.5)])
def test_integrate_fire_rate_equals_input_over_threshold(value, threshold):
    target = torch.full((50,), value, dtype=torch.float64)
    result = encoding.integrate_fire_encode(target, threshold=threshold, steps_per_ann_step=8)
    assert int(result.spikes.sum()) == math.floor(400 * value / threshold)
    # decoded by the ΣΔ reconstruction filter with each spike worth θ: converges to the input
    assert result.decoded[-10:].mean().item() == pytest.approx(value, abs=threshold / 8)


@pytest.mark.parametrize("steps_per_ann_step", [2, 8])
def test_match_spike_budget_gives_exactly_that_many_spikes(steps_per_ann_step):
    signal = encoding.chirp(60)
    sigma_delta = encoding.sigma_delta_encode(signal, steps_per_ann_step=steps_per_ann_step)
    n_spikes = int(sigma_delta.spikes.sum())
    threshold = encoding.match_spike_budget(sigma_delta.target, n_spikes,
                                            steps_per_ann_step=steps_per_ann_step)
    rate_coded = encoding.integrate_fire_encode(sigma_delta.target, threshold=threshold,
                                                steps_per_ann_step=steps_per_ann_step)
    assert int(rate_coded.spikes.sum()) == n_spikes


def test_match_spike_budget_when_the_rate_saturates():
    target = torch.tensor([0.1, 5.0, 5.0, 0.1], dtype=torch.float64)
    threshold = encoding.match_spike_budget(target, 7, steps_per_ann_step=2)
    rate_coded = encoding.integrate_fire_encode(target, threshold=threshold, steps_per_ann_step=2)
    assert int(rate_coded.spikes.sum()) == 7


def test_metrics():
    target = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert encoding.reconstruction_error(target + torch.tensor([1.0, -1.0, 1.0, -1.0]),
                                         target) == pytest.approx(1.0)
    spikes = torch.zeros(2, 40)
    spikes[0, ::4] = 1  # 10 spikes in 4 ANN steps of 10 SNN steps, 2 neurons → 5 per neuron
    assert encoding.spikes_per_second(spikes, 10, ann_step_seconds=0.5) == pytest.approx(2.5)


def test_chirp_spans_its_range_and_speeds_up():
    x = encoding.chirp(2000, start_hz=1.0, end_hz=20.0, low=1.0, high=5.0, ann_step_seconds=1e-3)
    assert x.min().item() == pytest.approx(1.0, abs=1e-3)
    assert x.max().item() == pytest.approx(5.0, abs=1e-3)
    crossings = ((x[1:] - 3.0).sign() != (x[:-1] - 3.0).sign()).nonzero().flatten()
    assert (crossings >= 1000).sum() > 2 * (crossings < 1000).sum()


@pytest.mark.parametrize("call, match", [
    (lambda: encoding.sigma_delta_encode(torch.ones(5, dtype=torch.int64)), "floating-point"),
    (lambda: encoding.sigma_delta_encode(torch.ones(0)), "T ≥ 1"),
    (lambda: encoding.sigma_delta_encode(torch.ones(5), steps_per_ann_step=0), "steps_per_ann_step"),
    (lambda: encoding.sigma_delta_encode(torch.ones(5), steps_per_ann_step=2.5), "steps_per_ann_step"),
    (lambda: encoding.sigma_delta_encode(torch.ones(5), threshold=-1.0), "threshold"),
    (lambda: encoding.sigma_delta_encode(torch.ones(5), retention_ratio=0.0), "retention_ratio"),
    (lambda: encoding.sigma_delta_encode(torch.ones(5), retention_ratio=1.0), "retention_ratio"),
    (lambda: encoding.sigma_delta_encode(torch.ones(5), a_max=0.0), "a_max"),
    (lambda: encoding.sigma_delta_encode(torch.ones(5), feedback_time_constant=0.0),
     "feedback_time_constant"),
    (lambda: encoding.sigma_delta_encode(torch.ones(5), steps_per_ann_step=2,
                                         feedback_time_constant=0.25), "shorter than one SNN step"),
    (lambda: encoding.integrate_fire_encode(torch.ones(5), threshold=0.0), "θ_IF"),
    (lambda: encoding.match_spike_budget(torch.ones(5), 0, steps_per_ann_step=2), "n_spikes"),
    (lambda: encoding.match_spike_budget(torch.ones(5), 11, steps_per_ann_step=2), "n_spikes"),
    (lambda: encoding.match_spike_budget(torch.zeros(5), 3), "all zeros"),
    (lambda: encoding.match_spike_budget(-torch.ones(5), 3), "negative"),
    (lambda: encoding.match_spike_budget(torch.ones(2, 5), 3), "one signal"),
    (lambda: encoding.reconstruction_error(torch.ones(3), torch.ones(4)), "differs"),
    (lambda: encoding.spikes_per_second(torch.ones(7), 2), "dividing"),
    (lambda: encoding.spikes_per_second(torch.ones(8), 2, ann_step_seconds=0.0), "ann_step_seconds"),
    (lambda: encoding.chirp(0), "n_steps"),
    (lambda: encoding.chirp(10, start_hz=-1.0), "frequencies"),
    (lambda: encoding.chirp(10, low=2.0, high=1.0), "low < high"),
])
def test_bad_input_raises_clear_errors(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
