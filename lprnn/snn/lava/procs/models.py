"""ProcessModels of the Lava processes in :mod:`lprnn.snn.lava.procs.process`.

One model per numeric path, written in NumPy the way Lava's own neuron models are
(``lava/proc/lif/models.py``): the parameters are Vars, the bit widths and shifts are named
constants, the update is spelled out in the docstring. The ``fixed_pt`` neuron model is an
implementation of its own, independent of the simulator's torch step
(:func:`lprnn.core.sigma_delta.sigma_delta_step_fixed`): the tests compare the two spike for
spike, and pin the arithmetic they share (12-bit decay, 24-bit saturation, bias shift) to
Lava's bit-accurate LIF (``PyLifModelBitAcc``) on the same integers. Timing (sample, gap
step) is explained in :mod:`lprnn.snn.lava.procs.process`.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lprnn.core.hardware import (BIAS_MANTISSA_BITS, DECAY_SHIFT, DECAY_UNITY,
                                 GRADED_SPIKE_BITS, NEURON_SPIKE_BITS_MAX, STATE_BITS,
                                 STATE_MAX, STATE_MIN)
from lprnn.snn.lava.procs.process import (NO_DRIVE_CLAMP, GradedInput, SigmaDeltaLowPass,
                                          WindowReadout)

STATES = ("i_in", "i_ip", "v", "i_fb")
# Decays range over [0, DECAY_UNITY] = [0, 4096]: 13 unsigned bits (Lava's LIF: 12 bits and a
# 1-bit offset register for the same range).
DECAY_BITS = DECAY_SHIFT + 1
# Bias exponent of a layer: 3 unsigned bits (0..7), as Lava's LIF bias_exp.
BIAS_EXP_BITS = 3


def decay_fixed(state: np.ndarray, decay: int, offset: int = 0) -> np.ndarray:
    """12-bit decay: sign(x) · ((|x| · (4096 − d) + offset) >> 12); offset 0 truncates toward
    zero, exactly as Lava's ``AbstractPyLifModelFixed.subthr_dynamics`` decays ``u`` and ``v``,
    and ``DECAY_UNITY // 2`` rounds to nearest.

    The product is formed in int64 (a 24-bit state times a 13-bit factor overflows int32).
    """
    decayed = state.astype(np.int64) * (DECAY_UNITY - np.int64(decay))
    return np.sign(decayed) * np.right_shift(np.abs(decayed) + np.int64(offset), DECAY_SHIFT)


def saturate(value: np.ndarray) -> np.ndarray:
    """Clip to the signed 24-bit range [−(2**23 − 1), 2**23 − 1] (saturation, no wrap-around)."""
    return np.clip(value, STATE_MIN, STATE_MAX)


def effective_bias(bias_mant: np.ndarray, bias_exp: int) -> np.ndarray:
    """bias_mant << bias_exp, in int64 (Lava's LIF ``scale_bias`` for bias_exp >= 0)."""
    return np.left_shift(bias_mant.astype(np.int64), int(bias_exp))


def _sample_position(time_step: int, sample_steps: int, gap_steps: int) -> tuple[int, int]:
    """(sample index, SNN step n) of Lava time step t >= 1; n >= sample_steps is the gap."""
    return divmod(time_step - 1, sample_steps + gap_steps)


class _AbstractSigmaDeltaModel(PyLoihiProcessModel):
    """Shared timing: in the gap step the states reset and no spike leaves; spike recording.

    Subclasses define ``step(synaptic_input) -> spikes``, one update of the state Vars.
    """

    def __init__(self, proc_params) -> None:
        super().__init__(proc_params)
        self._record: np.memmap | None = None

    def _write(self, sample: int, n: int, spikes: np.ndarray) -> None:
        if self._record is None:
            self._record = np.lib.format.open_memmap(
                self.proc_params["record_to"], mode="w+",
                dtype=bool if int(self.payload_max) == 1 else np.uint8,
                shape=(int(self.n_samples), int(self.sample_steps), spikes.shape[0]))
        self._record[sample, n] = spikes
        if sample == int(self.n_samples) - 1 and n == int(self.sample_steps) - 1:
            self._record.flush()

    def run_spk(self) -> None:
        synaptic_input = self.a_in.recv()
        sample, n = _sample_position(self.time_step, int(self.sample_steps),
                                     self.proc_params["gap_steps"])
        if n >= int(self.sample_steps):
            for name in STATES:
                getattr(self, name)[:] = 0
            self.s_out.send(np.zeros(self.s_out.shape, dtype=self.i_in.dtype))
            self.decoded_out.send(np.zeros(self.s_out.shape, dtype=self.i_in.dtype))
            return
        spikes = self.step(synaptic_input)
        if self.proc_params["record_to"] is not None and sample < int(self.n_samples):
            self._write(sample, n, spikes)
        self.s_out.send(spikes)
        self.decoded_out.send(-self.i_fb)


@implements(proc=SigmaDeltaLowPass, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySigmaDeltaLowPassFixed(_AbstractSigmaDeltaModel):
    """Bit-accurate fixed-point ΣΔ low-pass neuron (Loihi arithmetic as Lava models it).

    States are 24-bit signed integers (``STATE_BITS``) that saturate; decays are 12-bit
    (``DECAY_SHIFT``). One step, with a the int32 synaptic input of the Dense processes::

        # decay(x, d) = sign(x * (4096 - d)) * ((|x * (4096 - d)| + decay_offset) >> 12)
        #   decay_offset 0: toward zero (Lava's LIF); 2048: to nearest
        # sat(x)      = clip(x, -(2**23 - 1), 2**23 - 1)
        bias  = bias_mant << bias_exp
        i_in  = sat(decay(i_in, decay_in) + a)
        drive = i_in + bias
        if drive_max != NO_DRIVE_CLAMP:          # the ANN's clamp, before the low-pass
            drive = clip(drive, 0, drive_max)
        i_ip  = clip(decay(i_ip, decay_ip) + drive, 0, 2**23 - 1)     # ReLU on the state
        v     = clip(decay(v, decay_v) + i_ip + i_fb, 0, 2**23 - 1)   # old i_fb
        s     = v > threshold                  # payload_max == 1: binary spikes
        s     = clip(ceil((v - threshold) / -feedback_weight), 0, payload_max)  # else graded
        v[s > 0] = 0
        i_fb  = sat(decay(i_fb, decay_fb) + feedback_weight * s)

    The spike port carries int32 payloads (0/1 for binary spikes), which a Dense without
    message bits reads as booleans.
    """

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=STATE_BITS)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=NEURON_SPIKE_BITS_MAX)
    decoded_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=STATE_BITS)
    i_in: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=STATE_BITS)
    i_ip: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=STATE_BITS)
    v: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=STATE_BITS)
    i_fb: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=STATE_BITS)
    bias_mant: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=BIAS_MANTISSA_BITS)
    bias_exp: int = LavaPyType(int, np.int16, precision=BIAS_EXP_BITS)
    decay_in: int = LavaPyType(int, np.uint16, precision=DECAY_BITS)
    decay_ip: int = LavaPyType(int, np.uint16, precision=DECAY_BITS)
    decay_v: int = LavaPyType(int, np.uint16, precision=DECAY_BITS)
    decay_fb: int = LavaPyType(int, np.uint16, precision=DECAY_BITS)
    feedback_weight: int = LavaPyType(int, np.int32, precision=STATE_BITS)
    threshold: int = LavaPyType(int, np.int32, precision=STATE_BITS)
    drive_max: int = LavaPyType(int, np.int32, precision=STATE_BITS)
    payload_max: int = LavaPyType(int, np.int32, precision=NEURON_SPIKE_BITS_MAX)
    decay_offset: int = LavaPyType(int, np.uint16, precision=DECAY_BITS)
    sample_steps: int = LavaPyType(int, np.int32)
    n_samples: int = LavaPyType(int, np.int32)

    def step(self, synaptic_input: np.ndarray) -> np.ndarray:
        offset = int(self.decay_offset)
        i_in = saturate(decay_fixed(self.i_in, self.decay_in, offset) + synaptic_input)
        drive = i_in + effective_bias(self.bias_mant, self.bias_exp)
        if int(self.drive_max) != NO_DRIVE_CLAMP:
            drive = np.clip(drive, 0, int(self.drive_max))
        i_ip = np.clip(decay_fixed(self.i_ip, self.decay_ip, offset) + drive, 0, STATE_MAX)
        v = np.clip(decay_fixed(self.v, self.decay_v, offset) + i_ip + self.i_fb, 0, STATE_MAX)
        payload_max, step = int(self.payload_max), -np.int64(self.feedback_weight)
        if payload_max == 1:
            spikes = (v > int(self.threshold)).astype(np.int64)
        else:   # integer ceiling of (v − θ)/step: −((θ − v) // step)
            spikes = np.clip(-((int(self.threshold) - v) // step), 0, payload_max)
        v[spikes > 0] = 0
        i_fb = saturate(decay_fixed(self.i_fb, self.decay_fb, offset)
                        + np.int64(self.feedback_weight) * spikes)
        self.i_in[:], self.i_ip[:], self.v[:], self.i_fb[:] = i_in, i_ip, v, i_fb
        return spikes.astype(np.int32)


@implements(proc=SigmaDeltaLowPass, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PySigmaDeltaLowPassFloat(_AbstractSigmaDeltaModel):
    """Float ΣΔ low-pass neuron: the same update with real states and decays d/4096 (exact
    products: ``decay_offset``, the fixed-point rounding, has nothing to round)::

        bias  = bias_mant * 2**bias_exp
        i_in  = i_in * (1 - decay_in / 4096) + a
        drive = i_in + bias
        if drive_max != NO_DRIVE_CLAMP:
            drive = clip(drive, 0, drive_max)
        i_ip  = max(0, i_ip * (1 - decay_ip / 4096) + drive)
        v     = max(0, v * (1 - decay_v / 4096) + i_ip + i_fb)
        s     = v > threshold       # graded (payload_max > 1): clip(ceil((v - threshold)
        v[s > 0] = 0                #   / -feedback_weight), 0, payload_max)
        i_fb  = i_fb * (1 - decay_fb / 4096) + feedback_weight * s
    """

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    decoded_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    i_in: np.ndarray = LavaPyType(np.ndarray, float)
    i_ip: np.ndarray = LavaPyType(np.ndarray, float)
    v: np.ndarray = LavaPyType(np.ndarray, float)
    i_fb: np.ndarray = LavaPyType(np.ndarray, float)
    bias_mant: np.ndarray = LavaPyType(np.ndarray, float)
    bias_exp: int = LavaPyType(int, np.int16, precision=BIAS_EXP_BITS)
    decay_in: int = LavaPyType(int, np.uint16, precision=DECAY_BITS)
    decay_ip: int = LavaPyType(int, np.uint16, precision=DECAY_BITS)
    decay_v: int = LavaPyType(int, np.uint16, precision=DECAY_BITS)
    decay_fb: int = LavaPyType(int, np.uint16, precision=DECAY_BITS)
    feedback_weight: float = LavaPyType(float, float)
    threshold: float = LavaPyType(float, float)
    drive_max: float = LavaPyType(float, float)
    payload_max: int = LavaPyType(int, np.int32, precision=NEURON_SPIKE_BITS_MAX)
    decay_offset: int = LavaPyType(int, np.uint16, precision=DECAY_BITS)
    sample_steps: int = LavaPyType(int, np.int32)
    n_samples: int = LavaPyType(int, np.int32)

    def _retention(self, decay: int) -> float:
        return 1.0 - float(decay) / DECAY_UNITY

    def step(self, synaptic_input: np.ndarray) -> np.ndarray:
        i_in = self.i_in * self._retention(self.decay_in) + synaptic_input
        drive = i_in + self.bias_mant * 2.0 ** int(self.bias_exp)
        if float(self.drive_max) != NO_DRIVE_CLAMP:
            drive = np.clip(drive, 0.0, float(self.drive_max))
        i_ip = np.maximum(0.0, self.i_ip * self._retention(self.decay_ip) + drive)
        v = np.maximum(0.0, self.v * self._retention(self.decay_v) + i_ip + self.i_fb)
        if int(self.payload_max) == 1:
            spikes = (v > float(self.threshold)).astype(float)
        else:
            spikes = np.clip(np.ceil((v - float(self.threshold)) / -float(self.feedback_weight)),
                             0.0, float(self.payload_max))
        v[spikes > 0] = 0.0
        i_fb = (self.i_fb * self._retention(self.decay_fb)
                + float(self.feedback_weight) * spikes)
        self.i_in[:], self.i_ip[:], self.v[:], self.i_fb[:] = i_in, i_ip, v, i_fb
        return spikes


class _AbstractGradedInputModel(PyLoihiProcessModel):
    def run_spk(self) -> None:
        sample, n = _sample_position(self.time_step, int(self.sample_steps),
                                     self.proc_params["gap_steps"])
        if n >= int(self.sample_steps) or sample >= self.data.shape[0]:
            self.s_out.send(np.zeros(self.s_out.shape, dtype=self.data.dtype))
        else:
            # the held source; its Dense delays by one step, so layer 1 sees
            # x_int[(n − 1) // k] (lprnn.core.conventions.held_input_step)
            self.s_out.send(self.data[sample, n // int(self.steps_per_ann_step)])


@implements(proc=GradedInput, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyGradedInputFixed(_AbstractGradedInputModel):
    """Integer payloads x_int (24-bit graded spikes), zero-order hold over k steps."""

    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32,
                                  precision=GRADED_SPIKE_BITS)
    data: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=GRADED_SPIKE_BITS)
    steps_per_ann_step: int = LavaPyType(int, np.int32)
    sample_steps: int = LavaPyType(int, np.int32)


@implements(proc=GradedInput, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyGradedInputFloat(_AbstractGradedInputModel):
    """Float payloads, zero-order hold over k steps."""

    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    data: np.ndarray = LavaPyType(np.ndarray, float)
    steps_per_ann_step: int = LavaPyType(int, np.int32)
    sample_steps: int = LavaPyType(int, np.int32)


class _AbstractReadoutModel(PyLoihiProcessModel):
    def run_spk(self) -> None:
        received = self.s_in.recv()
        sample_steps, window_start = int(self.sample_steps), int(self.window_start)
        sample, n = _sample_position(self.time_step, sample_steps, self.proc_params["gap_steps"])
        if window_start <= n < sample_steps:
            self.counts += received.astype(self.counts.dtype)
        if n == sample_steps - 1 and sample < self.logits.shape[0]:
            self.logits[sample] = (self.weights.astype(self.logits.dtype) @ self.counts
                                   + self.bias * (sample_steps - window_start))
            self.counts[:] = 0


@implements(proc=WindowReadout, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyWindowReadoutFixed(_AbstractReadoutModel):
    """Integer logits, int64 throughout (no overflow for any realistic window)."""

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=STATE_BITS)
    weights: np.ndarray = LavaPyType(np.ndarray, np.int64)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int64)
    counts: np.ndarray = LavaPyType(np.ndarray, np.int64)
    logits: np.ndarray = LavaPyType(np.ndarray, np.int64)
    sample_steps: int = LavaPyType(int, np.int32)
    window_start: int = LavaPyType(int, np.int32)


@implements(proc=WindowReadout, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyWindowReadoutFloat(_AbstractReadoutModel):
    """The same readout in float (sums and logits as float64)."""

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    weights: np.ndarray = LavaPyType(np.ndarray, float)
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    counts: np.ndarray = LavaPyType(np.ndarray, float)
    logits: np.ndarray = LavaPyType(np.ndarray, float)
    sample_steps: int = LavaPyType(int, np.int32)
    window_start: int = LavaPyType(int, np.int32)
