"""Notebook 04 and ``benchmarks/lava_equivalence.py``: Lava's ``fixed_pt`` run of a mapped
network against the simulator, spike for spike (the Lava rows)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from torch import Tensor

from lprnn import config, snn
from lprnn.experiments.ann_to_snn import trained_and_mapped
from lprnn.experiments.common import (ExperimentResult, check_seeds, resolve, rows_from_table,
                                      spike_label)
from lprnn.snn.network import LoihiNetwork


@dataclass
class LavaCheck:
    """The simulator's and Lava's runs of one network on the same clips, compared."""

    reference: snn.SimulationResult
    lava: object                     # lprnn.snn.lava.LavaResult
    mismatches: dict[str, int]       # per layer, spikes that differ
    logits_equal: bool
    simulator_steps_per_second: float

    @property
    def equivalent(self) -> bool:
        return self.logits_equal and not any(self.mismatches.values())


def lava_check(network: LoihiNetwork, x: Tensor, *, progress: bool = True) -> LavaCheck:
    """Run ``x`` through the simulator (recording spikes) and through Lava ``fixed_pt``, and
    compare every spike of every layer and the integer logits."""
    from lprnn.snn import lava

    start = time.perf_counter()
    reference = snn.simulate(network, x, record=True)
    seconds = time.perf_counter() - start
    run = lava.run_on_lava(network, x, numeric="fixed_pt", progress=progress)
    mismatches = {name: int((reference.spikes[name].numpy() != spikes).sum())
                  for name, spikes in run.spikes.items()}
    return LavaCheck(reference, run, mismatches,
                     bool(np.array_equal(run.logits, reference.logits.numpy())),
                     reference.n_snn_steps * len(x) / seconds)


def lava_equivalence(recipe_name: str = "digits", size: str = "default", seeds: Sequence[int] = (0,),
                     steps_per_ann_step: int | None = None, lava_samples: int | None = None,
                     export_dir: str | None = None) -> ExperimentResult:
    """Lava's ``fixed_pt`` run of the mapped 3-bit lpRNN against the simulator, spike for spike,
    on the first ``lava_samples`` test clips; resources, activity and the export round trip.

    Tables: ``check`` (per seed: mismatching spikes per layer, logits equal, accuracies,
    speeds), ``resources``, ``activity`` and ``raster`` (first clip of the first seed: layer,
    step, neuron of every Lava spike).
    """
    from lprnn.snn import export, resources

    seeds = check_seeds(seeds)
    b = resolve(size, steps_per_ann_step=steps_per_ann_step, lava_samples=lava_samples)
    k, checks, tables = b.steps_per_ann_step, [], {}
    for seed in seeds:
        recipe, _, network, test = trained_and_mapped(recipe_name, size, seed, k)
        x, labels = test.features[:b.lava_samples], test.labels[:b.lava_samples]
        check = lava_check(network, x)
        reference, run = check.reference, check.lava
        folder = config.data_dir() / "lava" if export_dir is None else Path(export_dir)
        paths = export.export_network(network, folder / f"{recipe.name}_{size}_seed{seed}")
        round_trip = bool(np.array_equal(
            snn.simulate(export.load_network(paths["h5"]), x).logits.numpy(), run.logits))
        lava_correct = int((run.predictions == labels.numpy()).sum())
        checks.append(dict(
            model=f"lpRNN 3-bit ({size}) k={k}{spike_label(network.spike_bits)}", seed=seed,
            **{f"mismatches {n}": m for n, m in check.mismatches.items()},
            lava_equals_simulator=int(check.equivalent),
            lava_accuracy_checked_clips=lava_correct / len(x), lava_checked_clips=len(x),
            simulator_accuracy=float((reference.predictions == labels).float().mean()),
            lava_steps_per_second=run.steps_per_second,
            simulator_steps_per_second=check.simulator_steps_per_second,
            loihi2_cores_estimated=resources.cores_needed(network),
            export_round_trip_exact=int(round_trip)))
        if "resources" not in tables:
            activity = resources.activity_report(network, reference.spike_counts, x)
            raster = [dict(layer=layer.name, step=int(s), neuron=int(n))
                      for layer in network.layers
                      for s, n in zip(*np.nonzero(run.spikes[layer.name][0]))]
            tables.update(resources=resources.resource_report(network), activity=activity,
                          raster=pd.DataFrame(raster),
                          window=pd.DataFrame([dict(window_start=network.window_start(test.n_steps),
                                                    n_snn_steps=reference.n_snn_steps)]))
    tables["check"] = pd.DataFrame(checks)
    metrics = {"lava_accuracy_checked_clips": True, "lava_equals_simulator": False,
               "lava_checked_clips": False, "lava_steps_per_second": False,
               "simulator_steps_per_second": False, "loihi2_cores_estimated": False,
               "export_round_trip_exact": False}
    rows = rows_from_table("lava_fixed_pt", recipe.name, tables["check"], "model", metrics,
                           seeds=seeds, size=size,
                           n_clips={m: b.lava_samples for m in metrics})
    return ExperimentResult(tables, rows)


