"""The audio front ends: HD log-mel (against an independent NumPy reference) and GSC fbank."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lprnn.datasets import frontend


def _tone(frequency: float, seconds: float = 0.5, rate: int = 48000) -> torch.Tensor:
    t = torch.arange(int(seconds * rate)) / rate
    return torch.sin(2 * math.pi * frequency * t)


def _slaney_mel(frequency: np.ndarray) -> np.ndarray:
    """librosa's hz_to_mel(htk=False): linear below 1 kHz, logarithmic above."""
    linear = frequency / (200.0 / 3)
    log = 15.0 + np.log(np.maximum(frequency, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(frequency >= 1000.0, log, linear)


def _slaney_hz(mel: np.ndarray) -> np.ndarray:
    linear = mel * (200.0 / 3)
    log = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0))
    return np.where(mel >= 15.0, log, linear)


def _reference_filters() -> np.ndarray:
    """librosa.filters.mel(sr=48000, n_fft=1024, n_mels=80, htk=False, norm=1), written out."""
    fft_frequencies = np.linspace(0, 24000, 513)
    mel_frequencies = _slaney_hz(np.linspace(_slaney_mel(np.array(0.0)),
                                             _slaney_mel(np.array(24000.0)), 82))
    widths = np.diff(mel_frequencies)
    ramps = mel_frequencies[:, None] - fft_frequencies[None, :]
    weights = np.zeros((80, 513))
    for m in range(80):
        lower = -ramps[m] / widths[m]
        upper = ramps[m + 2] / widths[m + 1]
        weights[m] = np.maximum(0, np.minimum(lower, upper))
    return weights / weights.sum(axis=1, keepdims=True)


def _reference_logmel(samples: np.ndarray) -> np.ndarray:
    """The HD front end in NumPy, step by step as in docs/METHOD.md (Front end)."""
    n_fft, hop = 1024, 256
    padded = np.pad(samples, n_fft // 2, mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    frames = np.stack([padded[i:i + n_fft] * window
                       for i in range(0, len(padded) - n_fft + 1, hop)])
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2                    # [frames, 513]
    decibels = 10 * np.log10(np.maximum(np.sqrt(power @ _reference_filters().T), 1e-10))
    decibels = np.maximum(decibels - decibels.max(), -80.0)[1:]
    return (decibels - decibels.mean()) / (decibels.std(ddof=1) + 1e-10)


def test_mel_filters_match_librosa_slaney_l1():
    filters = frontend.hd_mel_filters()
    assert filters.shape == (80, 513)
    np.testing.assert_allclose(filters.double().numpy(), _reference_filters(), atol=1e-5)
    np.testing.assert_allclose(filters.sum(dim=1).numpy(), np.ones(80), rtol=1e-5)
    assert bool((filters > 0).any(dim=1).all()), "every mel filter covers at least one FFT bin"


