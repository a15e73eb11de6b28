"""LoihiNetwork → a Lava process graph (nothing runs here; see :mod:`lprnn.snn.lava.runner`).

    GradedInput ─Dense(W_1, graded)─▶ SigmaDeltaLowPass 1 ─Dense(W_2)─▶ … ─▶ layer L ─▶ WindowReadout
                                       ▲                │
                                       └─DelayDense(U_l)┘   (recurrent layers, D_l extra steps)

Every arrow through a ``Dense`` carries one step of delay, exactly the timing of
``docs/METHOD.md`` (Timing) and the simulator: the synaptic input of layer l at SNN step n is
``(W_l · s_{l−1}(n−1)) << e_W + (U_l · s_l(n−1−D_l)) << e_U``, with ``D_l`` the layer's
``recurrent_delay`` (a ``DelayDense``; a plain ``Dense`` when D_l = 0). The input→layer-1 Dense takes graded
spikes (``num_message_bits`` = 24); the Dense processes fed by a layer with graded spikes
(``payload_max`` > 1) take its payload's bits, the others binary spikes. In ``fixed_pt`` each Dense gets the integer matrix,
``weight_exp``, ``num_weight_bits`` = 8 and an explicit ``sign_mode`` chosen by
:func:`lprnn.snn.lava.formats.dense_encoding` so that Lava keeps every weight exactly;
in ``floating_pt`` it gets the float matrix ``W · 2**weight_exp`` (Lava's float Dense has no
exponent). The readout is accumulated host-side, inside :class:`WindowReadout`, from the last
layer's spikes (the chip would only report each neuron's spike count over the window) or, for
a ``"decoded"`` readout, from its −i_fb, a 24-bit graded message every step that a chip would
not send; neither is costed by the energy model. Spikes, when recorded, are written to files by
the neuron models themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# imports Lava with the fork start method forced (see lprnn.snn.lava.procs)
import lprnn.snn.lava.procs  # noqa: F401, I001
import numpy as np
from lava.proc.dense.process import Dense, DelayDense
from lava.utils.weightutils import SignMode

from lprnn.core import hardware
from lprnn.snn.lava.formats import DenseEncoding, check_network
from lprnn.snn.lava.procs.process import GradedInput, SigmaDeltaLowPass, WindowReadout
from lprnn.snn.network import LoihiNetwork

NUMERICS = ("fixed_pt", "floating_pt")


@dataclass
class LavaGraph:
    """The processes of one built network, and where the recorded spikes will be."""

    source: GradedInput
    neurons: list[SigmaDeltaLowPass]
    forward: list[Dense]
    recurrent: list[Dense | None]
    readout: WindowReadout
    spike_files: list[Path]
    n_samples: int
    sample_steps: int
    gap_steps: int
    numeric: str

    @property
    def n_steps(self) -> int:
        """Lava steps for all samples: S per sample plus the gap steps after each."""
        return self.n_samples * (self.sample_steps + self.gap_steps)

    @property
    def processes(self) -> list:
        return ([self.source, *self.neurons, *self.forward,
                 *(d for d in self.recurrent if d is not None), self.readout])


def _dense(encoding: DenseEncoding, numeric: str, name: str, message_bits: int,
           delay: int = 0) -> Dense:
    """A Dense (one step of delay), or a DelayDense when ``delay`` > 0 extra steps; it takes
    graded messages of ``message_bits`` bits (0: binary spikes)."""
    process, extra = (DelayDense, dict(delays=delay)) if delay > 0 else (Dense, {})
    if numeric == "floating_pt":
        return process(weights=encoding.weights.astype(np.float64) * 2.0 ** encoding.weight_exp,
                       num_message_bits=message_bits, name=name, **extra)
    return process(weights=encoding.weights, weight_exp=encoding.weight_exp,
                   num_weight_bits=encoding.num_weight_bits,
                   sign_mode=SignMode[encoding.sign_mode.upper()],
                   num_message_bits=message_bits, name=name, **extra)


def build_graph(network: LoihiNetwork, data: np.ndarray, *, numeric: str = "fixed_pt",
                spike_dir: str | Path | None = None) -> LavaGraph:
    """Build (not run) the Lava graph of ``network`` fed with ``data`` [N, T, F].

    ``data`` holds the input payloads: int32 x_int for ``fixed_pt`` (see
    :func:`lprnn.snn.lava.formats.encode_inputs`), float ``x · input_scale`` for
    ``floating_pt``. With ``spike_dir``, every layer's spikes are written to
    ``spike_dir/<i>_<name>.npy`` as bool [N, T·k, n] (uint8 payloads for graded spikes). The network is checked first
    (:func:`lprnn.snn.lava.formats.check_network`): nothing is built if Lava cannot hold it.
    """
    if numeric not in NUMERICS:
        raise ValueError(f"numeric={numeric!r}: expected one of {list(NUMERICS)}")
    encodings = check_network(network)
    data = np.asarray(data)
    if data.ndim != 3 or data.shape[2] != network.n_inputs:
        raise ValueError(f"data of shape {data.shape}, expected [N, T, {network.n_inputs}]")
    n_samples, n_ann_steps, _ = data.shape
    k = network.steps_per_ann_step
    sample_steps = n_ann_steps * k
    gap_steps = 1 + max(layer.recurrent_delay for layer in network.layers)
    source = GradedInput(data=data, steps_per_ann_step=k, gap_steps=gap_steps, name="input")
    neurons, forward, recurrent, files = [], [], [], []
    previous, message_bits = source.s_out, hardware.GRADED_SPIKE_BITS
    for i, (layer, (ff, rec)) in enumerate(zip(network.layers, encodings)):
        # What this layer sends: binary spikes (no message bits) or graded payloads.
        payload_max = layer.neuron.payload_max
        own_bits = 0 if payload_max == 1 else payload_max.bit_length()
        record_to = None
        if spike_dir is not None:
            record_to = Path(spike_dir) / f"{i}_{layer.name}.npy"
            files.append(record_to)
        neuron = SigmaDeltaLowPass(
            shape=(layer.n_neurons,), neuron=layer.neuron, bias_mant=layer.bias_mantissa,
            bias_exp=layer.bias_exp, sample_steps=sample_steps,
            record_to=record_to, n_samples=n_samples, gap_steps=gap_steps, name=layer.name)
        dense = _dense(ff, numeric, f"{layer.name}.forward", message_bits)
        previous.connect(dense.s_in)
        dense.a_out.connect(neuron.a_in)
        recurrent_dense = None
        if rec is not None:
            recurrent_dense = _dense(rec, numeric, f"{layer.name}.recurrent", own_bits,
                                     delay=layer.recurrent_delay)
            neuron.s_out.connect(recurrent_dense.s_in)
            recurrent_dense.a_out.connect(neuron.a_in)
        neurons.append(neuron)
        forward.append(dense)
        recurrent.append(recurrent_dense)
        previous = neuron.s_out
        message_bits = own_bits
    readout = WindowReadout(
        weights=network.readout.weights, bias=network.readout.bias, n_samples=n_samples,
        sample_steps=sample_steps, window_start=network.window_start(n_ann_steps),
        gap_steps=gap_steps, name="readout")
    if network.readout.source == "decoded":
        neurons[-1].decoded_out.connect(readout.s_in)
    else:
        previous.connect(readout.s_in)
    return LavaGraph(source=source, neurons=neurons, forward=forward, recurrent=recurrent,
                     readout=readout, spike_files=files, n_samples=n_samples,
                     sample_steps=sample_steps, gap_steps=gap_steps, numeric=numeric)
