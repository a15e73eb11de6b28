"""Feature augmentation (time stretch, frequency warp, SpecAugment masks) and float
pre-training in training."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

import numpy as np

from lprnn.ann.augment import FeatureAugmentation, stretch_time, warp_frequency
from lprnn.ann.model import LpRNNClassifier, ModelConfig
from lprnn.ann.train import FLOAT_ROUND, TrainConfig, train
from tests.test_train import CONFIG, FAST, toy_dataset


def test_frequency_warp_moves_bands_by_one_factor_per_sequence():
    torch.manual_seed(0)
    n_bands = 80
    ramp = torch.arange(n_bands, dtype=torch.float32).expand(6, 5, n_bands).contiguous()
    warped = warp_frequency(ramp, 0.2)
    # Linear interpolation of a ramp is exact: x'[f] = min(f / a, F − 1).
    factors = 40.0 / warped[:, 0, 40]
    assert bool(((factors >= 0.8) & (factors <= 1.2)).all()) and factors.std() > 0.01
    expected = (torch.arange(n_bands) / factors[:, None]).clamp(max=n_bands - 1)
    torch.testing.assert_close(warped, expected[:, None, :].expand(-1, 5, -1))
    torch.testing.assert_close(warp_frequency(ramp, 0.0), ramp)


def _stretched_by_numpy(x: np.ndarray, factor: float) -> np.ndarray:
    """Independent oracle: x'[t] = x[T − 1 − (T − 1 − t)·a], np.interp per band (its ends
    held), for one sequence ``x [T, F]``."""
    n_frames = x.shape[0]
    source = n_frames - 1 - (n_frames - 1 - np.arange(n_frames)) * factor
    return np.stack([np.interp(source, np.arange(n_frames), band) for band in x.T], axis=1)


def test_time_stretch_equals_an_end_aligned_interpolation_per_sequence():
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(4, 37, 6, generator=generator, dtype=torch.float64)
    factors = torch.tensor([1.0, 1.25, 0.8, 0.95], dtype=torch.float64)
    stretched = stretch_time(x, factors)
    for sequence, factor, out in zip(x, factors, stretched):
        np.testing.assert_allclose(out.numpy(), _stretched_by_numpy(sequence.numpy(),
                                                                    float(factor)), atol=1e-9)
    torch.testing.assert_close(stretched[0], x[0])          # a = 1: the identity
    torch.testing.assert_close(stretched[:, -1], x[:, -1])  # every clip still ends on its end
    # a > 1 speeds the word up: the frames before its start repeat the first frame
    assert torch.equal(stretched[1, :5], x[1, :1].expand(5, -1))


def test_time_stretch_draws_one_factor_per_sequence_in_range():
    torch.manual_seed(2)
    n_frames = 41
    ramp = torch.arange(n_frames, dtype=torch.float32)[None, :, None].expand(8, -1, 3)
    stretched = FeatureAugmentation(time_stretch=0.2)(ramp.contiguous())
    # On a ramp the stretch is exact: x'[t] = max(T − 1 − (T − 1 − t)·a, 0).
    factors = (n_frames - 1 - stretched[:, n_frames // 2, 0]) / (n_frames - 1 - n_frames // 2)
    assert bool(((factors >= 0.8 - 1e-5) & (factors <= 1.2 + 1e-5)).all())
    assert factors.std() > 0.01
    expected = (n_frames - 1 - (n_frames - 1 - torch.arange(n_frames))[None, :]
                * factors[:, None]).clamp(min=0)
    torch.testing.assert_close(stretched[..., 0], expected, atol=1e-4, rtol=0)


def test_masks_zero_one_block_per_sequence():
    torch.manual_seed(1)
    x = torch.rand(8, 50, 20) + 1.0                     # no zeros before masking
    masked = FeatureAugmentation(time_mask=10, freq_mask=6)(x)
    zero = masked == 0
    kept = ~zero
    torch.testing.assert_close(masked[kept], x[kept])
    for sequence in zero:
        frames = sequence.all(dim=1).nonzero().flatten()
        bands = sequence.all(dim=0).nonzero().flatten()
        assert len(frames) < 10 and len(bands) < 6
        for block in (frames, bands):
            if len(block):
                assert block.tolist() == list(range(int(block[0]), int(block[-1]) + 1))
        # every zero is in the masked frames or the masked bands
        rows = torch.zeros(50, dtype=torch.bool)
        rows[frames] = True
        columns = torch.zeros(20, dtype=torch.bool)
        columns[bands] = True
        assert torch.equal(sequence, rows[:, None] | columns[None, :])
    assert not FeatureAugmentation().active


@pytest.mark.parametrize("options, message", [
    (dict(freq_warp=1.5), r"freq_warp=1.5: expected a value in \[0, 1\)"),
    (dict(time_stretch=-0.1), r"time_stretch=-0.1: expected a value in \[0, 1\)"),
    (dict(time_stretch=True), r"time_stretch=True"),
    (dict(time_mask=-1), "time_mask=-1"),
    (dict(freq_mask=2.5), "freq_mask=2.5"),
    (dict(float_epochs=-2), "float_epochs=-2"),
])
def test_bad_augmentation_options(options, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**options)


def test_training_sees_augmented_batches(monkeypatch):
    seen = []
    original = FeatureAugmentation.__call__

    def spy(self, x):
        out = original(self, x)
        seen.append((x.clone(), out))
        return out

    monkeypatch.setattr(FeatureAugmentation, "__call__", spy)
    torch.manual_seed(0)
    config = replace(FAST, epochs=1, time_stretch=0.2, freq_warp=0.1, freq_mask=2)
    train(LpRNNClassifier(CONFIG), toy_dataset(64, 0), toy_dataset(32, 1), config,
          progress=False)
    assert len(seen) == 2 and any(not torch.equal(x, out) for x, out in seen)


def test_float_pretraining_then_quantized_training():
    formats_seen = []
    torch.manual_seed(0)
    model = LpRNNClassifier(CONFIG)
    first_layer = next(iter(model.quantized_layers().values()))
    handle = model.register_forward_pre_hook(
        lambda module, args: formats_seen.append(first_layer.fmt))
    config = replace(FAST, epochs=2, float_epochs=3)
    result = train(model, toy_dataset(64, 0), toy_dataset(32, 1), config, progress=False)
    handle.remove()
    rounds = [record["round"] for record in result.history]
    assert rounds == [FLOAT_ROUND] * 3 + [0] * 2
    assert [record["epoch"] for record in result.history] == [1, 2, 3, 4, 5]
    assert result.best_epoch in (4, 5)  # the model kept is a quantized epoch
    assert None in formats_seen and formats_seen[-1] is not None
    for layer in model.quantized_layers().values():
        assert layer.fmt is not None
        weight = layer.effective_weight()
        torch.testing.assert_close(weight * 8, (weight * 8).round())


def test_quantization_stays_on_when_float_pretraining_is_off():
    model = LpRNNClassifier(ModelConfig(**{**CONFIG.to_dict(), "weight_frac_bits": 3}))
    train(model, toy_dataset(32, 0), toy_dataset(16, 1), replace(FAST, epochs=1),
          progress=False)
    assert all(layer.fmt is not None for layer in model.quantized_layers().values())
