"""Export the Lava-ready network to files a Loihi user can load without our training code.

:func:`export_network` writes, next to each other:

- ``<stem>.npz`` + ``<stem>.json``: the complete :class:`~lprnn.snn.network.LoihiNetwork`
  (:meth:`LoihiNetwork.save`; plain NumPy arrays and JSON, no pickle). Per layer ``i`` the
  arrays ``layers.i.weights`` [n, n_in] and ``layers.i.recurrent_weights`` [n, n] (int32 Lava
  ``Dense`` weights), ``layers.i.bias_mantissa`` [n]; ``readout.weights`` [C, n_last] and
  ``readout.bias`` [C]. The JSON holds per layer ``weight_exp``, ``recurrent_weight_exp``,
  ``bias_exp`` and the neuron's integer parameters, plus ``steps_per_ann_step``,
  ``input_scale`` and ``averaging``. With ``numpy`` and ``json`` alone this is everything
  needed to rebuild the network (``docs/METHOD.md`` and :mod:`lprnn.snn.network` give the
  arithmetic); :mod:`lprnn.snn.lava` builds and runs it in Lava.
- ``<stem>.h5``: the same network in the HDF5 layout of lava-dl ``netx``
  (``layer/0`` input, ``layer/i`` of type ``dense`` or ``dense_rec`` with ``weight``,
  ``weight_rec``, ``bias``, ``shape`` and a ``neuron`` group), readable with
  ``lava.lib.dl.netx.utils.NetDict`` or plain ``h5py``. netx can express the synapses (the
  layer chain, dense feed-forward and recurrent weight matrices, biases) but not the rest;
  :data:`NETX_LIMITATIONS` (also stored in the file) says what, and :func:`load_netx` reads
  the extra fields back into an identical LoihiNetwork, checked as a whole
  (:func:`lprnn.snn.network.validate_network`; a missing or bad field names the file and the
  HDF5 path, e.g. ``layer/1/wgtExp``).

Both writers are atomic (:mod:`lprnn.atomic`): an interrupted export keeps the old files.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, fields
from pathlib import Path

import numpy as np

from lprnn import atomic
from lprnn.snn.network import (LoihiLayer, LoihiNetwork, LoihiReadout, SigmaDeltaFixedParams,
                               validate_network)

NETX_FORMAT = "lprnn-netx-v1"
NEURON_TYPE = "LPRNN_SIGMA_DELTA_LOWPASS"
READOUT_TYPE = "LPRNN_WINDOW_READOUT"
NETX_LIMITATIONS = (
    f"neuron: the adaptive sigma-delta low-pass neuron (type {NEURON_TYPE}: four states i_in, "
    "i_ip, v, i_fb with self-feedback) is none of netx's neuron types (CUBA/LOIHI, SDNN, RF); "
    "netx.hdf5.Network cannot instantiate it. Its integer parameters are in each layer's "
    "'neuron' group; lprnn.snn.lava runs it.",
    "weight exponent: netx re-derives weight_exp and num_weight_bits from the stored weights "
    "(optimize_weight_bits) and ignores a stored exponent; our exact per-layer exponents are "
    "in 'wgtExp' and 'wgtExpRec', the extra recurrent synaptic delay in 'delayRec'.",
    "bias: netx reads 'bias' as a mantissa with a fixed bias_exp of 6; ours is the effective "
    "integer bias (mantissa 'biasMant' times 2**'biasExp').",
    "input: graded input x_int = round(x * input_scale) held for steps_per_ann_step steps "
    "(attributes of the root group); netx has no zero-order hold.",
    f"readout: the integer readout summed over the averaging window (type {READOUT_TYPE}; its "
    "'source' is the last layer's spike counts or its decoded value -i_fb) has no netx "
    "equivalent.",
)


def export_network(network: LoihiNetwork, path: str | Path) -> dict[str, Path]:
    """Write ``<stem>.npz``, ``<stem>.json`` and ``<stem>.h5``; returns their paths by suffix."""
    stem = network.save(path)
    h5 = save_netx(network, stem.with_suffix(".h5"))
    return {"npz": stem.with_suffix(".npz"), "json": stem.with_suffix(".json"), "h5": h5}


def _json_value(value):
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in network metadata")


def _string(group, name: str, value: str) -> None:
    """A string dataset the way lava-dl writes them (netx's NetDict decodes it as ASCII)."""
    group.create_dataset(name, (1,), f"S{max(len(value), 1)}", [value.encode("ascii")])


def _read_string(dataset) -> str:
    value = dataset[()]
    return (value[0] if np.ndim(value) else value).decode("ascii")


def save_netx(network: LoihiNetwork, path: str | Path) -> Path:
    """Write the network in lava-dl netx's HDF5 layout (see the module docstring)."""
    path = Path(path).with_suffix(".h5")
    return atomic.write(path, lambda tmp: _write_netx(network, tmp))


def _write_netx(network: LoihiNetwork, path: Path) -> None:
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["format"] = NETX_FORMAT
        f.attrs["steps_per_ann_step"] = network.steps_per_ann_step
        f.attrs["input_scale"] = network.input_scale
        f.attrs["averaging"] = network.averaging
        f.attrs["readout_latency"] = network.readout_latency
        f.attrs["netx_limitations"] = "\n".join(NETX_LIMITATIONS)
        f.attrs["metadata"] = json.dumps(network.metadata, default=_json_value)
        layers = f.create_group("layer")
        first = layers.create_group("0")
        _string(first, "type", "input")
        first.create_dataset("shape", data=np.array([network.n_inputs]))
        for i, layer in enumerate(network.layers, start=1):
            group = layers.create_group(str(i))
            recurrent = layer.recurrent_weights is not None
            _string(group, "type", "dense_rec" if recurrent else "dense")
            _string(group, "name", layer.name)
            group.create_dataset("shape", data=np.array([layer.n_neurons]))
            group.create_dataset("weight", data=layer.weights)
            group.create_dataset("wgtExp", data=layer.weight_exp)
            if recurrent:
                group.create_dataset("weight_rec", data=layer.recurrent_weights)
                group.create_dataset("wgtExpRec", data=layer.recurrent_weight_exp)
                group.create_dataset("delayRec", data=layer.recurrent_delay)
            group.create_dataset("bias", data=layer.bias)
            group.create_dataset("biasMant", data=layer.bias_mantissa)
            group.create_dataset("biasExp", data=layer.bias_exp)
            group.create_dataset("stateScale", data=layer.state_scale)
            neuron = group.create_group("neuron")
            _string(neuron, "type", NEURON_TYPE)
            for name, value in asdict(layer.neuron).items():
                if isinstance(value, str):      # decay_rounding
                    _string(neuron, name, value)
                elif value is not None:
                    neuron.create_dataset(name, data=value)
        readout = layers.create_group(str(len(network.layers) + 1))
        _string(readout, "type", "dense")
        readout.create_dataset("shape", data=np.array([network.readout.n_classes]))
        readout.create_dataset("weight", data=network.readout.weights)
        readout.create_dataset("bias", data=network.readout.bias)
        readout_neuron = readout.create_group("neuron")
        _string(readout_neuron, "type", READOUT_TYPE)
        _string(readout_neuron, "source", network.readout.source)


def load_netx(path: str | Path) -> LoihiNetwork:
    """Read a file written by :func:`save_netx` back into an identical LoihiNetwork.

    Raises ValueError naming the file and the HDF5 path of the first missing, foreign or
    out-of-range field (values keep their stored type: a float exponent is refused, not
    truncated).
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"netx file {path} not found")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"{path}: not a readable HDF5 file ({err})") from None

    def item(group, name: str):
        if name not in group:
            raise ValueError(f"{path}: {group.name}/{name} missing")
        try:
            value = group[name][()]
        except (OSError, KeyError, TypeError) as err:
            raise ValueError(f"{path}: {group.name}/{name} unreadable ({err})") from None
        return value.item() if isinstance(value, np.generic) else value

    def text(group, name: str) -> str:
        if name not in group:
            raise ValueError(f"{path}: {group.name}/{name} missing")
        try:
            return _read_string(group[name])
        except (AttributeError, IndexError, UnicodeDecodeError, OSError) as err:
            raise ValueError(f"{path}: {group.name}/{name} is not a string ({err})") from None

    def attribute(name: str):
        if name not in f.attrs:
            raise ValueError(f"{path}: root attribute {name!r} missing")
        value = f.attrs[name]
        return value.item() if isinstance(value, np.generic) else value

    with f:
        if f.attrs.get("format") != NETX_FORMAT:
            raise ValueError(f"{path}: format {f.attrs.get('format')!r}, expected "
                             f"{NETX_FORMAT!r} (written by lprnn.snn.export.save_netx)")
        if "layer" not in f or len(f["layer"]) < 3:
            raise ValueError(f"{path}: /layer must hold the input, at least one layer and the "
                             "readout")
        for i in range(len(f["layer"])):
            if str(i) not in f["layer"]:
                raise ValueError(f"{path}: /layer/{i} missing")
        groups = [f["layer"][str(i)] for i in range(len(f["layer"]))]
        layers, stored_biases = [], []
        for group in groups[1:-1]:
            if "neuron" not in group:
                raise ValueError(f"{path}: {group.name}/neuron missing")
            neuron_group = group["neuron"]
            # A file without payload_max (binary spikes), drive_max or decay_rounding
            # (truncation) takes their defaults.
            neuron = SigmaDeltaFixedParams(**{
                field.name: ((text if isinstance(field.default, str) else item)(
                    neuron_group, field.name) if field.name in neuron_group
                    else (None if field.default is MISSING else field.default))
                for field in fields(SigmaDeltaFixedParams)})
            recurrent = text(group, "type") == "dense_rec"
            layers.append(LoihiLayer(
                name=text(group, "name"), weights=item(group, "weight"),
                weight_exp=item(group, "wgtExp"), bias_mantissa=item(group, "biasMant"),
                bias_exp=item(group, "biasExp"), neuron=neuron,
                state_scale=item(group, "stateScale"),
                recurrent_weights=item(group, "weight_rec") if recurrent else None,
                recurrent_weight_exp=item(group, "wgtExpRec") if recurrent else 0,
                recurrent_delay=item(group, "delayRec") if "delayRec" in group else 0))
            stored_biases.append((group.name, item(group, "bias")))
        last = groups[-1]
        if "neuron" not in last:
            raise ValueError(f"{path}: {last.name}/neuron missing")
        readout = LoihiReadout(weights=item(last, "weight"), bias=item(last, "bias"),
                               source=text(last["neuron"], "source"))
        try:
            metadata = json.loads(attribute("metadata"))
        except (TypeError, json.JSONDecodeError) as err:
            raise ValueError(f"{path}: root attribute 'metadata' is not JSON ({err})") from None
        network = LoihiNetwork(layers=layers, readout=readout,
                               steps_per_ann_step=attribute("steps_per_ann_step"),
                               input_scale=attribute("input_scale"),
                               averaging=str(attribute("averaging")), metadata=metadata,
                               readout_latency=(attribute("readout_latency")
                                                if "readout_latency" in f.attrs else 0))
    validate_network(network, where=f"netx file {path}")
    for layer, (name, bias) in zip(network.layers, stored_biases):
        if not np.array_equal(np.asarray(bias), layer.bias):
            raise ValueError(f"{path}: {name}/bias differs from biasMant · 2**biasExp")
    return network


def load_network(path: str | Path) -> LoihiNetwork:
    """Load an exported network: ``.h5`` with :func:`load_netx`, else the ``.npz`` + ``.json`` pair."""
    path = Path(path)
    if path.suffix == ".h5":
        return load_netx(path)
    return LoihiNetwork.load(path)
