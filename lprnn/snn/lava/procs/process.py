"""Lava Processes of the mapped lpRNN: interfaces only (ports and Vars); behaviour is in models.py.

Samples run back to back in one Lava run. Every process knows ``sample_steps`` S (= T·k SNN
steps of one sample); one sample occupies S Lava steps followed by G *gap* steps in which the
source and every neuron send nothing and the neurons reset their states to zero. A ``Dense``
forwards at step t what it received at step t − 1, a ``DelayDense`` with delay D at t + D, so
G = 1 + the longest recurrent delay empties every synaptic buffer and each sample starts from
the same all-zero state as a fresh run (and as the simulator, ``s(−1) = 0``). Lava time step t
(counting from 1) is SNN step ``n = (t − 1) mod (S + G)`` of sample ``(t − 1) div (S + G)``;
n >= S is the gap.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess, LogConfig
from lava.magma.core.process.variable import Var

from lprnn.core.hardware import DECAY_ROUNDING_OFFSETS
from lprnn.core.sigma_delta import SigmaDeltaFixedParams

# drive_max Var of a neuron whose drive is not clamped (the paper's neuron; drive_max > 0 else)
NO_DRIVE_CLAMP = 0


def _check_positive(name: str, value: int) -> int:
    if int(value) < 1:
        raise ValueError(f"{name}={value}: expected a positive integer")
    return int(value)


class SigmaDeltaLowPass(AbstractProcess):
    """A population of adaptive ΣΔ low-pass neurons (one lpRNN unit each).

    Per SNN step, with synaptic input a (the summed Dense outputs) and integer states that
    saturate at ±(2**23 − 1) (the ProcessModels in :mod:`lprnn.snn.lava.procs.models` give
    the exact arithmetic of each numeric path):

        i_in ← sat(decay(i_in, decay_in) + a)
        u    = i_in + bias_mant · 2**bias_exp   (clamped to [0, drive_max] when drive_max > 0)
        i_ip ← clip(decay(i_ip, decay_ip) + u, 0, 2**23 − 1)
        v    ← clip(decay(v, decay_v) + i_ip + i_fb, 0, 2**23 − 1)
        s    = v > threshold ;  v ← 0 where s
        i_fb ← sat(decay(i_fb, decay_fb) + feedback_weight · s)

    With ``payload_max`` P > 1 the spike is graded (Loihi 2): its payload is
    ``s = clip(⌈(v − threshold) / |feedback_weight|⌉, 0, P)``, sent when s > 0 (and v ← 0 there);
    the Dense processes it feeds then take graded messages.

    The self-feedback ``feedback_weight · s`` is internal to the neuron, not a diagonal Dense:
    it acts in the same step as the spike (a Dense would delay it by one step and change the
    ΣΔ loop), costs no synaptic memory and no spike traffic, and on Loihi 2 it is one line of
    the neuron's microcode.

    ``neuron`` (:class:`lprnn.core.sigma_delta.SigmaDeltaFixedParams`) is unpacked into one
    Var per parameter, as Lava's LIF holds ``du``, ``dv`` and ``vth``: the decays
    ``decay_in``, ``decay_ip``, ``decay_v``, ``decay_fb`` (12-bit, d/4096 per step),
    ``feedback_weight``, ``threshold``, ``drive_max`` (``NO_DRIVE_CLAMP`` = 0 for the
    paper's neuron, whose ReLU clips i_ip instead), ``payload_max`` (1: binary spikes) and
    ``decay_offset``, the rounding of every decay, ``decay(x, d) = sign(x) · ((|x|·(4096 − d)
    + decay_offset) >> 12)``: 0 truncates as Lava's LIF, 2048 rounds to nearest (the neuron's
    ``decay_rounding``). The bias is ``bias_mant`` (per neuron) and ``bias_exp``, as in Lava's LIF.

    ``decoded_out`` sends −i_fb, the neuron's reconstruction of i_ip, as a 24-bit graded
    message every step; it feeds only the host-side ``"decoded"`` readout
    (:class:`WindowReadout`) and is not a connection a chip would route.

    With ``record_to`` (a path that does not exist yet), the neuron model writes its own spikes
    into that file, a ``.npy`` memmap [n_samples, sample_steps, n] (bool; uint8 payloads for
    graded spikes), in place, step by
    step (the role of a spike probe on the chip). Bulk spike data thus never passes through
    Monitor or Var.get (a few ten thousand values per second), and no extra sink process is
    needed: in Lava's CPU simulation one sink process per layer cost a third of the throughput.
    """

    def __init__(self, *, shape: tuple[int, ...], neuron: SigmaDeltaFixedParams,
                 bias_mant: np.ndarray, bias_exp: int, sample_steps: int,
                 record_to: str | None = None, n_samples: int = 1, gap_steps: int = 1,
                 name: str | None = None, log_config: LogConfig | None = None) -> None:
        if not isinstance(neuron, SigmaDeltaFixedParams):
            raise TypeError(f"neuron is {type(neuron).__name__}, expected SigmaDeltaFixedParams")
        super().__init__(shape=shape,
                         record_to=None if record_to is None else str(record_to),
                         gap_steps=_check_positive("gap_steps", gap_steps),
                         name=name, log_config=log_config)
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.decoded_out = OutPort(shape=shape)   # −i_fb after each step (graded), host readout
        self.i_in = Var(shape=shape, init=0)
        self.i_ip = Var(shape=shape, init=0)
        self.v = Var(shape=shape, init=0)
        self.i_fb = Var(shape=shape, init=0)
        self.bias_mant = Var(shape=shape, init=np.broadcast_to(np.asarray(bias_mant), shape))
        self.bias_exp = Var(shape=(1,), init=int(bias_exp))
        self.decay_in = Var(shape=(1,), init=neuron.decay_in)
        self.decay_ip = Var(shape=(1,), init=neuron.decay_ip)
        self.decay_v = Var(shape=(1,), init=neuron.decay_v)
        self.decay_fb = Var(shape=(1,), init=neuron.decay_fb)
        self.feedback_weight = Var(shape=(1,), init=neuron.feedback_weight)
        self.threshold = Var(shape=(1,), init=neuron.threshold)
        self.drive_max = Var(shape=(1,), init=NO_DRIVE_CLAMP if neuron.drive_max is None
                             else neuron.drive_max)
        self.payload_max = Var(shape=(1,), init=neuron.payload_max)
        self.decay_offset = Var(shape=(1,), init=DECAY_ROUNDING_OFFSETS[neuron.decay_rounding])
        self.sample_steps = Var(shape=(1,), init=_check_positive("sample_steps", sample_steps))
        self.n_samples = Var(shape=(1,), init=_check_positive("n_samples", n_samples))


class GradedInput(AbstractProcess):
    """Injects the inputs as graded spikes with a zero-order hold of ``steps_per_ann_step``.

    At SNN step n of sample i it sends ``data[i, n // steps_per_ann_step]`` (nothing in the
    gap step). ``data`` is [N, T, F]: integer payloads x_int for fixed_pt, floats for floating_pt.
    """

    def __init__(self, *, data: np.ndarray, steps_per_ann_step: int, gap_steps: int = 1,
                 name: str | None = None, log_config: LogConfig | None = None) -> None:
        super().__init__(gap_steps=_check_positive("gap_steps", gap_steps), name=name,
                         log_config=log_config)
        if np.ndim(data) != 3:
            raise ValueError(f"data of shape {np.shape(data)}, expected [N, T, F]")
        k = _check_positive("steps_per_ann_step", steps_per_ann_step)
        self.s_out = OutPort(shape=(data.shape[2],))
        self.data = Var(shape=data.shape, init=data)
        self.steps_per_ann_step = Var(shape=(1,), init=k)
        self.sample_steps = Var(shape=(1,), init=data.shape[1] * k)


class WindowReadout(AbstractProcess):
    """Host-side integer readout, one row of ``logits`` per sample (not part of the chip).

    Sums what it receives over SNN steps ``window_start <= n < sample_steps`` (the last layer's
    spikes, or its decoded value −i_fb for a ``"decoded"`` readout, connected to the neuron's
    ``decoded_out``) and, at the last step of each sample, stores
    ``logits[i] = weights · counts + bias · (sample_steps − window_start)``.

    It runs on the host and is not in the energy model. With spikes as its input it needs
    from the chip only each last-layer neuron's spike count over the window (read at the
    end of the sample); a ``"decoded"`` readout instead receives a 24-bit graded message per
    neuron every step, a host-side convenience that a chip would not send.
    """

    def __init__(self, *, weights: np.ndarray, bias: np.ndarray, n_samples: int,
                 sample_steps: int, window_start: int, gap_steps: int = 1,
                 name: str | None = None, log_config: LogConfig | None = None) -> None:
        super().__init__(gap_steps=_check_positive("gap_steps", gap_steps), name=name,
                         log_config=log_config)
        n_classes, n_in = weights.shape
        if not 0 <= window_start < sample_steps:
            raise ValueError(f"window_start={window_start}: expected 0 <= window_start < "
                             f"sample_steps={sample_steps}")
        self.s_in = InPort(shape=(n_in,))
        self.weights = Var(shape=weights.shape, init=weights)
        self.bias = Var(shape=(n_classes,), init=bias)
        self.counts = Var(shape=(n_in,), init=0)
        self.logits = Var(shape=(_check_positive("n_samples", n_samples), n_classes), init=0)
        self.sample_steps = Var(shape=(1,), init=_check_positive("sample_steps", sample_steps))
        self.window_start = Var(shape=(1,), init=window_start)
