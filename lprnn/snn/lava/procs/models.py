"""ProcessModels of the Lava processes in :mod:`lprnn.snn.lava.procs.process`.

One model per numeric path. The neuron models are thin shells over the functional core: the
``fixed_pt`` model calls :func:`lprnn.core.sigma_delta.sigma_delta_step_fixed` (the very
function our simulator calls, so the arithmetic exists once), the ``floating_pt`` model calls
:func:`lprnn.core.sigma_delta.sigma_delta_step` with the decays as fractions
``d / 4096``. Timing (sample, gap step) is explained in :mod:`lprnn.snn.lava.procs.process`.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import torch
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lprnn.core import hardware
from lprnn.core.sigma_delta import (SigmaDeltaParams, SigmaDeltaState, sigma_delta_step,
                                          sigma_delta_step_fixed)
from lprnn.snn.lava.procs.process import GradedInput, SigmaDeltaLowPass, WindowReadout
from lprnn.core.sigma_delta import SigmaDeltaFixedParams

STATES = ("i_in", "i_ip", "v", "i_fb")


def float_params(neuron: SigmaDeltaFixedParams) -> SigmaDeltaParams:
    """The float parameters of an integer neuron: decays d → d/4096, the rest as floats."""
    values = {}
    for field in fields(SigmaDeltaParams):
        value = getattr(neuron, field.name)
        if field.name.startswith("decay_"):
            value = value / hardware.DECAY_UNITY
        values[field.name] = None if value is None else float(value)
    return SigmaDeltaParams(**values)


def _sample_position(time_step: int, sample_steps: int, gap_steps: int) -> tuple[int, int]:
    """(sample index, SNN step n) of Lava time step t >= 1; n >= sample_steps is the gap."""
    return divmod(time_step - 1, sample_steps + gap_steps)


class _AbstractSigmaDeltaModel(PyLoihiProcessModel):
    """Shared timing: in the gap step the states reset and no spike leaves; spike recording."""

    def __init__(self, proc_params) -> None:
        super().__init__(proc_params)
        self._record: np.memmap | None = None

    def _write(self, sample: int, n: int, spikes: np.ndarray) -> None:
        if self._record is None:
            self._record = np.lib.format.open_memmap(
                self.proc_params["record_to"], mode="w+", dtype=bool,
                shape=(int(self.n_samples), int(self.sample_steps), spikes.shape[0]))
        self._record[sample, n] = spikes != 0
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
    """Bit-exact Loihi arithmetic: :func:`~lprnn.core.sigma_delta.sigma_delta_step_fixed`.

        i_in ← sat(decay(i_in, d_in) + a)
        u    = i_in + bias   (clip(i_in + bias, 0, drive_max) when drive_max is set)
        i_ip ← clip(decay(i_ip, d_ip) + u, 0, 2**23 − 1)
        v    ← clip(decay(v, d_v) + i_ip + i_fb, 0, 2**23 − 1)
        s    = v > θ ;  v ← 0 where s
        i_fb ← sat(decay(i_fb, d_fb) + w_fb · s)

    decay(x, d) = sign(x)·((|x|·(4096 − d)) >> 12); states are 24-bit, saturating.
    """

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=hardware.STATE_BITS)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, bool, precision=1)
    decoded_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32,
                                        precision=hardware.STATE_BITS)
    i_in: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=hardware.STATE_BITS)
    i_ip: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=hardware.STATE_BITS)
    v: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=hardware.STATE_BITS)
    i_fb: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=hardware.STATE_BITS)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=hardware.STATE_BITS)
    sample_steps: int = LavaPyType(int, np.int32)
    n_samples: int = LavaPyType(int, np.int32)

    def step(self, synaptic_input: np.ndarray) -> np.ndarray:
        state = SigmaDeltaState(*(torch.from_numpy(getattr(self, name).astype(np.int64))
                                  for name in STATES))
        spikes, state = sigma_delta_step_fixed(
            torch.from_numpy(synaptic_input.astype(np.int64)),
            torch.from_numpy(self.bias.astype(np.int64)), state, self.proc_params["neuron"])
        for name, value in zip(STATES, state):
            getattr(self, name)[:] = value.numpy()
        return spikes.numpy()


@implements(proc=SigmaDeltaLowPass, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PySigmaDeltaLowPassFloat(_AbstractSigmaDeltaModel):
    """Float arithmetic: :func:`~lprnn.core.sigma_delta.sigma_delta_step`, decays d/4096.

        i_in ← i_in·(1 − d_in) + a
        u    = i_in + bias   (clip(i_in + bias, 0, drive_max) when drive_max is set)
        i_ip ← max(0, i_ip·(1 − d_ip) + u)
        v    ← max(0, v·(1 − d_v) + i_ip + i_fb)
        s    = v > θ ;  v ← 0 where s
        i_fb ← i_fb·(1 − d_fb) + w_fb · s
    """

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    decoded_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    i_in: np.ndarray = LavaPyType(np.ndarray, float)
    i_ip: np.ndarray = LavaPyType(np.ndarray, float)
    v: np.ndarray = LavaPyType(np.ndarray, float)
    i_fb: np.ndarray = LavaPyType(np.ndarray, float)
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    sample_steps: int = LavaPyType(int, np.int32)
    n_samples: int = LavaPyType(int, np.int32)

    def step(self, synaptic_input: np.ndarray) -> np.ndarray:
        params = float_params(self.proc_params["neuron"])
        state = SigmaDeltaState(*(torch.from_numpy(getattr(self, name)) for name in STATES))
        spikes, state = sigma_delta_step(torch.from_numpy(synaptic_input.astype(np.float64)),
                                         torch.from_numpy(self.bias), state, params)
        for name, value in zip(STATES, state):
            getattr(self, name)[:] = value.numpy()
        return spikes.numpy()


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
                                  precision=hardware.GRADED_SPIKE_BITS)
    data: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=hardware.GRADED_SPIKE_BITS)
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

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=hardware.STATE_BITS)
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
