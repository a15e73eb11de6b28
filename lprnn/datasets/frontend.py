"""Audio front ends: the Heidelberg-Digits log-mel features and the Speech Commands fbank.

Every audio dataset of the package goes through one of these two functions, so the built-in
digits, HD and GSC see exactly the features the authors' networks were trained on.

HD log-mel (:func:`hd_logmel`), per clip, following the authors' ``SHD_MelDataset``:

    P[f, t]  = |STFT(x)|²                   n_fft 1024, hop 256, Hann window, centred (reflect)
    M[m, t]  = Σ_f B[m, f] · P[f, t]        80 triangular mel filters, Slaney mel scale
                                            (librosa htk=False), each filter L1-normalised
                                            (librosa.filters.mel(norm=1))
    A        = sqrt(M)
    D        = 10·log10(max(A, 1e-10));  D ← max(D − max(D), −80)     (80 dB dynamic range)
    D        ← D[:, 1:]                     drop the first frame
    X        = (D − mean(D)) / (std(D) + 1e-10)   mean/std over time and bands of the clip

With centring, a clip of ``L`` samples gives ``L // 256`` frames. Two deliberate differences
from the authors' code: the dB reference ``max(D)`` is the clip's own maximum (theirs was the
maximum over a batch of 64 clips, which made a clip's features depend on its batch), and the
floor is −80 dB (theirs computed ``1 − 80``).

GSC fbank (:func:`gsc_fbank`): ``torchaudio.compliance.kaldi.fbank`` with 40 mel bins and Kaldi's
defaults (25 ms frames, 10 ms shift), as the authors' ``GSpeechCommands``.
"""

from __future__ import annotations

import functools

import torch
import torchaudio

HD_SAMPLE_RATE = 48000
HD_N_FFT = 1024
HD_HOP_LENGTH = 256
HD_N_MELS = 80
HD_DYNAMIC_RANGE_DB = 80.0
GSC_SAMPLE_RATE = 16000
GSC_N_MELS = 40

_AMPLITUDE_FLOOR = 1e-10
_NORM_EPS = 1e-10


@functools.cache
def hd_mel_filters() -> torch.Tensor:
    """The 80 × 513 mel filterbank ``B`` of the HD front end (rows sum to one)."""
    filters = torchaudio.functional.melscale_fbanks(
        n_freqs=HD_N_FFT // 2 + 1, f_min=0.0, f_max=HD_SAMPLE_RATE / 2, n_mels=HD_N_MELS,
        sample_rate=HD_SAMPLE_RATE, norm=None, mel_scale="slaney").T
    return filters / filters.sum(dim=1, keepdim=True).clamp_min(torch.finfo(filters.dtype).tiny)


@functools.cache
def _hd_window() -> torch.Tensor:
    return torch.hann_window(HD_N_FFT)


def _check_waveform(waveform: object, sample_rate: object) -> None:
    if not isinstance(waveform, torch.Tensor):
        raise TypeError(f"waveform: expected a torch.Tensor, got {type(waveform).__name__}")
    if not waveform.is_floating_point():
        raise TypeError(f"waveform dtype {waveform.dtype}: expected a floating-point tensor "
                        "(convert int16 audio with x / 32768)")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
        raise ValueError(f"sample_rate {sample_rate!r}: expected a positive integer (Hz)")


def hd_logmel(waveform: torch.Tensor, sample_rate: int = HD_SAMPLE_RATE) -> torch.Tensor:
    """HD log-mel features of ``waveform [..., samples]``: ``[..., T, 80]`` float32.

    Audio at another ``sample_rate`` is first resampled to 48 kHz. ``T = samples_48k // 256``;
    clips shorter than one FFT window (1024 samples at 48 kHz) are rejected. See the module
    docstring for the equations.
    """
    _check_waveform(waveform, sample_rate)
    if waveform.dim() == 0:
        raise ValueError("waveform: expected shape [..., samples], got a scalar")
    waveform = waveform.float()
    if sample_rate != HD_SAMPLE_RATE:
        waveform = torchaudio.functional.resample(waveform, sample_rate, HD_SAMPLE_RATE)
    if waveform.shape[-1] < HD_N_FFT:
        raise ValueError(f"waveform has {waveform.shape[-1]} samples at 48 kHz: expected at "
                         f"least {HD_N_FFT} (one FFT window)")
    batch_shape = waveform.shape[:-1]
    flat = waveform.reshape(-1, waveform.shape[-1])
    stft = torch.stft(flat, n_fft=HD_N_FFT, hop_length=HD_HOP_LENGTH, window=_hd_window(),
                      center=True, pad_mode="reflect", return_complex=True)
    power = stft.real.square() + stft.imag.square()                  # [N, 513, frames]
    amplitude = torch.sqrt(hd_mel_filters() @ power)                 # [N, 80, frames]
    decibels = 10.0 * torch.log10(amplitude.clamp_min(_AMPLITUDE_FLOOR))
    decibels = decibels - decibels.amax(dim=(1, 2), keepdim=True)
    decibels = decibels.clamp_min(-HD_DYNAMIC_RANGE_DB)[..., 1:]
    mean = decibels.mean(dim=(1, 2), keepdim=True)
    std = decibels.std(dim=(1, 2), keepdim=True)
    features = ((decibels - mean) / (std + _NORM_EPS)).transpose(1, 2)
    return features.reshape(*batch_shape, *features.shape[1:]).contiguous()


def gsc_fbank(waveform: torch.Tensor, sample_rate: int = GSC_SAMPLE_RATE) -> torch.Tensor:
    """Kaldi fbank (40 mel bins) of one clip ``[samples]`` or ``[1, samples]``: ``[T, 40]``.

    With Kaldi's 25 ms frames and 10 ms shift, a 1 s clip at 16 kHz gives 98 frames.
    """
    _check_waveform(waveform, sample_rate)
    if waveform.dim() == 1:
        waveform = waveform.unsqueeze(0)
    if waveform.dim() != 2 or waveform.shape[0] != 1:
        raise ValueError(f"waveform shape {tuple(waveform.shape)}: expected [samples] or "
                         "[1, samples] (one mono clip)")
    frame_length = int(sample_rate * 0.025)
    if waveform.shape[1] < frame_length:
        raise ValueError(f"waveform has {waveform.shape[1]} samples: expected at least "
                         f"{frame_length} (one 25 ms frame at {sample_rate} Hz)")
    return torchaudio.compliance.kaldi.fbank(waveform.float(), num_mel_bins=GSC_N_MELS,
                                             sample_frequency=float(sample_rate))