def test_hd_logmel_matches_numpy_reference():
    generator = torch.Generator().manual_seed(0)
    clip = 0.3 * torch.randn(12345, generator=generator) + 0.5 * _tone(440.0, 12345 / 48000)
    clip = torch.cat([torch.zeros(5000), clip])  # silence: exercises the −80 dB floor
    features = frontend.hd_logmel(clip)
    expected = _reference_logmel(clip.double().numpy())
    assert features.shape == expected.shape == (17345 // 256, 80)
    np.testing.assert_allclose(features.numpy(), expected, atol=2e-3)


def test_one_second_gives_187_frames_and_batch_shape_is_kept():
    clips = torch.randn(2, 3, 48000)
    features = frontend.hd_logmel(clips)
    assert features.shape == (2, 3, 187, 80)
    assert features.dtype == torch.float32
    torch.testing.assert_close(features[1, 2], frontend.hd_logmel(clips[1, 2]))


def test_features_are_z_normalized_per_clip_and_gain_invariant():
    clip = 0.1 * torch.randn(24000)
    features = frontend.hd_logmel(clip)
    assert abs(features.mean().item()) < 1e-5
    assert features.std().item() == pytest.approx(1.0, abs=1e-4)
    torch.testing.assert_close(frontend.hd_logmel(20.0 * clip), features, atol=1e-4, rtol=0)


def test_decibels_of_sqrt_mel_with_80_db_floor():
    # Three segments of one tone: full amplitude, 1e-4 (10·log10 → −40 dB) and 1e-12
    # (−120 dB, clipped to the −80 dB floor). The z-normalization is affine, so ratios of
    # differences in the tone's band give the dB differences: 80 / 40 = 2.
    tone = _tone(1000.0, 0.25)
    features = frontend.hd_logmel(torch.cat([tone, 1e-4 * tone, 1e-12 * tone]))
    band = int(features[:40].mean(dim=0).argmax())
    loud, mid, quiet = (features[c, band].item() for c in (23, 70, 117))
    assert (loud - quiet) / (loud - mid) == pytest.approx(2.0, rel=1e-3)
    assert features[100:].min().item() == pytest.approx(features.min().item())


def test_tone_peaks_in_the_mel_band_of_its_frequency():
    centres = _slaney_hz(np.linspace(_slaney_mel(np.array(0.0)),
                                     _slaney_mel(np.array(24000.0)), 82))[1:-1]
    for frequency in (300.0, 1000.0, 5000.0):
        band = int(frontend.hd_logmel(_tone(frequency)).mean(dim=0).argmax())
        assert band == int(np.argmin(np.abs(centres - frequency)))


def test_other_sample_rates_are_resampled_to_48k():
    features = frontend.hd_logmel(torch.randn(16000), sample_rate=16000)
    assert features.shape == (187, 80)


@pytest.mark.parametrize("waveform, sample_rate, error, message", [
    (np.zeros(48000), 48000, TypeError, "torch.Tensor"),
    (torch.zeros(48000, dtype=torch.int16), 48000, TypeError, "floating-point"),
    (torch.zeros(1000), 48000, ValueError, "at least 1024"),
    (torch.tensor(0.5), 48000, ValueError, "scalar"),
    (torch.zeros(48000), 0, ValueError, "sample_rate 0"),
    (torch.zeros(48000), 48000.0, ValueError, "sample_rate 48000.0"),
])
def test_hd_logmel_rejects_bad_input(waveform, sample_rate, error, message):
    with pytest.raises(error, match=message):
        frontend.hd_logmel(waveform, sample_rate)


def test_gsc_fbank_shape_and_kaldi_frames():
    clip = 0.1 * torch.randn(16000)
    features = frontend.gsc_fbank(clip)
    assert features.shape == (98, 40)
    torch.testing.assert_close(frontend.gsc_fbank(clip.unsqueeze(0)), features)
    assert frontend.gsc_fbank(torch.randn(8000), sample_rate=8000).shape == (98, 40)


@pytest.mark.parametrize("waveform, error, message", [
    (torch.zeros(2, 16000), ValueError, r"\[1, samples\]"),
    (torch.zeros(100), ValueError, "at least 400"),
    (torch.zeros(16000, dtype=torch.int32), TypeError, "floating-point"),
])
def test_gsc_fbank_rejects_bad_input(waveform, error, message):
    with pytest.raises(error, match=message):
        frontend.gsc_fbank(waveform)


def _reference_authors(clips: np.ndarray) -> np.ndarray:
    """The authors' ``SHD_MelDataset.create_mels`` in NumPy, from its written recipe: clip 0
    alone, then batches of 64 in order; per batch dB relative to the batch's maximum with a
    floor at 1 − 80 = −79 dB; first frame dropped; z-normalized per clip."""
    n_fft, hop = 1024, 256
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)

    def decibels(samples: np.ndarray) -> np.ndarray:
        padded = np.pad(samples, n_fft // 2, mode="reflect")
        frames = np.stack([padded[i:i + n_fft] * window
                           for i in range(0, len(padded) - n_fft + 1, hop)])
        power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
        return 10 * np.log10(np.maximum(np.sqrt(power @ _reference_filters().T), 1e-10))

    batches = [[0]] + [list(range(i, min(i + 64, len(clips)))) for i in range(1, len(clips), 64)]
    out = []
    for batch in batches:
        db = np.stack([decibels(clips[i]) for i in batch])
        out.append(np.maximum(db - db.max(), -79.0)[:, 1:])
    db = np.concatenate(out)
    mean = db.mean(axis=(1, 2), keepdims=True)
    return (db - mean) / (db.std(axis=(1, 2), ddof=1, keepdims=True) + 1e-10)


def _quiet_and_loud_clips(n: int = 70, samples: int = 4800) -> torch.Tensor:
    """Clips of tone + noise with a near-silent half, quiet (−40 to −60 dB) except clip 64,
    the last of the batch 1…64: the batches' dB references and the floor all matter."""
    generator = torch.Generator().manual_seed(1)
    t = torch.arange(samples) / 48000
    gains = 10 ** (-2 - torch.rand(n, 1, generator=generator))
    gains[64] = 1.0
    tones = torch.sin(2 * math.pi * (200 + 3000 * torch.rand(n, 1, generator=generator)) * t)
    clips = gains * (0.5 * tones + 0.1 * torch.randn(n, samples, generator=generator))
    clips[:, : samples // 2] *= 1e-4
    return clips


def test_authors_logmel_matches_an_independent_reimplementation():
    clips = _quiet_and_loud_clips()
    features = frontend.authors_logmel(clips)
    expected = _reference_authors(clips.double().numpy())
    assert features.shape == expected.shape == (70, 4800 // 256, 80)
    np.testing.assert_allclose(features.numpy(), expected, atol=2e-3)
    # The batch reference matters: the per-clip front end is far from the authors' here.
    assert float((frontend.hd_logmel(clips) - features).abs().max()) > 0.1

