"""Audio front ends: the Heidelberg-Digits log-mel features and the Speech Commands fbank.

Every audio dataset of the package goes through these functions: the built-in digits, HD, FSDD
and GSC follow the authors' recipes, with the two deliberate differences listed below for
:func:`hd_logmel`; :func:`authors_logmel` drops those differences, for users who need the
authors' own HD features.

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
from the authors' code: the dB reference ``max(D)`` is the clip's own maximum, and the floor is
−80 dB. The authors' dataset class took ``max(D)`` over a whole batch of clips (the first clip
alone, then batches of 64 in file order), which makes a clip's features depend on its batch,
and its floor is ``1 − 80 = −79`` dB; because of the floor, the reference moves the features
of quiet frames (by up to 0.65 on HD after the normalization). :func:`authors_logmel` is their
recipe, batches and floor included.

Narrow-band log-mel (:func:`narrowband_logmel`), for 8 kHz recordings (telephone band, FSDD),
which have nothing above 4 kHz, where half of HD's 80 bands would sit at the floor: the same
steps at 8 kHz with the 80 Slaney bands spread over 0–4 kHz, a 32 ms Hann window (256 samples,
zero-padded to n_fft 512 so that every band covers at least three FFT bins) and hop 43
(5.4 ms, HD's frame rate within 1 %): ``L // 43`` frames for ``L`` samples.

Audio at other rates is resampled by :func:`resample` (polyphase, bit-identical whatever
torch's thread count), so cached features do not depend on the machine's thread settings.

GSC fbank (:func:`gsc_fbank`): ``torchaudio.compliance.kaldi.fbank`` with 40 mel bins and Kaldi's
defaults (25 ms frames, 10 ms shift), as the authors' ``GSpeechCommands``.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import scipy.signal
import torch
import torchaudio

HD_SAMPLE_RATE = 48000
HD_N_FFT = 1024
HD_HOP_LENGTH = 256
HD_N_MELS = 80
HD_DYNAMIC_RANGE_DB = 80.0
AUTHORS_DYNAMIC_RANGE_DB = 79.0   # their ``max(D, 1 − 80)``
AUTHORS_BATCH = 64                # clips per dB reference in their dataset class (after the first)
RESAMPLER = "scipy.signal.resample_poly(kaiser 5.0, float64)"  # named in feature cache keys
NARROWBAND_SAMPLE_RATE = 8000
NARROWBAND_WIN_LENGTH = 256
NARROWBAND_N_FFT = 512
NARROWBAND_HOP_LENGTH = 43
GSC_SAMPLE_RATE = 16000
GSC_N_MELS = 40

_AMPLITUDE_FLOOR = 1e-10
_NORM_EPS = 1e-10
_BAND_NORM_EPS = 1e-5  # a band constant over the clip (e.g. at the floor) stays 0


@functools.cache
def hd_mel_filters() -> torch.Tensor:
    """The 80 × 513 mel filterbank ``B`` of the HD front end (rows sum to one)."""
    filters = torchaudio.functional.melscale_fbanks(
        n_freqs=HD_N_FFT // 2 + 1, f_min=0.0, f_max=HD_SAMPLE_RATE / 2, n_mels=HD_N_MELS,
        sample_rate=HD_SAMPLE_RATE, norm=None, mel_scale="slaney").T
    return filters / filters.sum(dim=1, keepdim=True).clamp_min(torch.finfo(filters.dtype).tiny)


@functools.cache
def narrowband_mel_filters() -> torch.Tensor:
    """The 80 × 257 mel filterbank of the narrow-band front end, 0–4 kHz (rows sum to one)."""
    filters = torchaudio.functional.melscale_fbanks(
        n_freqs=NARROWBAND_N_FFT // 2 + 1, f_min=0.0, f_max=NARROWBAND_SAMPLE_RATE / 2,
        n_mels=HD_N_MELS, sample_rate=NARROWBAND_SAMPLE_RATE, norm=None, mel_scale="slaney").T
    return filters / filters.sum(dim=1, keepdim=True).clamp_min(torch.finfo(filters.dtype).tiny)


@functools.cache
def _hd_window() -> torch.Tensor:
    return torch.hann_window(HD_N_FFT)


@functools.cache
def _narrowband_window() -> torch.Tensor:
    return torch.hann_window(NARROWBAND_WIN_LENGTH)


def _check_waveform(waveform: object, sample_rate: object) -> None:
    if not isinstance(waveform, torch.Tensor):
        raise TypeError(f"waveform: expected a torch.Tensor, got {type(waveform).__name__}")
    if not waveform.is_floating_point():
        raise TypeError(f"waveform dtype {waveform.dtype}: expected a floating-point tensor "
                        "(convert int16 audio with x / 32768)")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
        raise ValueError(f"sample_rate {sample_rate!r}: expected a positive integer (Hz)")


def resample(waveform: torch.Tensor, orig_rate: int, new_rate: int) -> torch.Tensor:
    """``waveform [..., samples]`` at ``orig_rate`` Hz resampled to ``new_rate`` Hz (float32).

    Polyphase filtering (``scipy.signal.resample_poly``: up by ``p``, low-pass FIR with a
    Kaiser window β = 5, down by ``q``, with ``p / q = new_rate / orig_rate`` in lowest terms),
    computed in float64 on the CPU. ``ceil(samples · p / q)`` samples come out. Unlike
    ``torchaudio.functional.resample``, whose convolution changes in its last bits with torch's
    thread count, the result is bit-identical whatever the thread count.
    """
    _check_waveform(waveform, orig_rate)
    _check_waveform(waveform, new_rate)
    if orig_rate == new_rate:
        return waveform.float()
    divisor = math.gcd(orig_rate, new_rate)
    resampled = scipy.signal.resample_poly(waveform.detach().cpu().double().numpy(),
                                           new_rate // divisor, orig_rate // divisor, axis=-1)
    return torch.from_numpy(np.ascontiguousarray(resampled, dtype=np.float32))


def hd_logmel(waveform: torch.Tensor, sample_rate: int = HD_SAMPLE_RATE) -> torch.Tensor:
    """HD log-mel features of ``waveform [..., samples]``: ``[..., T, 80]`` float32.

    Audio at another ``sample_rate`` is first resampled to 48 kHz (:func:`resample`).
    ``T = samples_48k // 256``; clips shorter than one FFT window (1024 samples at 48 kHz) are
    rejected. See the module docstring for the equations.
    """
    _check_waveform(waveform, sample_rate)
    if waveform.dim() == 0:
        raise ValueError("waveform: expected shape [..., samples], got a scalar")
    waveform = waveform.float()
    if sample_rate != HD_SAMPLE_RATE:
        waveform = resample(waveform, sample_rate, HD_SAMPLE_RATE)
    if waveform.shape[-1] < HD_N_FFT:
        raise ValueError(f"waveform has {waveform.shape[-1]} samples at 48 kHz: expected at "
                         f"least {HD_N_FFT} (one FFT window)")
    return _per_clip_logmel(waveform, narrowband=False)


def _per_clip_logmel(waveform: torch.Tensor, narrowband: bool) -> torch.Tensor:
    """dB relative to each clip's maximum, −80 dB floor, first frame dropped, z-normalized."""
    batch_shape = waveform.shape[:-1]
    decibels = _hd_decibels(waveform.reshape(-1, waveform.shape[-1]), narrowband)
    decibels = decibels - decibels.amax(dim=(1, 2), keepdim=True)
    decibels = decibels.clamp_min(-HD_DYNAMIC_RANGE_DB)[..., 1:]
    features = _z_normalize(decibels).transpose(1, 2)
    return features.reshape(*batch_shape, *features.shape[1:]).contiguous()


