"""LpRNNClassifier: shapes, the equations, quantized/masked weights, authors' state dict, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from lprnn import config as paths
from lprnn.core.lowpass import lowpass_step
from lprnn.ann.model import LpRNN, LpRNNClassifier, ModelConfig, from_state_dict
from lprnn.ann.quantize import quantize

TINY = ModelConfig(n_inputs=6, ff_size=5, rnn_sizes=(7, 4), n_classes=3)


def _model(config: ModelConfig = TINY, seed: int = 0) -> LpRNNClassifier:
    torch.manual_seed(seed)
    return LpRNNClassifier(config)


def test_default_config_is_the_paper_network():
    config = ModelConfig()
    assert (config.n_inputs, config.ff_size, config.rnn_sizes, config.n_classes) == \
        (80, 128, (512, 512), 20)
    assert (config.retention_ratio, config.a_max, config.weight_frac_bits) == (0.8, 6.0, 3)
    names = {k: tuple(v.shape) for k, v in LpRNNClassifier(config).state_dict().items()}
    assert names == {
        "lpff.linear.weight": (128, 80), "lpff.linear.bias": (128,),
        "rnn_layers.0.linear.weight": (512, 128), "rnn_layers.0.linear.bias": (512,),
        "rnn_layers.0.linear_hh.weight": (512, 512),
        "rnn_layers.1.linear.weight": (512, 512), "rnn_layers.1.linear.bias": (512,),
        "rnn_layers.1.linear_hh.weight": (512, 512),
        "out.linear.weight": (20, 512), "out.linear.bias": (20,)}


def test_shapes_of_forward_and_trace():
    model = _model()
    x = torch.randn(2, 9, 6)
    trace = model.trace(x)
    assert {k: tuple(v.shape) for k, v in trace.items()} == {
        "lpff": (2, 9, 5), "rnn_layers.0": (2, 9, 7), "rnn_layers.1": (2, 9, 4),
        "logits": (2, 9, 3)}
    assert model(x).shape == (2, 3)


def test_trace_follows_the_paper_equations():
    """z_t = W x_t + U h_{t-1} + b, h_t = α h_{t-1} + (1 − α) clamp(z_t, 0, a_max), per step."""
    model = _model()
    with torch.no_grad():  # larger weights so that both clamp edges are reached
        for p in model.parameters():
            p.mul_(3.0)
    fmt = TINY.weight_format
    x = torch.randn(2, 8, 6) * 2
    trace = model.trace(x)
    params = {k: quantize(v, fmt) for k, v in model.state_dict().items()}
    layer_input = x
    for name in ("lpff", "rnn_layers.0", "rnn_layers.1"):
        w, b = params[f"{name}.linear.weight"], params[f"{name}.linear.bias"]
        u = params.get(f"{name}.linear_hh.weight")
        h = torch.zeros(2, w.shape[0])
        states = []
        for t in range(x.shape[1]):
            z = layer_input[:, t] @ w.t() + b + (0 if u is None else h @ u.t())
            h = lowpass_step(h, z, TINY.retention_ratio, TINY.a_max)
            states.append(h)
        layer_input = torch.stack(states, 1)
        torch.testing.assert_close(trace[name], layer_input)
    logits = layer_input @ params["out.linear.weight"].t() + params["out.linear.bias"]
    torch.testing.assert_close(trace["logits"], logits)


@pytest.mark.parametrize("averaging, start", [("second_half", 4), ("all", 0)])
def test_logits_are_averaged_over_the_readout_window(averaging, start):
    model = _model(ModelConfig(**{**TINY.to_dict(), "averaging": averaging}))
    x = torch.randn(2, 9, 6)
    torch.testing.assert_close(model(x), model.trace(x)["logits"][:, start:].mean(1))


def test_init_xavier_orthogonal_zero_bias():
    model = _model(ModelConfig(n_inputs=6, ff_size=8, rnn_sizes=(16,), n_classes=3,
                               weight_frac_bits=None))
    u = model.rnn_layers[0].linear_hh.weight
    torch.testing.assert_close(u @ u.t(), torch.eye(16), atol=1e-5, rtol=0)
    bound = math.sqrt(6 / (6 + 8))
    assert float(model.lpff.linear.weight.abs().max()) <= bound
    assert all(float(b.abs().max()) == 0 for k, b in model.state_dict().items()
               if k.endswith("bias"))


def test_effective_parameters_are_quantized_and_masked():
    model = _model()
    deployed = model.effective_parameters()
    assert set(deployed) == set(model.state_dict())
    for key, value in deployed.items():
        assert torch.equal(value * 8, torch.round(value * 8)), key
    mask = torch.rand(model.lpff.linear.weight.shape) > 0.5
    model.set_weight_masks({"lpff.linear": mask})
    assert "lpff.linear.weight_mask" in model.state_dict()
    assert float(model.effective_parameters()["lpff.linear.weight"][~mask].abs().max()) == 0
    float_model = _model(ModelConfig(**{**TINY.to_dict(), "weight_frac_bits": None}))
    assert torch.equal(float_model.effective_parameters()["out.linear.weight"],
                       float_model.out.linear.weight)


def test_masks_load_into_a_fresh_model_and_gradients_of_masked_weights_are_zero():
    model = _model()
    masks = model.zero_weight_masks()
    model.set_weight_masks(masks)
    fresh = _model(seed=1)
    fresh.load_state_dict(model.state_dict(), strict=True)
    assert torch.equal(fresh.lpff.linear.weight_mask, masks["lpff.linear"])
    fresh(torch.randn(2, 5, 6)).sum().backward()
    assert sum(int((~m).sum()) for m in masks.values()) > 0
    for name, layer in fresh.quantized_layers().items():
        assert float((layer.weight.grad * ~masks[name]).abs().sum()) == 0, name
    with pytest.raises(ValueError, match="unknown layers \\['nope'\\]"):
        model.set_weight_masks({"nope": None})
    with pytest.raises(ValueError, match="weight mask of shape \\(2, 2\\)"):
        model.set_weight_masks({"lpff.linear": torch.ones(2, 2, dtype=torch.bool)})


def test_zero_weight_fraction():
    model = _model()
    deployed = [v for k, v in model.effective_parameters().items() if k.endswith("weight")]
    expected = sum(int((w == 0).sum()) for w in deployed) / sum(w.numel() for w in deployed)
    assert model.zero_weight_fraction() == expected


def test_authors_checkpoint_loads_strictly():
    path = paths.authors_checkpoint()
    if path is None:
        pytest.skip(f"authors' checkpoint not in {paths.fixtures_dir()}")
    state_dict = torch.load(path, map_location="cpu", weights_only=True)
    model = LpRNNClassifier(ModelConfig())
    model.load_state_dict(state_dict, strict=True)
    authors = from_state_dict(state_dict)
    assert authors.config == ModelConfig()
    assert 0.5 < authors.zero_weight_fraction() < 0.95
    assert authors(torch.randn(1, 20, 80)).shape == (1, 20)


def test_from_state_dict_infers_sizes():
    model = _model()
    copy = from_state_dict(model.state_dict())
    assert copy.config == TINY
    with pytest.raises(ValueError, match="not an lpRNN classifier"):
        from_state_dict({"weight": torch.zeros(2)})


def test_lprnn_layer_alone():
    torch.manual_seed(0)
    layer = LpRNN(3, 4, weight_frac_bits=None)
    assert layer(torch.randn(2, 5, 3)).shape == (2, 5, 4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    model = _model()
    x = torch.randn(2, 9, 6)
    expected = model(x)
    torch.testing.assert_close(model.cuda()(x.cuda()).cpu(), expected, atol=1e-5, rtol=1e-5)


# -- bad input ------------------------------------------------------------------------------

def test_time_and_feature_axes_swapped():
    with pytest.raises(ValueError, match=r"shape \(2, 6, 9\).*\[batch, time, 6\].*transpose"):
        _model()(torch.randn(2, 6, 9))


def test_wrong_feature_dimension():
    with pytest.raises(ValueError, match=r"shape \(2, 9, 7\): expected \[batch, time, 6\]"):
        _model()(torch.randn(2, 9, 7))


def test_not_three_dimensional_or_not_float():
    with pytest.raises(ValueError, match=r"shape \(9, 6\)"):
        _model()(torch.randn(9, 6))
    with pytest.raises(TypeError, match="dtype torch.int64"):
        _model()(torch.zeros(2, 9, 6, dtype=torch.int64))
    with pytest.raises(TypeError, match="input is a list"):
        _model()([[0.0]])


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_input(bad):
    x = torch.randn(2, 9, 6)
    x[1, 3, 2] = bad
    with pytest.raises(ValueError, match="1 NaN/inf"):
        _model()(x)


def test_unknown_model_option():
    with pytest.raises(ValueError, match=r"unknown model option\(s\) \['hidden'\].*rnn_sizes"):
        ModelConfig.from_dict({"hidden": 3})


@pytest.mark.parametrize("options, match", [
    ({"weight_frac_bits": 0}, "frac_bits=0"), ({"weight_frac_bits": 17}, "frac_bits=17"),
    ({"weight_int_bits": -1}, "int_bits=-1"), ({"averaging": "last"}, "averaging='last'"),
    ({"rnn_sizes": (4, 0)}, "rnn_sizes"), ({"ff_size": 0}, "ff_size=0"),
    ({"retention_ratio": 1.5}, "retention_ratio=1.5"), ({"a_max": -1.0}, "a_max=-1.0")])
def test_bad_model_options(options, match):
    with pytest.raises(ValueError, match=match):
        ModelConfig(**options)


def test_config_type_is_checked():
    with pytest.raises(TypeError, match="config is a dict"):
        LpRNNClassifier({"ff_size": 3})


def test_bfloat16_autocast_keeps_the_recurrence_in_float32():
    model = _model()
    x = torch.randn(2, 9, 6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(x)
    assert logits.dtype == torch.float32
    torch.testing.assert_close(logits, model(x), atol=0.1, rtol=0.1)
    logits.sum().backward()
    assert model.rnn_layers[0].linear_hh.weight.grad is not None
