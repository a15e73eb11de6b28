"""Training-time augmentation of log-mel feature batches ``x [B, T, F]`` (fast on the CPU).

The features are cached once (:mod:`lprnn.datasets.cache`), so augmentation acts on them, per
sequence and per batch, in this order (each step off when its parameter is 0):

1. time stretch (speed perturbation on the frame axis, end-aligned as the clips are): with
   ``a ~ U(1 − r, 1 + r)`` per sequence, ``x'[t] = x[T − 1 − (T − 1 − t) · a]`` (linear
   interpolation between frames; positions before the first frame take the first frame, the
   clip's leading padding), so the word is spoken faster (``a > 1``) or slower and still ends
   on the last frame, the variation in speaking rate between speakers (``torch.nn.functional.
   grid_sample`` with one affine grid per sequence);
2. frequency warp (vocal-tract-length perturbation on the mel axis): with ``a ~ U(1 − w, 1 + w)``
   per sequence, ``x'[t, f] = x[t, f / a]`` (linear interpolation between bands, the top band
   repeated past the edge), so formants move up (``a > 1``) or down like a shorter or longer
   vocal tract, the variation between speakers that a model must ignore on unseen voices;
3. time masking and 4. frequency masking (SpecAugment, Park et al. 2019, through
   ``torchaudio.functional.mask_along_axis_iid``): per sequence one block of ``U[0, m)``
   consecutive frames (bands) set to 0, the features' mean after their z-normalization.

Random draws come from torch's global generator (seeded by :func:`lprnn.ann.train.load_or_train`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
import torchaudio


class FeatureAugmentation(NamedTuple):
    """``freq_warp`` w (relative, e.g. 0.1), ``time_mask`` and ``freq_mask`` widths (frames,
    bands; 0 = off), ``time_stretch`` r (relative, e.g. 0.2)."""

    freq_warp: float = 0.0
    time_mask: int = 0
    freq_mask: int = 0
    time_stretch: float = 0.0

    def check(self) -> "FeatureAugmentation":
        for name in ("freq_warp", "time_stretch"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and not isinstance(value, bool)
                    and math.isfinite(value) and 0.0 <= value < 1.0):
                raise ValueError(f"{name}={value!r}: expected a value in [0, 1)")
        for name in ("time_mask", "freq_mask"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}={value!r}: expected an integer ≥ 0")
        return self

    @property
    def active(self) -> bool:
        return bool(self.freq_warp or self.time_mask or self.freq_mask or self.time_stretch)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Augmented copy of ``x [B, T, F]`` (module docstring)."""
        if self.time_stretch:
            x = stretch_time(x, 1.0 + self.time_stretch * (
                2.0 * torch.rand(x.shape[0], device=x.device) - 1.0))
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


def stretch_time(x: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """``x'[b, t] = x[b, T − 1 − (T − 1 − t) · a_b]`` for ``x [B, T, F]`` and ``factors`` a
    ``[B]``: linear interpolation between frames, the first frame held before the start.

    In ``grid_sample``'s normalized coordinates (``align_corners``: −1 is frame 0, +1 frame
    T − 1) this is the affine map ``y_src = a · y + 1 − a`` on the frame axis, the identity on
    the band axis.
    """
    n_sequences = x.shape[0]
    theta = torch.zeros(n_sequences, 2, 3, dtype=x.dtype, device=x.device)
    theta[:, 0, 0] = 1.0                          # bands: identity
    theta[:, 1, 1] = factors
    theta[:, 1, 2] = 1.0 - factors                # frames: end-aligned scaling
    image = x.unsqueeze(1)                        # [B, 1, T, F]: height T, width F
    grid = F.affine_grid(theta, list(image.shape), align_corners=True)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border",
                         align_corners=True).squeeze(1)
