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

:func:`validate_network` is the one check of a network against what Loihi can hold: the
simulator, the Lava backend (which adds Lava's own limits) and :meth:`LoihiNetwork.load` call it.
"""

from __future__ import annotations

import json
import math
import zipfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from lprnn import atomic
from lprnn.core import conventions, hardware
from lprnn.core.sigma_delta import SigmaDeltaFixedParams, validate_fixed_params

FORMAT = "lprnn-loihi-network-v1"
# What the readout sums over its window (LoihiReadout.source).
READOUT_SOURCES = ("spike_counts", "decoded")
# Lava's fixed-point Dense holds weights in [−2**8, 2**8 − 1] (8 magnitude bits and a sign);
# a mixed-sign matrix must also be even (lprnn.snn.lava.formats checks that).
DENSE_WEIGHT_MIN = -2 ** hardware.WEIGHT_MANTISSA_BITS
DENSE_WEIGHT_MAX = 2 ** hardware.WEIGHT_MANTISSA_BITS - 1
INT32_MIN, INT32_MAX = -2 ** 31, 2 ** 31 - 1


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
    # m: ANN steps run on the input's last frame held before the readout window ends
    # (lprnn.core.conventions.extend_input); older files load as 0.
    readout_latency: int = 0

    @property
    def n_inputs(self) -> int:
        return self.layers[0].n_inputs

    @property
    def spike_bits(self) -> int:
        """Bits of the neurons' spikes: 1 for binary spikes, b > 1 for graded payloads of up
        to 2^b − 1."""
        return max(layer.neuron.payload_max for layer in self.layers).bit_length()

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
                    readout_latency=self.readout_latency,
                    readout_source=self.readout.source, metadata=self.metadata)
        atomic.write(stem.with_suffix(".npz"), lambda tmp: np.savez_compressed(tmp, **arrays))
        atomic.write_text(stem.with_suffix(".json"),
                          json.dumps(meta, indent=1, default=_json_default))
        return stem

    @classmethod
    def load(cls, path: str | Path) -> "LoihiNetwork":
        """Read a :meth:`save` pair and check it as a whole (:func:`validate_network`): a
        missing, corrupt, foreign or out-of-range field raises ValueError naming the file and
        the field (``layers.0.bias_exp``, the name of the JSON field or the ``.npz`` array)."""
        stem = Path(path).with_suffix("")
        json_path, npz_path = stem.with_suffix(".json"), stem.with_suffix(".npz")
        for p in (json_path, npz_path):
            if not p.is_file():
                raise FileNotFoundError(f"mapped network file {p} not found "
                                        f"(expected {json_path.name} and {npz_path.name})")
        try:
            meta = json.loads(json_path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{json_path}: not valid JSON ({err})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
            raise ValueError(f"{json_path}: format {found!r}, expected {FORMAT!r}")
        layer_meta = _field(meta, "layers", list, json_path)
        try:
            with np.load(npz_path, allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
        except (OSError, EOFError, ValueError, zipfile.BadZipFile) as err:
            raise ValueError(f"{npz_path}: not a readable .npz archive ({err})") from None

        def array(name: str) -> np.ndarray:
            if name not in arrays:
                raise ValueError(f"{npz_path}: array {name!r} missing")
            return arrays[name]

        layers = []
        for i, m in enumerate(layer_meta):
            prefix = f"layers.{i}"
            if not isinstance(m, dict):
                raise ValueError(f"{json_path}: field {prefix!r} is a {type(m).__name__}, "
                                 "expected an object")
            neuron = _field(m, "neuron", dict, json_path, prefix)
            known = {f.name for f in fields(SigmaDeltaFixedParams)}
            if set(neuron) - known:
                raise ValueError(f"{json_path}: field '{prefix}.neuron' has unknown entries "
                                 f"{sorted(set(neuron) - known)}, expected some of {sorted(known)}")
            try:
                params = SigmaDeltaFixedParams(**neuron)
            except TypeError as err:
                raise ValueError(f"{json_path}: field '{prefix}.neuron': {err}") from None
            recurrent = _field(m, "recurrent", bool, json_path, prefix)
            layers.append(LoihiLayer(
                name=_field(m, "name", str, json_path, prefix),
                weights=array(f"{prefix}.weights"),
                weight_exp=_field(m, "weight_exp", object, json_path, prefix),
                bias_mantissa=array(f"{prefix}.bias_mantissa"),
                bias_exp=_field(m, "bias_exp", object, json_path, prefix), neuron=params,
                state_scale=_field(m, "state_scale", object, json_path, prefix),
                recurrent_weights=array(f"{prefix}.recurrent_weights") if recurrent else None,
                recurrent_weight_exp=_field(m, "recurrent_weight_exp", object, json_path, prefix),
                recurrent_delay=m.get("recurrent_delay", 0)))
        readout = LoihiReadout(weights=array("readout.weights"), bias=array("readout.bias"),
                               source=meta.get("readout_source", "spike_counts"))
        network = cls(layers=layers, readout=readout,
                      steps_per_ann_step=_field(meta, "steps_per_ann_step", object, json_path),
                      input_scale=_field(meta, "input_scale", object, json_path),
                      averaging=_field(meta, "averaging", str, json_path),
                      metadata=meta.get("metadata", {}),
                      readout_latency=meta.get("readout_latency", 0))
        return validate_network(network, where=f"mapped network {stem}.{{json,npz}}")


def _field(mapping: dict, name: str, kind: type, path: Path, prefix: str = "") -> Any:
    """``mapping[name]``, refusing a missing field or one that is not a ``kind``."""
    where = f"{prefix}.{name}" if prefix else name
    if name not in mapping:
        raise ValueError(f"{path}: field {where!r} missing")
    value = mapping[name]
    if not isinstance(value, kind):
        raise ValueError(f"{path}: field {where!r} is {value!r}, expected a {kind.__name__}")
    return value


def _is_integer(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_integer(value: Any, name: str, low: int, high: int | None = None) -> None:
    if not _is_integer(value) or value < low or (high is not None and value > high):
        expected = f"[{low}, {high}]" if high is not None else f"≥ {low}"
        raise ValueError(f"{name}={value!r}, expected an integer {expected}")


def _check_integer_array(array: Any, name: str, shape: tuple[int, ...], low: int,
                         high: int) -> None:
    if not isinstance(array, np.ndarray):
        raise ValueError(f"{name} is a {type(array).__name__}, expected an integer numpy array")
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} has dtype {array.dtype}, expected integers (Loihi holds no "
                         "fractions; a float array would be truncated)")
    if array.shape != shape:
        raise ValueError(f"{name} has shape {array.shape}, expected {shape}")
    if array.size and (int(array.min()) < low or int(array.max()) > high):
        index = tuple(int(i) for i in np.argwhere((array < low) | (array > high))[0])
        raise ValueError(f"{name}: value {int(array[index])} at {index} outside [{low}, {high}]")


def _check_positive_number(value: Any, name: str) -> None:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)) \
            or not math.isfinite(float(value)) or value <= 0:
        raise ValueError(f"{name}={value!r}, expected a finite number > 0")


def _validate_layer(layer: LoihiLayer, prefix: str, n_inputs: int) -> int:
    """Check one layer (see :func:`validate_network`); returns its number of neurons."""
    if not isinstance(layer.name, str) or not layer.name:
        raise ValueError(f"{prefix}.name={layer.name!r}, expected a non-empty string")
    weights = layer.weights
    n = int(weights.shape[0]) if isinstance(weights, np.ndarray) and weights.ndim == 2 else 0
    if n < 1:
        raise ValueError(f"{prefix}.weights: expected a 2-D [n_out, {n_inputs}] integer array "
                         "with n_out ≥ 1")
    _check_integer_array(weights, f"{prefix}.weights", (n, n_inputs),
                         DENSE_WEIGHT_MIN, DENSE_WEIGHT_MAX)
    _check_integer(layer.weight_exp, f"{prefix}.weight_exp",
                   hardware.WEIGHT_EXP_MIN, hardware.WEIGHT_EXP_MAX)
    _check_integer_array(layer.bias_mantissa, f"{prefix}.bias_mantissa", (n,),
                         -hardware.BIAS_MANTISSA_MAX, hardware.BIAS_MANTISSA_MAX)
    _check_integer(layer.bias_exp, f"{prefix}.bias_exp",
                   hardware.BIAS_EXP_MIN, hardware.BIAS_EXP_MAX)
    if not isinstance(layer.neuron, SigmaDeltaFixedParams):
        raise ValueError(f"{prefix}.neuron is a {type(layer.neuron).__name__}, expected "
                         "SigmaDeltaFixedParams")
    validate_fixed_params(layer.neuron, where=f"{prefix}.neuron")
    _check_positive_number(layer.state_scale, f"{prefix}.state_scale")
    if layer.recurrent_weights is not None:
        _check_integer_array(layer.recurrent_weights, f"{prefix}.recurrent_weights", (n, n),
                             DENSE_WEIGHT_MIN, DENSE_WEIGHT_MAX)
    _check_integer(layer.recurrent_weight_exp, f"{prefix}.recurrent_weight_exp",
                   hardware.WEIGHT_EXP_MIN, hardware.WEIGHT_EXP_MAX)
    _check_integer(layer.recurrent_delay, f"{prefix}.recurrent_delay", 0,
                   hardware.SYNAPTIC_DELAY_MAX)
    return n


def validate_network(network: LoihiNetwork, where: str = "network") -> LoihiNetwork:
    """Check every field of ``network`` against what Loihi holds; returns it unchanged.

    Raises ValueError ``"<where>: <field>=<value>, expected <range>"`` (fields named as in the
    saved files, e.g. ``layers.0.bias_exp``) unless: there is at least one layer and the shapes
    chain (input → layers → readout); weights are integer arrays in Loihi's Dense range
    [``DENSE_WEIGHT_MIN``, ``DENSE_WEIGHT_MAX``] with ``weight_exp`` in
    [``WEIGHT_EXP_MIN``, ``WEIGHT_EXP_MAX``]; bias mantissas are integers in
    ±``BIAS_MANTISSA_MAX`` with ``bias_exp`` in [``BIAS_EXP_MIN``, ``BIAS_EXP_MAX``]; the
    neuron's decays, feedback weight, threshold and drive limit pass
    :func:`lprnn.core.sigma_delta.validate_fixed_params`; ``recurrent_delay`` is in
    [0, ``SYNAPTIC_DELAY_MAX``]; ``state_scale`` and ``input_scale`` are finite and > 0;
    ``steps_per_ann_step`` is an integer ≥ 1 (10.7 is refused, not read as 10); the readout
    holds int32 weights and integer biases with a known source; ``averaging`` is known;
    ``readout_latency`` is an integer ≥ 0.
    (The bounds are those of :mod:`lprnn.core.hardware`.)
    """
    try:
        if not isinstance(network.layers, list) or not network.layers:
            raise ValueError("layers: none, expected at least one layer")
        _check_integer(network.steps_per_ann_step, "steps_per_ann_step", 1)
        _check_positive_number(network.input_scale, "input_scale")
        network.window_start(1)   # refuses an unknown averaging
        _check_integer(network.readout_latency, "readout_latency", 0)
        if not isinstance(network.metadata, dict):
            raise ValueError(f"metadata is a {type(network.metadata).__name__}, expected a dict")
        if not isinstance(network.layers[0].weights, np.ndarray) \
                or network.layers[0].weights.ndim != 2:
            raise ValueError("layers.0.weights: expected a 2-D [n_out, n_in] integer array")
        n_previous = network.n_inputs
        for i, layer in enumerate(network.layers):
            try:
                n_previous = _validate_layer(layer, f"layers.{i}", n_previous)
            except ValueError as err:
                raise ValueError(f"{err} (layer {layer.name!r})") from None
        readout = network.readout
        n_classes = int(readout.weights.shape[0]) \
            if isinstance(readout.weights, np.ndarray) and readout.weights.ndim == 2 else 0
        if n_classes < 1:
            raise ValueError(f"readout.weights: expected a 2-D [n_classes, {n_previous}] "
                             "integer array with n_classes ≥ 1")
        _check_integer_array(readout.weights, "readout.weights", (n_classes, n_previous),
                             INT32_MIN, INT32_MAX)
        _check_integer_array(readout.bias, "readout.bias", (n_classes,),
                             np.iinfo(np.int64).min, np.iinfo(np.int64).max)
        if readout.source not in READOUT_SOURCES:
            raise ValueError(f"readout.source={readout.source!r}, expected one of "
                             f"{list(READOUT_SOURCES)}")
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None
    return network


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot serialize {type(value).__name__} in network metadata")