def narrowband_logmel(waveform: torch.Tensor,
                      sample_rate: int = NARROWBAND_SAMPLE_RATE) -> torch.Tensor:
    """Narrow-band log-mel features of ``waveform [..., samples]``: ``[..., T, 80]`` float32.

    The steps of :func:`hd_logmel` at 8 kHz (module docstring): window 256 zero-padded to 512,
    hop 43, 80 Slaney bands over 0–4 kHz. Audio at another ``sample_rate`` is first resampled
    to 8 kHz (:func:`resample`). ``T = samples_8k // 43``.
    """
    _check_waveform(waveform, sample_rate)
    if waveform.dim() == 0:
        raise ValueError("waveform: expected shape [..., samples], got a scalar")
    waveform = resample(waveform, sample_rate, NARROWBAND_SAMPLE_RATE)
    if waveform.shape[-1] < NARROWBAND_N_FFT:
        raise ValueError(f"waveform has {waveform.shape[-1]} samples at 8 kHz: expected at "
                         f"least {NARROWBAND_N_FFT} (one FFT frame)")
    return _per_clip_logmel(waveform, narrowband=True)


def _hd_decibels(waveform: torch.Tensor, narrowband: bool = False) -> torch.Tensor:
    """``10·log10(max(sqrt(B · |STFT(x)|²), 1e-10))`` of clips ``[N, samples]``:
    ``[N, 80, frames]`` (HD's STFT and filters, or the narrow-band ones)."""
    if narrowband:
        stft = torch.stft(waveform, n_fft=NARROWBAND_N_FFT, hop_length=NARROWBAND_HOP_LENGTH,
                          win_length=NARROWBAND_WIN_LENGTH, window=_narrowband_window(),
                          center=True, pad_mode="reflect", return_complex=True)
        filters = narrowband_mel_filters()
    else:
        stft = torch.stft(waveform, n_fft=HD_N_FFT, hop_length=HD_HOP_LENGTH,
                          window=_hd_window(), center=True, pad_mode="reflect",
                          return_complex=True)
        filters = hd_mel_filters()
    power = stft.real.square() + stft.imag.square()                  # [N, freqs, frames]
    amplitude = torch.sqrt(filters @ power)                          # [N, 80, frames]
    return 10.0 * torch.log10(amplitude.clamp_min(_AMPLITUDE_FLOOR))


