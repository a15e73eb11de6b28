"""How exactly the ΣΔ SNN reproduces the ANN: agreement with intervals, by margin, and why.

Entry points (each returns a DataFrame; notebook 03 shows them):

- :func:`compare` — one model, one mapped network, one set of clips: per-clip table of the
  ANN's, the rate model's and the SNN's predictions, the ANN's logit margin and the cause of
  every disagreement (:func:`lprnn.snn.analysis.disagreement_table`).
- :func:`summary_rows` — that table as result rows: accuracies, agreement with its Wilson 95 %
  interval (:func:`lprnn.stats.wilson_interval`), agreement below and above the median margin,
  |ANN − SNN| accuracy, disagreements per cause.
- :func:`lag_table` — per layer, the lag of the decoded SNN trace behind the ANN's.
- :func:`run` — a recipe's trained model mapped at several k, as the paper's lpRNN
  (``timing="ann"``) and with the SNN's timing (``timing="snn"``, the same weights run as the
  SNN's rate limit, :mod:`lprnn.ann.model`), all rows in one DataFrame.

Which ANN is "the ANN". The paper's lpRNN updates once per ANN step; its mapped SNN is a
low-pass at k times that rate whose layers see each other one SNN step late
(:mod:`lprnn.snn.analysis`), so the two differ in timing on clips with small margins. The
lpRNN with ``timing="snn"`` is that SNN's rate limit by construction; the rows carry both,
and the SNN is the same network in both cases (the mapping depends only on the weights).

What the rows of notebook 03 (``mapping_accuracy`` in ``figures/results.csv``) measure: run
with the SNN's timing, the trained weights keep their accuracy within a fraction of a point of
the paper's lpRNN on most recipes and seeds, but not always; there the model can be trained or
fine-tuned with ``timing="snn"`` (k times the steps). The SNN-timed ANN's disagreements with
the SNN have no timing cause left, only ΣΔ quantization, which falls with k and grows with the
layers' width and with small margins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from lprnn import stats
from lprnn.ann.model import LpRNNClassifier, with_timing
from lprnn.experiments.common import spike_label
from lprnn.snn import analysis
from lprnn.snn.mapper import map_network
from lprnn.snn.network import LoihiNetwork
from lprnn.snn.simulator import simulate

TIMINGS = {"lpRNN": "ann", "lpRNN, SNN timing": "snn"}


@torch.no_grad()
def ann_logits(model: LpRNNClassifier, x: Tensor, batch_size: int = 128) -> Tensor:
    """The model's averaged logits [B, C] in batches."""
    model.eval()
    return torch.cat([model(x[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)])


def compare(models: dict[str, LpRNNClassifier], network: LoihiNetwork, x: Tensor,
            labels: Tensor, *, with_rate_model: bool = True,
            readout_shift: int | None = None,
            logits: dict[str, Tensor] | None = None) -> dict[str, pd.DataFrame]:
    """Per ANN of ``models`` (label → model), one table with a row per clip: label, the ANN's,
    the rate model's and the SNN's predictions, the ANN's margin, saturation and the cause of
    each disagreement (:func:`lprnn.snn.analysis.disagreement_table`). The SNN and its rate
    model run once.

    The rate model (about 15 SNN runs' worth per clip) runs only on the clips where some ANN
    of ``models`` and the SNN disagree, the only ones a cause is attributed to (each clip is
    simulated on its own, so the subset changes nothing); on the other clips its columns are
    −1 (predictions), 0 (saturated steps) and NaN (time at the ceiling).

    ``with_rate_model=False`` skips the rate model (every unsaturated disagreement then counts
    as "quantization"; for smoke runs). ``readout_shift``: SNN steps by which the readout window
    of the rate model is moved for the "readout" cause (default k // 2: half an ANN step, about
    the lag of a deep layer, see :func:`lag_table`). ``logits``: the ANNs' logits on x
    (:func:`ann_logits`) where already computed, by label.
    """
    snn = simulate(network, x)
    given = logits or {}
    all_logits = {label: given[label] if label in given else ann_logits(model, x)
                  for label, model in models.items()}
    shifted = None
    if with_rate_model:
        disagree = torch.zeros(len(x), dtype=torch.bool)
        for logits in all_logits.values():
            disagree |= logits.argmax(1) != snn.predictions
        clips = torch.nonzero(disagree).flatten()
        shift = network.steps_per_ann_step // 2 if readout_shift is None else readout_shift
        rate = _on_clips(analysis.rate_model(network, x[clips]) if len(clips) else None,
                         clips, len(x))
        shifted = _on_clips(analysis.rate_model(network, x[clips], window_shift=shift)
                            if len(clips) else None, clips, len(x))
    tables = {}
    for label, logits in all_logits.items():
        if not with_rate_model:
            rate = analysis.RateResult(
                logits=logits.double(), predictions=logits.argmax(1), decoded=None, rates=None,
                saturated={"all": torch.zeros(len(x), dtype=torch.int64)},
                at_ceiling={"all": torch.zeros(len(x), dtype=torch.float64)})
        table = analysis.disagreement_table(logits, snn, rate, shifted)
        table.insert(0, "label", labels.numpy())
        tables[label] = table
    return tables


def _on_clips(result: analysis.RateResult | None, clips: Tensor, n: int) -> analysis.RateResult:
    """A rate-model result on the clips ``clips`` of n, spread to all n (elsewhere: prediction
    −1, no saturated step, NaN at the ceiling; no logits or traces)."""
    predictions = torch.full((n,), -1, dtype=torch.int64)
    saturated = torch.zeros(n, dtype=torch.int64)
    at_ceiling = torch.full((n,), float("nan"), dtype=torch.float64)
    if result is not None:
        predictions[clips] = result.predictions
        saturated[clips] = sum(result.saturated.values())
        at_ceiling[clips] = torch.stack(list(result.at_ceiling.values())).max(dim=0).values
    return analysis.RateResult(logits=None, predictions=predictions, decoded=None, rates=None,
                               saturated={"all": saturated}, at_ceiling={"all": at_ceiling})


def _agreement(table: pd.DataFrame, where: str, mask: np.ndarray) -> dict[str, Any]:
    n = int(mask.sum())
    hits = int(table.loc[mask, "agree"].sum())
    low, high = stats.wilson_interval(hits, n) if n else (float("nan"), float("nan"))
    return dict(metric=f"agreement{where}", value=hits / n if n else float("nan"),
                ci_low=low, ci_high=high, n_clips=n)


def summary_rows(table: pd.DataFrame, *, causes: bool = True) -> list[dict[str, Any]]:
    """Result rows (metric, value, ci_low, ci_high, n_clips) of a :func:`compare` table:
    ann_accuracy, snn_accuracy (Wilson intervals), abs_accuracy_gap (points), agreement (all
    clips, below and at/above the median ANN margin), and unless ``causes=False`` (a table
    made without the rate model, whose causes are not attributed) disagreements_<cause>."""
    n = len(table)
    rows = []
    for who in ("ann", "snn"):
        hits = int((table[who] == table["label"]).sum())
        low, high = stats.wilson_interval(hits, n)
        rows.append(dict(metric=f"{who}_accuracy", value=hits / n, ci_low=low, ci_high=high,
                         n_clips=n))
    rows.append(dict(metric="abs_accuracy_gap_points",
                     value=100 * abs(rows[0]["value"] - rows[1]["value"]), n_clips=n))
    median = float(table["margin"].median())
    margins = table["margin"].to_numpy()
    rows.append(_agreement(table, "", np.ones(n, dtype=bool)))
    rows.append(_agreement(table, "_below_median_margin", margins < median))
    rows.append(_agreement(table, "_above_median_margin", margins >= median))
    rows.append(dict(metric="median_margin", value=median, n_clips=n))
    for cause, count in (analysis.cause_counts(table).items() if causes else ()):
        rows.append(dict(metric=f"disagreements_{cause}", value=int(count), n_clips=n))
    return rows


def lag_table(model: LpRNNClassifier, network: LoihiNetwork, x: Tensor) -> pd.DataFrame:
    """Per layer, the lag (SNN and ANN steps) of the SNN's decoded trace behind the ANN's
    (:func:`lprnn.snn.analysis.layer_lags`; an SNN-timed ANN is compared at every SNN step),
    for the spiking network and for its rate model; columns prefixed ``snn_`` and ``rate_``."""
    model.eval()
    with torch.no_grad():
        traces = model.substep_trace(x) if model.config.timing == "snn" else model.trace(x)
    spiking = analysis.decoded_at_snn_steps(network, simulate(network, x, record=True))
    rate = analysis.rate_model(network, x, record=True).decoded
    k = network.steps_per_ann_step
    return pd.concat([analysis.layer_lags(traces, spiking, k).add_prefix("snn_"),
                      analysis.layer_lags(traces, rate, k).add_prefix("rate_")], axis=1)


def run(model: LpRNNClassifier, x: Tensor, labels: Tensor, *, dataset: str,
        steps: Sequence[int] = (5, 10, 20), timings: Sequence[str] = tuple(TIMINGS),
        spike_bits: Sequence[int] = (1,), with_rate_model: bool = True,
        rate_model_steps: Sequence[int] | None = None, **mapping_options: Any) -> pd.DataFrame:
    """``model`` (a trained lpRNN) mapped at every k in ``steps`` and every spike payload of
    ``spike_bits`` (1: binary spikes; b > 1: graded spikes of b bits, see
    :mod:`lprnn.snn.mapper`), and compared on (x, labels) as each ANN of ``timings`` (keys of
    :data:`TIMINGS`). One row per (model, k, spike bits, metric): columns dataset, model, k,
    spike_bits, metric, value, ci_low, ci_high, n_clips; graded mappings are labelled
    (:func:`lprnn.experiments.common.spike_label`).

    The rate model, which attributes every disagreement to a cause, runs at the k of
    ``rate_model_steps`` (None: every k of ``steps``; it costs about 15 times the SNN), and at
    none with ``with_rate_model=False``; at the other k the rows carry no causes."""
    unknown = sorted(set(timings) - set(TIMINGS))
    if unknown:
        raise ValueError(f"timings {unknown}: expected some of {list(TIMINGS)}")
    attributed = set(steps if rate_model_steps is None else rate_model_steps)
    if not attributed <= set(steps):
        raise ValueError(f"rate_model_steps={sorted(attributed)}: expected some of steps="
                         f"{list(steps)}")
    rows = []
    plain = with_timing(model, "ann")
    plain_logits = ann_logits(plain, x)
    for k in steps:
        timed = with_timing(model, "snn", k)
        anns = {label: timed if TIMINGS[label] == "snn" else plain for label in timings}
        # every spike payload of this k is compared with the same ANN outputs
        logits = {label: plain_logits if TIMINGS[label] == "ann" else ann_logits(timed, x)
                  for label in timings}
        causes = with_rate_model and k in attributed
        for bits in spike_bits:
            network = map_network(timed, k, spike_bits=bits, **mapping_options)
            tables = compare(anns, network, x, labels, with_rate_model=causes, logits=logits)
            for label, table in tables.items():
                rows += [dict(dataset=dataset, model=f"{label}, k={k}{spike_label(bits)}", k=k,
                              spike_bits=bits, **row)
                         for row in summary_rows(table, causes=causes)]
    return pd.DataFrame(rows)


def as_result_rows(frame: pd.DataFrame, *, experiment: str, notebook: str,
                   seeds: str | int | None = None, run_size: str | None = None) -> list[dict]:
    """Rows of :func:`run` as dicts for :func:`lprnn.results.record` (blank intervals left out)."""
    records = []
    for row in frame.itertuples(index=False):
        record = dict(experiment=experiment, dataset=row.dataset, model=row.model,
                      metric=row.metric, value=float(row.value), n_clips=int(row.n_clips),
                      notebook=notebook)
        for name in ("ci_low", "ci_high"):
            value = getattr(row, name, float("nan"))
            if value == value:   # not NaN
                record[name] = float(value)
        if seeds is not None:
            record["seeds"] = seeds
        if run_size is not None:
            record["run_size"] = run_size
        records.append(record)
    return records
