"""Notebook 01: one ΣΔ neuron encoding an analog signal, against a rate-coded IF neuron with
the same spike budget (encoding rows)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

import pandas as pd
import torch

from lprnn.datasets import load_dataset
from lprnn.experiments.common import ExperimentResult
from lprnn.snn import encoding

# Sweeps of the smoke run (the default and full sizes use the caller's).
QUICK_SWEEPS = dict(steps_sweep=(2, 8), threshold_sweep=(0.0, 1.0))


def signals(n_steps: int | None = None, *, size: str = "default", a_max: float = 6.0,
            mel_band: int = 10, sample_index: int = 0) -> dict[str, torch.Tensor]:
    """The two encoded signals: a chirp over ``[0, a_max]`` and one log-mel band of a test clip
    of the built-in digits."""
    test = load_dataset("digits", "test", quick=size == "quick")
    return {"chirp": encoding.chirp(test.n_steps if n_steps is None else n_steps, low=0.0, high=a_max),
            "digits_mel": test.features[sample_index, :, mel_band].double()}


def compare(signal: torch.Tensor, name: str, k: int, threshold: float, *, retention_ratio: float,
            a_max: float, if_filters: Sequence[float]) -> dict:
    """ΣΔ versus IF with the same number of spikes, on one signal at one k and threshold."""
    options = dict(retention_ratio=retention_ratio, a_max=a_max)
    sd = encoding.sigma_delta_encode(signal, steps_per_ann_step=k, threshold=threshold, **options)
    n_spikes = int(sd.spikes.sum())
    theta_if = encoding.match_spike_budget(sd.target, n_spikes, steps_per_ann_step=k)

    def if_rmse(tau):
        rate = encoding.integrate_fire_encode(sd.target, threshold=theta_if, steps_per_ann_step=k,
                                              retention_ratio=retention_ratio,
                                              feedback_time_constant=tau)
        return encoding.reconstruction_error(rate.decoded, rate.target)

    return dict(signal=name, k=k, threshold=threshold, spikes=n_spikes,
                spikes_per_s=encoding.spikes_per_second(sd.spikes, k),
                sigma_delta_rmse=encoding.reconstruction_error(sd.decoded, sd.target),
                integrate_fire_rmse=if_rmse(None),
                integrate_fire_best_filter_rmse=min(if_rmse(tau) for tau in if_filters if tau * k >= 1))


def sigma_delta_encoding(size: str = "default", retention_ratio: float = 0.8, a_max: float = 6.0,
                         steps_per_ann_step: int = 10,
                         steps_sweep: Sequence[int] | None = None,
                         threshold_sweep: Sequence[float] | None = None,
                         if_filters: Sequence[float] = (2.0, 1.0, 0.5), mel_band: int = 10,
                         sample_index: int = 0) -> ExperimentResult:
    """Reconstruction error and spikes of the ΣΔ neuron against IF, over k and over θ.

    None sweeps: (2, 4, 8, 16, 32) and (0, 0.25, 0.5, 1, 2, 4), or :data:`QUICK_SWEEPS` in
    a smoke run. Tables: ``by_steps``, ``by_threshold``, and ``encoded`` (each signal at
    ``steps_per_ann_step``: drive, target, reconstruction, spikes, long format).
    """
    quick = size == "quick"
    steps_sweep = (QUICK_SWEEPS["steps_sweep"] if quick else (2, 4, 8, 16, 32)) \
        if steps_sweep is None else steps_sweep
    threshold_sweep = (QUICK_SWEEPS["threshold_sweep"] if quick else (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)) \
        if threshold_sweep is None else threshold_sweep
    drives = signals(size=size, a_max=a_max, mel_band=mel_band, sample_index=sample_index)
    options = dict(retention_ratio=retention_ratio, a_max=a_max, if_filters=if_filters)
    by_steps = pd.DataFrame([compare(x, name, k, 0.0, **options)
                             for name, x in drives.items() for k in steps_sweep])
    by_threshold = pd.DataFrame([compare(x, name, steps_per_ann_step, theta, **options)
                                 for name, x in drives.items() for theta in threshold_sweep])
    encoded = {name: encoding.sigma_delta_encode(x, steps_per_ann_step=steps_per_ann_step,
                                                 retention_ratio=retention_ratio, a_max=a_max)
               for name, x in drives.items()}
    traces = pd.concat([pd.DataFrame(dict(
        signal=name, snn_step=range(r.spikes.shape[-1]), spike=r.spikes.numpy(),
        reconstruction=r.reconstruction.numpy())) for name, r in encoded.items()])
    ann = pd.concat([pd.DataFrame(dict(signal=name, ann_step=range(r.target.shape[-1]),
                                       drive=drives[name].numpy(), target=r.target.numpy()))
                     for name, r in encoded.items()])
    rows = []
    for r in by_steps.itertuples():
        for model, metric, value in (
                ("sigma_delta", f"rmse_k{r.k}", r.sigma_delta_rmse),
                ("integrate_fire_same_spikes", f"rmse_k{r.k}", r.integrate_fire_rmse),
                ("integrate_fire_same_spikes_best_filter", f"rmse_k{r.k}",
                 r.integrate_fire_best_filter_rmse),
                ("sigma_delta", f"spikes_per_s_k{r.k}", r.spikes_per_s)):
            rows.append(dict(experiment="sigma_delta_encoding", dataset=r.signal, model=model,
                             metric=metric, value=value, run_size=size))
    for r in by_threshold.itertuples():
        for metric, value in ((f"rmse_theta{r.threshold:g}_k{r.k}", r.sigma_delta_rmse),
                              (f"spikes_per_s_theta{r.threshold:g}_k{r.k}", r.spikes_per_s)):
            rows.append(dict(experiment="sigma_delta_threshold", dataset=r.signal,
                             model="sigma_delta", metric=metric, value=value, run_size=size))
    params = encoding.sigma_delta_params(steps_per_ann_step=steps_per_ann_step,
                                         retention_ratio=retention_ratio, a_max=a_max)
    return ExperimentResult(dict(by_steps=by_steps, by_threshold=by_threshold, snn_traces=traces,
                                 ann_traces=ann, neuron=pd.DataFrame([asdict(params)])), rows)

