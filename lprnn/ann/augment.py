"""Training-time augmentation of log-mel feature batches ``x [B, T, F]`` (fast on the CPU).

The features are cached once (:mod:`lprnn.datasets.cache`), so augmentation acts on them, per
sequence and per batch, in this order (each step off when its parameter is 0):

1. frequency warp (vocal-tract-length perturbation on the mel axis): with ``a ~ U(1 − w, 1 + w)``
   per sequence, ``x'[t, f] = x[t, f / a]`` (linear interpolation between bands, the top band
   repeated past the edge), so formants move up (``a > 1``) or down like a shorter or longer
   vocal tract, the variation between speakers that a model must ignore on unseen voices;
2. time masking and 3. frequency masking (SpecAugment, Park et al. 2019, through
   ``torchaudio.functional.mask_along_axis_iid``): per sequence one block of ``U[0, m)``
   consecutive frames (bands) set to 0, the features' mean after their z-normalization.

Random draws come from torch's global generator (seeded by :func:`lprnn.ann.train.load_or_train`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torchaudio


class FeatureAugmentation(NamedTuple):
    """``freq_warp`` w (relative, e.g. 0.1), ``time_mask`` and ``freq_mask`` widths (frames,
    bands; 0 = off)."""

    freq_warp: float = 0.0
    time_mask: int = 0
    freq_mask: int = 0

    def check(self) -> "FeatureAugmentation":
        if not (isinstance(self.freq_warp, (int, float)) and math.isfinite(self.freq_warp)
                and 0.0 <= self.freq_warp < 1.0):
            raise ValueError(f"freq_warp={self.freq_warp!r}: expected a value in [0, 1)")
        for name in ("time_mask", "freq_mask"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}={value!r}: expected an integer ≥ 0")
        return self

    @property
    def active(self) -> bool:
        return bool(self.freq_warp or self.time_mask or self.freq_mask)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Augmented copy of ``x [B, T, F]`` (module docstring)."""
        if self.freq_warp:
            x = warp_frequency(x, self.freq_warp)
        if self.time_mask or self.freq_mask:
            spectrogram = x.transpose(1, 2).unsqueeze(1)             # [B, 1, F, T]
            if self.time_mask:
                spectrogram = torchaudio.functional.mask_along_axis_iid(
                    spectrogram, self.time_mask, 0.0, axis=3)
            if self.freq_mask:
                spectrogram = torchaudio.functional.mask_along_axis_iid(
                    spectrogram, self.freq_mask, 0.0, axis=2)
            x = spectrogram.squeeze(1).transpose(1, 2)
        return x.contiguous()


def warp_frequency(x: torch.Tensor, max_warp: float) -> torch.Tensor:
    """``x'[b, t, f] = x[b, t, f / a_b]`` with ``a_b ~ U(1 − max_warp, 1 + max_warp)``."""
    n_sequences, _, n_bands = x.shape
    factors = 1.0 + max_warp * (2.0 * torch.rand(n_sequences, 1, device=x.device) - 1.0)
    source = (torch.arange(n_bands, device=x.device, dtype=x.dtype) / factors).clamp(
        max=n_bands - 1)                                             # [B, F]
    lower = source.floor().long()
    upper = (lower + 1).clamp(max=n_bands - 1)
    weight = (source - lower).unsqueeze(1)                           # [B, 1, F]
    index = lower.unsqueeze(1).expand(-1, x.shape[1], -1)
    index_up = upper.unsqueeze(1).expand(-1, x.shape[1], -1)
    return torch.gather(x, 2, index) * (1 - weight) + torch.gather(x, 2, index_up) * weight
