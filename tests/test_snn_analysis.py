"""SNN timing of the lpRNN, the rate model of a mapped network, lags, disagreement causes, the
exact state bounds of the mapper, and an end-to-end mapping-accuracy check."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lprnn.ann.model import LpRNNClassifier, ModelConfig, with_timing
from lprnn.ann.train import TrainConfig, train
from lprnn.core.lowpass import lowpass_scan, lowpass_step
from lprnn.datasets import SequenceDataset
from lprnn.experiments import mapping_accuracy
from lprnn.snn import analysis, simulate
from lprnn.snn.mapper import MappingError, map_network

ALPHA, A_MAX = 0.8, 6.0


def _delayed_reference(drive, recurrent, delay):
    """z_t = drive_t + U h_{t-1-D}, step by step with lowpass_step, recorded by autograd."""
    states = []
    h = drive.new_zeros(drive.shape[0], drive.shape[2])
    for t in range(drive.shape[1]):
        past = t - 1 - delay
        z = drive[:, t] + (states[past] @ recurrent.t() if past >= 0 else 0.0)
        h = lowpass_step(h, z, ALPHA, A_MAX)
        states.append(h)
    return torch.stack(states, dim=1)


@pytest.mark.parametrize("delay", [1, 3])
def test_scan_with_recurrent_delay_matches_step_loop(delay):
    torch.manual_seed(0)
    drive = (torch.randn(3, 11, 5, dtype=torch.float64) * 4).requires_grad_()
    weight = torch.randn(5, 5, dtype=torch.float64).requires_grad_()
    states = lowpass_scan(drive, weight, ALPHA, A_MAX, recurrent_delay=delay)
    expected = _delayed_reference(drive, weight, delay)
    torch.testing.assert_close(states, expected, rtol=0, atol=1e-12)
    grad_out = torch.randn_like(states)
    grads = torch.autograd.grad((states * grad_out).sum(), (drive, weight))
    expected_grads = torch.autograd.grad((expected * grad_out).sum(), (drive, weight))
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    # the delay matters: without it the states differ
    assert (lowpass_scan(drive, weight, ALPHA, A_MAX) - states).abs().max() > 1e-3


def test_scan_rejects_a_negative_delay():
    with pytest.raises(ValueError, match="recurrent_delay"):
        lowpass_scan(torch.zeros(1, 2, 3), torch.zeros(3, 3), ALPHA, A_MAX, recurrent_delay=-1)


def _model(seed: int = 0, scale: float = 2.0) -> LpRNNClassifier:
    torch.manual_seed(seed)
    model = LpRNNClassifier(ModelConfig(n_inputs=4, ff_size=8, rnn_sizes=(16, 16), n_classes=3))
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)   # a busy network: many units near the clamp
    return model.eval()


@pytest.mark.parametrize("k", [5, 10])
def test_snn_timed_lprnn_is_the_rate_model_of_its_mapping(k):
    """The ANN with timing="snn" (torch, ANN units) against the rate model of the mapped
    integer network (float over integer weights and decays): equal up to O(d²) terms; the
    paper's lpRNN is far from it."""
    model = _model()
    x = torch.randn(16, 12, 4) * 2
    timed = with_timing(model, "snn", k)
    network = map_network(timed, k)
    rate = analysis.rate_model(network, x)
    n_ann = 12 + network.readout_latency          # the last frame held m more steps
    assert network.readout_latency == timed.config.snn_readout_latency == 2
    n_window = (n_ann - n_ann // 2) * k
    scale = n_window * network.layers[-1].state_scale / 2.0 ** -model.config.weight_frac_bits
    rate_logits = rate.logits / scale
    with torch.no_grad():
        timed_logits, plain_logits = timed(x).double(), model(x).double()
    spread = float(timed_logits.abs().max())
    assert float((rate_logits - timed_logits).abs().max()) < 0.02 * spread
    # read out when the input ends, the SNN's timing is far from the paper's lpRNN; the readout
    # latency (the window waits m = 2 ANN steps for the layers' lag) brings it several times nearer
    with torch.no_grad():
        unwaited = with_timing(model, "snn", k, readout_latency=0)(x).double()
    far = float((unwaited - plain_logits).abs().max())
    assert far > 0.2 * spread
    assert float((rate_logits - plain_logits).abs().max()) < far / 4


def test_snn_timed_trace_is_the_window_mean_of_the_substep_trace():
    model = with_timing(_model(), "snn", 4)
    x = torch.randn(2, 6, 4)
    with torch.no_grad():
        sub, trace = model.substep_trace(x), model.trace(x)
    m = model.config.snn_readout_latency     # the last frame held m more ANN steps
    assert m == 2 and sub["lpff"].shape == (2, (6 + m) * 4, 8) and trace["lpff"].shape[1] == 6 + m
    held = model.substep_trace(torch.cat([x, x[:, -1:], x[:, -1:]], 1))
    torch.testing.assert_close(with_timing(model, "snn", readout_latency=0).substep_trace(
        torch.cat([x, x[:, -1:], x[:, -1:]], 1))["logits"], sub["logits"])
    assert held["logits"].shape[1] == (6 + 2 * m) * 4
    torch.testing.assert_close(trace["rnn_layers.1"][:, 1], sub["rnn_layers.1"][:, 4:8].mean(1))
    # input held one SNN step late: the first step sees only the bias
    torch.testing.assert_close(sub["lpff"][:, 0], sub["lpff"][:1, 0].expand(2, -1))


def test_timed_model_maps_only_at_its_own_timing():
    timed = with_timing(_model(), "snn", 10)
    with pytest.raises(MappingError, match="with_timing"):
        map_network(timed, 5)
    with pytest.raises(MappingError, match="with_timing"):
        map_network(timed, 10, recurrent_delay=0)
    with pytest.raises(ValueError, match="timing"):
        ModelConfig(timing="fast")


def test_rate_model_matches_the_spiking_network_within_a_fraction_of_a_step():
    """The SNN's decoded traces follow the rate model's within a fraction of one ΣΔ
    quantization step a_max·d_fb/4096 (the code's resolution) on average."""
    model = _model()
    k = 20
    network = map_network(with_timing(model, "snn", k), k)
    torch.manual_seed(0)
    x = 2 * torch.randn(4, 8, 4)
    rate = analysis.rate_model(network, x, record=True).decoded
    snn = analysis.decoded_at_snn_steps(network, simulate(network, x, record=True))
    step = A_MAX * network.layers[0].neuron.decay_fb / 4096
    for name in rate:
        assert float(rate[name].mean()) > step, name          # the layer is active
        assert float((rate[name] - snn[name]).abs().mean()) < 0.3 * step, name


def test_layer_lags_find_a_known_shift():
    k, n_ann = 4, 30
    t = torch.arange(n_ann * k, dtype=torch.float64) / k
    signal = torch.sin(t / 3.0)[None, :, None].repeat(2, 1, 3)
    shift = 6
    ann = signal[:, k - 1::k]                                    # values at the ANN step ends
    delayed = torch.cat([torch.zeros(2, shift, 3, dtype=torch.float64), signal[:, :-shift]], 1)
    lags = analysis.layer_lags({"a": ann, "b": ann}, {"a": delayed, "b": signal}, k)
    assert lags.loc["a", "lag"] == shift and lags.loc["a", "lag_ann_steps"] == shift / k
    assert lags.loc["b", "lag"] == 0


def test_disagreement_causes():
    ann_logits = torch.tensor([[2.0, 0.0], [1.0, 0.9], [1.0, 0.9], [1.0, 0.9], [0.0, 3.0]])
    snn_pred = torch.tensor([0, 1, 1, 1, 0])
    rate_pred = torch.tensor([0, 0, 1, 1, 1])
    shifted_pred = torch.tensor([0, 0, 1, 0, 1])
    saturated = torch.tensor([0, 0, 0, 0, 5])

    def result(pred):
        return analysis.RateResult(logits=torch.nn.functional.one_hot(pred, 2).double(),
                                   predictions=pred, decoded=None, rates=None,
                                   saturated={"l": saturated},
                                   at_ceiling={"l": torch.zeros(5, dtype=torch.float64)})

    snn = type("S", (), {"predictions": snn_pred})()
    table = analysis.disagreement_table(ann_logits, snn, result(rate_pred), result(shifted_pred))
    assert list(table["cause"]) == ["", "quantization", "timing", "readout", "saturation"]
    assert analysis.cause_counts(table).to_dict() == dict(saturation=1, timing=1, readout=1,
                                                          quantization=1)
    np.testing.assert_allclose(table["margin"], [2.0, 0.1, 0.1, 0.1, 3.0], atol=1e-6)


@pytest.mark.parametrize("k, spike_bits", [(5, 3), (32, 3), (64, 1)])
def test_exact_bounds_hold_without_calibration_at_any_k(k, spike_bits):
    """No calibration, large inputs: no MappingError, and no state ever exceeds the bound the
    mapper reports (which stays below 24 bits). Graded payloads raise the smallest gain, so
    at k = 64 this network maps with binary spikes only."""
    model = _model(scale=3.0)
    network = map_network(model, k, spike_bits=spike_bits)
    x = torch.randn(8, 6, 4) * 6
    result = simulate(network, x, track_state_max=True)
    for layer in network.layers:
        bound = network.metadata["layers"][layer.name]["estimated_state_max"]
        assert bound <= 2 ** 23 - 1
        if layer.name != "lpff":   # the first layer's i_in may saturate harmlessly
            assert result.state_max[layer.name] <= bound, layer.name


def _task(n: int, seed: int) -> SequenceDataset:
    """Two classes told apart by which of two noisy input channels is raised."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=generator)
    x = torch.randn(n, 16, 4, generator=generator)
    sign = (2.0 * labels - 1.0)[:, None]
    x[:, :, 0] += 0.6 * sign
    x[:, :, 1] -= 0.6 * sign
    return SequenceDataset(x, labels, ["first", "second"], "toy")


def test_trained_network_maps_with_high_agreement_on_held_out_data():
    torch.manual_seed(0)
    model = LpRNNClassifier(ModelConfig(n_inputs=4, ff_size=8, rnn_sizes=(16,), n_classes=2))
    train(model, _task(256, 0), _task(64, 1), TrainConfig(epochs=4, batch_size=32, lr=1e-2),
          progress=False)
    held_out = _task(200, 2)
    rows = mapping_accuracy.run(model.eval(), held_out.features, held_out.labels, dataset="toy",
                                steps=(10,), spike_bits=(1, 3))
    value = rows.set_index(["model", "metric"])["value"]
    assert value[("lpRNN, SNN timing, k=10", "ann_accuracy")] > 0.8    # it learned the task
    assert value[("lpRNN, SNN timing, k=10", "agreement")] >= 0.97
    graded = "lpRNN, SNN timing, k=10, 3-bit graded spikes"
    assert value[(graded, "agreement")] >= 0.99
    assert value[(graded, "disagreements_quantization")] <= value[
        ("lpRNN, SNN timing, k=10", "disagreements_quantization")]
    assert set(rows.spike_bits) == {1, 3}
    row = rows[(rows.model == "lpRNN, SNN timing, k=10") & (rows.metric == "agreement")].iloc[0]
    assert row.ci_low < row.value <= row.ci_high and row.n_clips == 200
    assert set(rows.metric) >= {"agreement_below_median_margin", "disagreements_timing"}
    records = mapping_accuracy.as_result_rows(rows, experiment="mapping", notebook="03.ipynb")
    assert len(records) == len(rows) and all(r["notebook"] == "03.ipynb" for r in records)
    assert {"ci_low", "ci_high"} <= set(records[list(rows.metric).index("agreement")])


def test_readout_window_shift_extends_the_run_with_the_last_frame_held():
    model = _model(scale=1.0)
    network = map_network(with_timing(model, "snn", 4, readout_latency=0), 4)
    assert network.readout_latency == 0
    x = torch.randn(3, 6, 4)
    shifted = analysis.rate_model(network, x, window_shift=4, record=True)
    held_longer = analysis.rate_model(network, torch.cat([x, x[:, -1:]], 1), record=True)
    # the shifted run is the first 6·4 + 4 steps of the run on the input with one more frame
    for name, trace in shifted.decoded.items():
        torch.testing.assert_close(trace, held_longer.decoded[name][:, :28])
    with pytest.raises(ValueError, match="window_shift"):
        analysis.rate_model(network, x, window_shift=-1)


def test_rate_model_on_the_disagreeing_clips_gives_the_causes_of_the_whole_run():
    """compare() runs the rate model only where an ANN and the SNN disagree: its causes equal
    those of the rate model run on every clip (a coarse k leaves disagreements of more than
    one cause; the readout without latency leaves timing disagreements too)."""
    model = _model(scale=1.0).eval()
    x = torch.randn(40, 6, 4, generator=torch.Generator().manual_seed(1))
    network = map_network(model, 2, readout_latency=0)
    tables = mapping_accuracy.compare({"lpRNN": model}, network, x, torch.zeros(40).long())
    table = tables["lpRNN"]
    assert (~table.agree).sum() > 0 and (table.loc[table.agree, "rate"] == -1).all()
    full = analysis.disagreement_table(mapping_accuracy.ann_logits(model, x),
                                       simulate(network, x), analysis.rate_model(network, x),
                                       analysis.rate_model(network, x, window_shift=1))
    assert table["cause"].tolist() == full["cause"].tolist()
    assert set(table.loc[~table.agree, "cause"]) - {"quantization"}   # the rate model decided
    disagree = ~table.agree
    assert table.loc[disagree, "rate"].tolist() == full.loc[disagree, "rate"].tolist()


def test_causes_are_attributed_only_where_the_rate_model_runs():
    model = _model(scale=1.0).eval()
    x, labels = torch.randn(6, 5, 4), torch.zeros(6, dtype=torch.int64)
    rows = mapping_accuracy.run(model, x, labels, dataset="toy", steps=(2, 4),
                                timings=("lpRNN",), rate_model_steps=(4,))
    metrics = rows.groupby("k")["metric"].apply(set)
    assert "disagreements_timing" in metrics[4] and "agreement" in metrics[4]
    assert not any(m.startswith("disagreements_") for m in metrics[2])
    assert metrics[2] == {m for m in metrics[4] if not m.startswith("disagreements_")}
    with pytest.raises(ValueError, match=r"rate_model_steps=\[8\]: expected some of steps"):
        mapping_accuracy.run(model, x, labels, dataset="toy", steps=(2, 4), rate_model_steps=(8,))
