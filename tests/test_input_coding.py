"""ΣΔ-encoded input: structure of the transformed network, what the first layer decodes, counts,
and Lava's fixed_pt run equal to the simulator on it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lprnn.ann.model import LpRNNClassifier, ModelConfig
from lprnn.core import hardware
from lprnn.snn import energy, map_network, simulate
from lprnn.snn.input_coding import (ENCODER_NAME, InputCodingError, encoder_decay,
                                    sigma_delta_input)


def _model(n_inputs: int = 6, ff: int = 8, rnn: int = 5) -> LpRNNClassifier:
    torch.manual_seed(0)
    model = LpRNNClassifier(ModelConfig(n_inputs=n_inputs, ff_size=ff, rnn_sizes=(rnn,),
                                        n_classes=3)).eval()
    with torch.no_grad():   # non-zero biases (the init's are zero), so that they are tested
        for layer in model.quantized_layers().values():
            if layer.bias is not None:
                layer.bias.uniform_(-0.5, 0.5)
    return model


def _held_inputs(batch: int = 4, steps: int = 25, n_inputs: int = 6) -> torch.Tensor:
    torch.manual_seed(1)
    return (torch.rand(batch, 1, n_inputs) * 6 - 3).repeat(1, steps, 1)


def test_encoder_layer_and_first_layer_weights():
    model, x = _model(), _held_inputs()
    network = map_network(model, steps_per_ann_step=10, calibration=x, readout_latency=0)
    original = network.layers[0].weights.copy()
    encoded = sigma_delta_input(network, input_bound=3.0, feedback_time_constant=1.0)
    encoder, first = encoded.layers[0], encoded.layers[1]
    assert encoder.name == ENCODER_NAME and encoder.n_neurons == 12 and encoder.n_inputs == 6
    np.testing.assert_array_equal(encoder.weights, np.vstack([2 * np.eye(6), -2 * np.eye(6)]))
    coding = encoded.metadata["input_coding"]
    r, e = coding["first_layer_multiplier"], coding["first_layer_weight_exp"]
    np.testing.assert_array_equal(first.weights, np.hstack([r * original, -r * original]))
    assert first.weight_exp == e
    assert first.neuron.decay_in == encoder.neuron.decay_fb == encoder_decay(1.0, 10)
    # the rest of the first layer, the later layers and the readout are untouched
    assert first.neuron.decay_ip == network.layers[0].neuron.decay_ip
    assert first.neuron.feedback_weight == network.layers[0].neuron.feedback_weight
    assert encoded.layers[2:] == network.layers[1:] and encoded.readout is network.readout
    assert coding["input_max"] >= 3.0
    np.testing.assert_array_equal(network.layers[0].weights, original)   # input not modified
    assert network.layers[0].neuron.decay_in == hardware.DECAY_UNITY


def test_first_layer_decodes_the_ann_state_through_the_encoder():
    # Independent side: the ANN's first-layer state. With a held input, the first layer of the
    # encoded network must decode it about as well as with the graded input; a 10 % gain error
    # in the encoder's scale (dropping its reconstruction gain 1/(1 + d_fb)) fails.
    model, x = _model(), _held_inputs()
    network = map_network(model, steps_per_ann_step=10, calibration=x, readout_latency=0)
    encoded = sigma_delta_input(network, input_bound=3.0, feedback_time_constant=1.0)
    target = model.trace(x)["lpff"][:, 15:]
    decoded = simulate(encoded, x, record=True).decoded["lpff"][:, 15:]
    assert float((decoded - target).abs().mean()) < 0.02


def test_input_operations_are_counted_into_the_encoder():
    model, x = _model(), _held_inputs()
    network = map_network(model, steps_per_ann_step=10, calibration=x, readout_latency=0)
    encoded = sigma_delta_input(network, input_bound=3.0)
    result = simulate(encoded, x)
    activity = energy.snn_activity(encoded, result, n_ann_steps=x.shape[1])
    # each non-zero graded value reaches its on/off pair: at most 2 ops per channel and step
    assert 0 < activity.input_synaptic_ops <= 2 * x.shape[1] * 10 * x.shape[2]
    graded = energy.snn_activity(network, simulate(network, x), n_ann_steps=x.shape[1])
    assert activity.neuron_updates == graded.neuron_updates + 12 * x.shape[1] * 10
    assert activity.synaptic_ops < graded.synaptic_ops


def test_refusals_name_the_value():
    model, x = _model(), _held_inputs()
    network = map_network(model, steps_per_ann_step=10, calibration=x, readout_latency=0)
    encoded = sigma_delta_input(network, input_bound=3.0)
    with pytest.raises(InputCodingError, match="already has"):
        sigma_delta_input(encoded, input_bound=3.0)
    with pytest.raises(InputCodingError, match="input_bound=-1"):
        sigma_delta_input(network, input_bound=-1.0)
    with pytest.raises(InputCodingError, match="feedback_time_constant=0"):
        sigma_delta_input(network, input_bound=3.0, feedback_time_constant=0)
    with pytest.raises(InputCodingError, match="feedback weight"):
        sigma_delta_input(network, input_bound=1e6)


def test_first_layer_scaled_down_when_a_spike_outweighs_the_weights():
    # k = 2 with τ_fb = 1 ANN step: one encoder spike is 39 % of x_max, more input than
    # r·2^e can carry, so the first layer's states are divided by 2^shift; it must still
    # decode the ANN's first-layer state (independent side) within twice the graded input's
    # error (the code is coarse: a quantization step of 1.2 input units). Binary spikes, as
    # the energy experiments that use the ΣΔ-encoded input map.
    model, x = _model(), _held_inputs()
    network = map_network(model, steps_per_ann_step=2, calibration=x,
                          **energy.PRICED_MAPPING)
    encoded = sigma_delta_input(network, input_bound=3.0, feedback_time_constant=1.0)
    shift = encoded.metadata["input_coding"]["first_layer_state_shift"]
    assert shift >= 1
    before, after = network.layers[0], encoded.layers[1]
    assert after.state_scale == before.state_scale / 2 ** shift
    assert after.neuron.feedback_weight == round(before.neuron.feedback_weight / 2 ** shift)
    np.testing.assert_allclose(after.bias, before.bias / 2 ** shift, atol=2 ** after.bias_exp)
    target = model.trace(x)["lpff"][:, 15:]
    graded = simulate(network, x, record=True).decoded["lpff"][:, 15:]
    decoded = simulate(encoded, x, record=True).decoded["lpff"][:, 15:]
    assert float((decoded - target).abs().mean()) < 2 * float((graded - target).abs().mean())


@pytest.mark.lava
def test_encoded_network_runs_on_lava_spike_for_spike():
    pytest.importorskip("lava")
    from lprnn.snn.lava import run_on_lava

    model = _model(n_inputs=3, ff=4, rnn=3)
    torch.manual_seed(2)
    x = torch.randn(1, 4, 3)
    network = map_network(model, steps_per_ann_step=6, calibration=x, readout_latency=0)
    encoded = sigma_delta_input(network, input_bound=float(x.abs().max()))
    reference = simulate(encoded, x, record=True)
    assert int(reference.spike_counts[ENCODER_NAME].sum()) > 0
    result = run_on_lava(encoded, x)
    for layer in encoded.layers:
        np.testing.assert_array_equal(result.spikes[layer.name],
                                      reference.spikes[layer.name].numpy(),
                                      err_msg=f"spikes of layer {layer.name}")
    np.testing.assert_array_equal(result.logits, reference.logits.numpy())