def _z_normalize(decibels: torch.Tensor) -> torch.Tensor:
    """``(D − mean D) / (std D + 1e-10)`` per clip, over its bands and frames (dims 1 and 2)."""
    mean = decibels.mean(dim=(1, 2), keepdim=True)
    std = decibels.std(dim=(1, 2), keepdim=True)
    return (decibels - mean) / (std + _NORM_EPS)


def authors_batches(n_clips: int) -> list[range]:
    """The batches of the authors' ``create_mels``: clip 0 alone, then 64 at a time."""
    starts = [0, *range(1, n_clips, AUTHORS_BATCH)]
    return [range(start, end) for start, end in zip(starts, [*starts[1:], n_clips])]


def authors_batch_logmel(waveforms: torch.Tensor) -> torch.Tensor:
    """The authors' features of one batch ``waveforms [B, samples]`` at 48 kHz: ``[B, T, 80]``,

        D ← max(D − max_{clips, bands, frames} D, −79),  first frame dropped, z-normalized

    with ``D`` as in :func:`hd_logmel` and one dB reference for the whole batch.
    """
    _check_waveform(waveforms, HD_SAMPLE_RATE)
    if waveforms.dim() != 2 or waveforms.shape[-1] < HD_N_FFT:
        raise ValueError(f"waveforms shape {tuple(waveforms.shape)}: expected [clips, samples] "
                         f"with at least {HD_N_FFT} samples")
    decibels = _hd_decibels(waveforms.float())
    decibels = (decibels - decibels.amax()).clamp_min(-AUTHORS_DYNAMIC_RANGE_DB)[..., 1:]
    return _z_normalize(decibels).transpose(1, 2).contiguous()


def authors_logmel(waveforms: torch.Tensor) -> torch.Tensor:
    """The authors' HD features of clips ``waveforms [N, samples]`` at 48 kHz: ``[N, T, 80]``.

    As their ``SHD_MelDataset.create_mels``: the clips are taken in batches
    (:func:`authors_batches`: clip 0 alone, then ``1 … 64``, ``65 … 128``, …) and each batch
    shares one dB reference (:func:`authors_batch_logmel`). The features of a clip therefore
    depend on its position in the list: pass the clips in the authors' file order. (Their code
    z-normalizes clip 0 twice; the second pass changes it by about 1e-10 and is left out.)
    """
    if waveforms.dim() != 2:
        raise ValueError(f"waveforms shape {tuple(waveforms.shape)}: expected [clips, samples]")
    return torch.cat([authors_batch_logmel(waveforms[batch.start:batch.stop])
                      for batch in authors_batches(waveforms.shape[0])])


def band_normalize(features: torch.Tensor) -> torch.Tensor:
    """Each band of each clip z-normalized over its frames (per-utterance mean and variance
    normalization, as in speech recognition): for ``features [..., T, F]``,

        X'[t, f] = (X[t, f] − mean_t X[·, f]) / (std_t X[·, f] + 1e-5)

    removes a clip's spectral envelope (the channel, and part of the speaker's timbre).
    """
    if features.dim() < 2:
        raise ValueError(f"features shape {tuple(features.shape)}: expected [..., T, F]")
    mean = features.mean(dim=-2, keepdim=True)
    std = features.std(dim=-2, keepdim=True)
    return (features - mean) / (std + _BAND_NORM_EPS)


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
