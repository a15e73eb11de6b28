"""Energy model: operation counts and arithmetic on a hand-made network."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lprnn.snn import energy
from lprnn.snn.network import LoihiLayer, LoihiNetwork, LoihiReadout, SigmaDeltaFixedParams

NEURON = SigmaDeltaFixedParams(decay_in=400, decay_ip=91, decay_v=0, decay_fb=400,
                               feedback_weight=-1000, threshold=0)


def _network(k: int = 4) -> LoihiNetwork:
    w1 = np.array([[2, 0, -2], [0, 0, 4]], dtype=np.int32)              # 2 x 3, 3 non-zero
    u1 = np.array([[0, 2], [2, 0]], dtype=np.int32)                     # 2 x 2, 2 non-zero
    w2 = np.array([[2, 2], [0, -4], [6, 0], [0, 0]], dtype=np.int32)    # 4 x 2, 4 non-zero
    layers = [LoihiLayer("lpff", w1, 0, np.zeros(2, np.int32), 0, NEURON, 1.0),
              LoihiLayer("rnn_layers.0", w2, 0, np.zeros(4, np.int32), 0, NEURON, 1.0)]
    layers[0].recurrent_weights = u1
    readout = LoihiReadout(np.array([[1, 0, 0, 2], [0, 0, 0, 0]], np.int32), np.zeros(2, np.int64))
    return LoihiNetwork(layers, readout, steps_per_ann_step=k, input_scale=1.0)


def test_fan_out_counts_nonzero_outgoing_synapses():
    out = energy.fan_out(_network())
    assert [f.tolist() for f in out] == [[3, 3], [1, 0, 0, 1]]


def test_ann_macs_dense_and_nonzero_exact():
    net = _network()
    assert energy.ann_macs_per_step(net) == 6 + 4 + 8 + 8
    assert energy.ann_macs_per_step(net, skip_zero_weights=True) == 3 + 2 + 4 + 2


def test_snn_activity_from_simulation_result():
    net = _network(k=4)
    result = SimpleNamespace(synaptic_ops=torch.tensor([10, 30]),
                             spike_counts=[torch.tensor([[1, 2], [3, 4]]),
                                           torch.tensor([[0, 0, 1, 1], [2, 0, 0, 0]])])
    act = energy.snn_activity(net, result, n_ann_steps=5)
    # fan-out: layer 0 -> w2 columns (2, 2) + u1 columns (1, 1); layer 1 -> readout (1, 0, 0, 1)
    spike_ops = ((1 * 3 + 2 * 3) + (3 * 3 + 4 * 3)) / 2 + ((0 + 0 + 0 + 1) + (2 + 0 + 0 + 0)) / 2
    assert act == energy.SnnActivity(synaptic_ops=20.0, spike_synaptic_ops=spike_ops,
                                     spikes=5.0 + 2.0, neuron_updates=6 * 5 * 4, snn_steps=20)
    assert act.input_synaptic_ops == 20.0 - spike_ops
    keyed = SimpleNamespace(synaptic_ops=result.synaptic_ops,
                            spike_counts=dict(zip(["lpff", "rnn_layers.0"], result.spike_counts)))
    assert energy.snn_activity(net, keyed, 5) == act
    with pytest.raises(ValueError, match="expected 2"):
        energy.snn_activity(net, SimpleNamespace(synaptic_ops=1, spike_counts=[]), 5)
    with pytest.raises(ValueError, match="n_ann_steps"):
        energy.snn_activity(net, result, 0)
    ran = SimpleNamespace(**vars(result), n_snn_steps=24)
    with pytest.raises(ValueError, match="ran 24 SNN steps, expected 20"):
        energy.snn_activity(net, ran, 5)
    assert energy.snn_activity(net, SimpleNamespace(**vars(result), n_snn_steps=20), 5) == act


def test_loihi_energy_arithmetic():
    act = energy.SnnActivity(synaptic_ops=1000.0, spike_synaptic_ops=600.0, spikes=100.0, neuron_updates=50, snn_steps=10)
    e = energy.loihi_energy(act)
    assert e["synaptic"] == pytest.approx(1000 * 23.6e-12)
    assert e["neuron"] == pytest.approx(50 * 81e-12)
    assert e["spike"] == pytest.approx(100 * 1.7e-12)
    assert e["total"] == pytest.approx(23.6e-9 + 4.05e-9 + 0.17e-9)
    assert energy.loihi_energy(act, synaptic_op=1.0, neuron_update=0.0, spike=0.0)["total"] == 1000.0
    with pytest.raises(ValueError, match="synaptic_ops"):
        energy.loihi_energy(energy.SnnActivity(-1.0, 0.0, 0.0, 0, 1))


def test_table_ratio_and_power():
    net = _network(k=4)
    act = energy.SnnActivity(synaptic_ops=100.0, spike_synaptic_ops=80.0, spikes=10.0, neuron_updates=6 * 40, snn_steps=40)
    table = energy.energy_table(net, act, n_ann_steps=10, ann_step_seconds=0.01).set_index("platform")
    loihi_uj = energy.loihi_energy(act)["total"] * 1e6
    m4 = table.loc["ANN on ARM Cortex-M4 (dense)"]
    assert m4["operations"] == 10 * 26
    assert m4["energy_uJ"] == pytest.approx(260 * 300e-12 * 1e6)
    assert m4["ratio_to_loihi"] == pytest.approx(m4["energy_uJ"] / loihi_uj)
    assert table.loc["SNN on Loihi (ΣΔ neurons)", "ratio_to_loihi"] == pytest.approx(1.0)
    # mean power in real time: energy over 10 frames of 10 ms
    assert m4["power_uW_real_time"] == pytest.approx(m4["energy_uJ"] / 0.1)
    with pytest.raises(ValueError, match="ann_step_seconds"):
        energy.energy_table(net, act, 10, 0.0)


def test_derived_figures_follow_from_their_sources():
    assert energy.CORTEX_M4_MAC.value == pytest.approx(300e-12)
    assert energy.GPU_A100_MAC.value == pytest.approx(41.03e-12, rel=1e-3)
    assert energy.FP32_MAC_ARITHMETIC_45NM.value == pytest.approx(4.6e-12)
    figures = energy.figures_table()
    assert figures["source"].str.len().min() > 20
    assert set(figures.loc[figures["derived"], "name"]) == {
        energy.CORTEX_M4_MAC.name, energy.GPU_A100_MAC.name, energy.FP32_MAC_ARITHMETIC_45NM.name}
    assert len(energy.claims_table()) == len(energy.REPORTED_CLAIMS)


def test_latency_and_bad_inputs():
    assert energy.latency_per_ann_step(10, 0.56e-3) == pytest.approx(5.6e-3)
    with pytest.raises(ValueError, match="steps_per_ann_step"):
        energy.latency_per_ann_step(0, 1e-3)
    with pytest.raises(ValueError, match="snn_step_seconds"):
        energy.latency_per_ann_step(10, -1.0)
    with pytest.raises(ValueError, match="macs"):
        energy.mac_energy(-5, 1e-12)


def test_spike_and_input_operations_add_up_to_the_simulator_count():
    lprnn_model = pytest.importorskip("lprnn.ann.model")
    snn = pytest.importorskip("lprnn.snn")
    torch.manual_seed(0)
    model = lprnn_model.LpRNNClassifier(lprnn_model.ModelConfig(
        n_inputs=5, ff_size=4, rnn_sizes=(6,), n_classes=3)).eval()
    x = torch.randn(3, 7, 5)
    network = snn.map_network(model, steps_per_ann_step=3, calibration=x)
    result = snn.simulate(network, x)
    act = energy.snn_activity(network, result, n_ann_steps=7)
    # the graded input x_int[n // k] is sent at every SNN step (the simulator counts all N steps;
    # the very first send only arrives after the one-step delay, so N - 1 of them reach layer 1)
    x_int = snn.encode_input(network, x)
    sent = (x_int != 0).to(torch.float64).repeat_interleave(3, dim=1)
    fan_in_first = torch.as_tensor(np.count_nonzero(network.layers[0].weights, axis=0), dtype=torch.float64)
    all_steps = float((sent @ fan_in_first).sum(-1).mean())
    all_but_last = float((sent[:, :-1] @ fan_in_first).sum(-1).mean())
    assert all_but_last - 1e-9 <= act.input_synaptic_ops <= all_steps + 1e-9
    assert act.spikes == pytest.approx(sum(float(c.sum(-1).double().mean()) for c in result.spike_counts.values()))


def test_break_even_synaptic_op_reaches_the_ratio():
    act = energy.SnnActivity(synaptic_ops=1e4, spike_synaptic_ops=8e3, spikes=500.0,
                             neuron_updates=2000, snn_steps=100)
    reference = 1e-3
    needed = energy.break_even_synaptic_op(act, reference, 500.0, neuron_update=81e-12,
                                           spike=1.7e-12)
    # plugging it back into the Loihi sum gives the ratio (independent side: loihi_energy)
    total = energy.loihi_energy(act, synaptic_op=needed, neuron_update=81e-12,
                                spike=1.7e-12)["total"]
    assert reference / total == pytest.approx(500.0)
    assert energy.break_even_synaptic_op(act, reference, 500.0) == pytest.approx(
        reference / 500.0 / 1e4)
    # a neuron term above reference / ratio leaves no positive synaptic-op energy
    assert energy.break_even_synaptic_op(act, 1e-9, 500.0, neuron_update=81e-12) < 0
    with pytest.raises(ValueError, match="ratio=0"):
        energy.break_even_synaptic_op(act, reference, 0)


def test_reconciliation_rows_per_coding_and_chip():
    net = _network(k=4)
    act = energy.SnnActivity(synaptic_ops=100.0, spike_synaptic_ops=80.0, spikes=10.0,
                             neuron_updates=6 * 40, snn_steps=40)
    fewer = energy.SnnActivity(synaptic_ops=50.0, spike_synaptic_ops=45.0, spikes=10.0,
                               neuron_updates=6 * 40, snn_steps=40)
    table = energy.reconciliation_table(net, {"graded": act, "encoded": fewer}, n_ann_steps=10)
    assert len(table) == 2 * 3
    assert set(table["basis"]) == {energy.ESTIMATE_LABEL}
    row = table.set_index(["input_coding", "chip"]).loc[("graded", energy.EVENT_DRIVEN.label)]
    dense_uj = 10 * 26 * 300e-12 * 1e6
    assert row["m4_dense_uJ"] == pytest.approx(dense_uj)
    assert row["m4_sparse_uJ"] == pytest.approx(10 * 11 * 300e-12 * 1e6)
    assert row["snn_uJ"] == pytest.approx(100 * 23.6e-12 * 1e6)
    assert row["ratio_m4_dense"] == pytest.approx(dense_uj / (100 * 23.6e-6))
    assert row["synaptic_op_pJ_for_target"] == pytest.approx(dense_uj * 1e-6 / 500 / 100 * 1e12)
    loihi = table.set_index(["input_coding", "chip"]).loc[("graded", energy.LOIHI1.label)]
    assert loihi["snn_neuron_uJ"] == pytest.approx(240 * 81e-12 * 1e6)
    assert "Loihi 1 figures" in energy.LOIHI2.label
    product = table["mac_per_synaptic_op_energy"] * table["macs_per_synaptic_op"] * table["synaptic_share"]
    np.testing.assert_allclose(product, table["ratio_m4_dense"], rtol=1e-12)
    assert row["macs_per_synaptic_op"] == pytest.approx(260 / 100)


def test_layer_energy_adds_up_to_the_activity():
    net = _network(k=4)
    result = SimpleNamespace(synaptic_ops=torch.tensor([40, 60]),
                             spike_counts=[torch.tensor([[1, 2], [3, 4]]),
                                           torch.tensor([[0, 0, 1, 1], [2, 0, 0, 0]])])
    act = energy.snn_activity(net, result, n_ann_steps=5)
    table = energy.layer_energy(net, result, n_ann_steps=5).set_index("source")
    assert table["synaptic_ops"].sum() == pytest.approx(act.synaptic_ops)
    assert table.loc["graded input", "synaptic_ops"] == pytest.approx(act.input_synaptic_ops)
    assert table["neuron_updates"].sum() == act.neuron_updates
    assert table["spikes"].sum() == pytest.approx(act.spikes)
    # layer 1: 4 neurons x 20 steps x 81 pJ against 1.5 ops x 23.6 pJ
    assert table.loc["rnn_layers.0", "dominant"] == "neuron"
    assert table.loc["graded input", "dominant"] == "synaptic"
    assert table["total_uJ"].sum() * 1e-6 == pytest.approx(energy.loihi_energy(act)["total"])
