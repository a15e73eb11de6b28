"""The mapped spiking network: a plain, serializable description of integers and metadata.

:func:`lprnn.snn.map_network` produces a :class:`LoihiNetwork`; the fast simulator
(:mod:`lprnn.snn`) and the Lava backend (:mod:`lprnn.snn.lava`) consume it, and
must compute exactly the same thing from it. It saves to ``<name>.npz`` (arrays) plus
``<name>.json`` (everything else); nothing is pickled.

Per layer, with integer states saturating at ±``hardware.STATE_MAX`` and the timing
convention of ``docs/METHOD.md``, the synaptic input at SNN step n is

    a(n) = (W · s_prev(n−1)) << weight_exp + (U · s_self(n−1−D)) << recurrent_weight_exp

(``>>`` for a negative exponent; D = ``recurrent_delay``, 0 unless set) and the neuron is the fixed-point ΣΔ step of
:func:`lprnn.core.sigma_delta.sigma_delta_step_fixed` with the layer's
:class:`SigmaDeltaFixedParams` and bias ``bias_mantissa << bias_exp``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lprnn.core import conventions
from lprnn.core.sigma_delta import SigmaDeltaFixedParams

FORMAT = "lprnn-loihi-network-v1"
# What the readout sums over its window (LoihiReadout.source).
READOUT_SOURCES = ("spike_counts", "decoded")


@dataclass
class LoihiLayer:
    """One layer of ΣΔ neurons with its incoming (and optional recurrent) synapses."""

    name: str
    weights: np.ndarray                   # int32 [n_out, n_in], Lava Dense integers
    weight_exp: int
    bias_mantissa: np.ndarray             # int32 [n_out]
    bias_exp: int
    neuron: SigmaDeltaFixedParams
    state_scale: float                    # i_ip units per ANN activation unit
    recurrent_weights: np.ndarray | None = None   # int32 [n_out, n_out]
    recurrent_weight_exp: int = 0
    # Extra SNN steps of delay on the recurrent synapses: the recurrent input at step n is
    # (U · s_self(n − 1 − recurrent_delay)) << recurrent_weight_exp (a Lava DelayDense).
    recurrent_delay: int = 0

    @property
    def n_neurons(self) -> int:
        return int(self.weights.shape[0])

    @property
    def n_inputs(self) -> int:
        return int(self.weights.shape[1])

    @property
    def bias(self) -> np.ndarray:
        """Effective integer bias added to i_ip every step: bias_mantissa · 2**bias_exp."""
        return self.bias_mantissa.astype(np.int64) << self.bias_exp


@dataclass
class LoihiReadout:
    """Integer readout: logits = weights · c + bias · steps, with c per last-layer neuron over the
    readout window: its spike count (``source="spike_counts"``) or the sum of its
    reconstruction −i_fb over the window's SNN steps (``source="decoded"``; a readout neuron
    whose synapse low-passes the spikes with the layer's d_fb and whose membrane integrates).
    """

    weights: np.ndarray   # int32 [n_classes, n_last]
    bias: np.ndarray      # int64 [n_classes], added once per SNN step of the window
    source: str = "spike_counts"   # "spike_counts" or "decoded"; older files load as counts

    @property
    def n_classes(self) -> int:
        return int(self.weights.shape[0])


@dataclass
class LoihiNetwork:
    """A mapped lpRNN: ΣΔ layers, an integer readout, and how inputs enter it."""

    layers: list[LoihiLayer]
    readout: LoihiReadout
    steps_per_ann_step: int               # k: SNN steps per ANN step
    input_scale: float                    # x_int = round(x · input_scale), graded spikes
    averaging: str = "second_half"        # "second_half" or "all" (ANN steps averaged)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def n_inputs(self) -> int:
        return self.layers[0].n_inputs

    def window_start(self, n_ann_steps: int) -> int:
        """First SNN step of the readout window for an input of n_ann_steps ANN steps."""
        return conventions.window_start(n_ann_steps, self.averaging, self.steps_per_ann_step)

    # -- persistence: .npz for arrays, .json for the rest; no pickle -------------------------
    def save(self, path: str | Path) -> Path:
        """Write ``path.npz`` and ``path.json`` (suffix of ``path`` is ignored); returns the stem."""
        stem = Path(path).with_suffix("")
        stem.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {
            "readout.weights": self.readout.weights, "readout.bias": self.readout.bias}
        layers = []
        for i, layer in enumerate(self.layers):
            arrays[f"layers.{i}.weights"] = layer.weights
            arrays[f"layers.{i}.bias_mantissa"] = layer.bias_mantissa
            if layer.recurrent_weights is not None:
                arrays[f"layers.{i}.recurrent_weights"] = layer.recurrent_weights
            layers.append(dict(name=layer.name, weight_exp=layer.weight_exp,
                               bias_exp=layer.bias_exp, neuron=asdict(layer.neuron),
                               state_scale=layer.state_scale,
                               recurrent=layer.recurrent_weights is not None,
                               recurrent_weight_exp=layer.recurrent_weight_exp,
                               recurrent_delay=layer.recurrent_delay))
        meta = dict(format=FORMAT, layers=layers, steps_per_ann_step=self.steps_per_ann_step,
                    input_scale=self.input_scale, averaging=self.averaging,
                    readout_source=self.readout.source, metadata=self.metadata)
        np.savez_compressed(stem.with_suffix(".npz"), **arrays)
        stem.with_suffix(".json").write_text(json.dumps(meta, indent=1, default=_json_default))
        return stem

    @classmethod
    def load(cls, path: str | Path) -> "LoihiNetwork":
        stem = Path(path).with_suffix("")
        json_path, npz_path = stem.with_suffix(".json"), stem.with_suffix(".npz")
        for p in (json_path, npz_path):
            if not p.is_file():
                raise FileNotFoundError(f"mapped network file {p} not found "
                                        f"(expected {json_path.name} and {npz_path.name})")
        try:
            meta = json.loads(json_path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{json_path}: not valid JSON ({err})") from None
        if meta.get("format") != FORMAT:
            raise ValueError(f"{json_path}: format {meta.get('format')!r}, expected {FORMAT!r}")
        with np.load(npz_path, allow_pickle=False) as arrays:
            layers = [LoihiLayer(
                name=m["name"], weights=arrays[f"layers.{i}.weights"],
                weight_exp=int(m["weight_exp"]),
                bias_mantissa=arrays[f"layers.{i}.bias_mantissa"], bias_exp=int(m["bias_exp"]),
                neuron=SigmaDeltaFixedParams(**m["neuron"]), state_scale=float(m["state_scale"]),
                recurrent_weights=arrays[f"layers.{i}.recurrent_weights"] if m["recurrent"] else None,
                recurrent_weight_exp=int(m["recurrent_weight_exp"]),
                recurrent_delay=int(m.get("recurrent_delay", 0)))
                for i, m in enumerate(meta["layers"])]
            readout = LoihiReadout(weights=arrays["readout.weights"], bias=arrays["readout.bias"],
                                   source=meta.get("readout_source", "spike_counts"))
        return cls(layers=layers, readout=readout,
                   steps_per_ann_step=int(meta["steps_per_ann_step"]),
                   input_scale=float(meta["input_scale"]), averaging=meta["averaging"],
                   metadata=meta.get("metadata", {}))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot serialize {type(value).__name__} in network metadata")
