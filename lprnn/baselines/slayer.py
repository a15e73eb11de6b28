"""The ecosystem's own path as a baseline: a sigma-delta network trained with lava-dl SLAYER,
exported with netx and run in Lava.

What a Loihi 2 user would pick instead of our lpRNN → ΣΔ mapping: lava-dl's own blocks
(``slayer.block.sigma_delta``), ``export_hdf5`` per block, ``netx.hdf5.Network`` in Lava.

**Network.** ``Input`` (a Delta encoder) → one ``Dense`` sigma-delta ReLU layer per entry of
``hidden_sizes`` → ``Output`` (a Sigma decoder, the readout). It is **feed-forward**: lava-dl's
``sigma_delta`` module has no ``Recurrent`` block (``cuba``, ``alif``, ``rf`` and ``adrf`` have
one), so its memory is only the readout's average over time. Per neuron and step ``t``::

    σ[t] = σ[t−1] + W s_in[t]                       sigma (dendrite): reconstruction
    a[t] = relu(σ[t])                               activation
    δ[t] = a[t] − a[t−1] + r[t−1]                   delta (axon), r the residue
    s[t] = δ[t] · H(|δ[t]| − θ),  r[t] = δ[t] − s[t]   graded spike sent only on a change ≥ θ

Weights and the input pass lava-dl's 8-bit pre-hook (``quantize_8bit``: steps of
``2 / w_scale``, clamped to ``[−256, 254] / w_scale``, ``w_scale = 64``), so input features
beyond that range are clipped, as on the chip. Every block but the Output delays its spikes by
one step (lava-dl's ``delay_shift``: the synapse delay of Lava's ``Dense``). Logits: the Output's
reconstruction per step, averaged over the readout window like the lpRNN's
(:func:`lprnn.core.conventions.average_logits`).

**Thresholds.** netx exports ``vThMant = int(θ · w_scale)``; :func:`snap_thresholds` sets every
θ to that value after training, so the scored model is the exported one.

**Counting.** Spikes: the events (non-zero graded spikes) of every sigma-delta layer, the input
encoder included, as the next layer receives them within the clip's ``T`` steps. Synaptic
operations: each event times its neuron's fan-out (non-zero quantized weights of the next block,
:func:`lprnn.core.conventions.fan_out`).

**Lava.** :func:`run_on_lava` runs an exported file in Lava's CPU simulation of Loihi 2
(``Loihi2SimCfg``, ``fixed_pt``), one runtime per clip (SDNN neurons have no reset in netx).
The input is ``quantize_8bit(x, descale=True)``, sent to the input Delta's ``a_in``; the Output's
sigma arrives ``len(hidden_sizes) + 1`` steps late (one per ``Dense`` synapse) in units of
:data:`LAVA_OUTPUT_SCALE`.

Lava and lava-dl are imported inside the functions of this module only, so that
:mod:`lprnn.baselines` imports without them. The interrupt-safe runner of
:mod:`lprnn.snn.lava` is a layer above (``tests/test_layering.py``); every runtime here is
stopped in a ``finally``.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from lprnn.core.conventions import average_logits, check_averaging, fan_out, window_start

# lava-dl's neuron scale (slayer ``sigma_delta.Neuron(scale=1 << 6)``): weights and thresholds
# are exported as integers ``value · W_SCALE``.
W_SCALE = 1 << 6
# netx's graded-spike exponents (``hdf5.Network(spike_exp=6)``, its Delta/SigmaDelta
# ``state_exp=6``): the input ``x · W_SCALE`` enters the Delta shifted left by
# SPIKE_EXP + STATE_EXP and leaves shifted right by STATE_EXP, so a graded spike ``s`` travels as
# ``s · 2**(SPIKE_EXP + STATE_EXP)`` and the Output's sigma ``Σ (w · W_SCALE)(s · 2**(...))`` is
# the lava-dl output times LAVA_OUTPUT_SCALE.
SPIKE_EXP = 6
STATE_EXP = 6
LAVA_OUTPUT_SCALE = W_SCALE << (SPIKE_EXP + STATE_EXP)


@dataclass(frozen=True)
class SlayerConfig:
    """Shape and lava-dl neuron parameters of :class:`SlayerSigmaDelta`.

    ``threshold``, ``tau_grad``, ``scale_grad``, ``requires_grad`` (learnable θ) and
    ``shared_param`` (one θ per layer) are lava-dl's ``neuron_params``; ``weight_scale`` its
    weight initialization scale."""

    n_inputs: int = 80
    hidden_sizes: tuple[int, ...] = (128,)
    n_classes: int = 20
    averaging: str = "second_half"
    threshold: float = 0.1
    tau_grad: float = 0.5
    scale_grad: float = 1.0
    requires_grad: bool = True
    shared_param: bool = True
    weight_scale: float = 2.0

    def __post_init__(self) -> None:
        if not self.hidden_sizes or any(h < 1 for h in self.hidden_sizes):
            raise ValueError(f"hidden_sizes={self.hidden_sizes}: expected one or more positive sizes")
        for name in ("n_inputs", "n_classes"):
            if getattr(self, name) < 1:
                raise ValueError(f"SlayerConfig.{name}={getattr(self, name)}: expected ≥ 1")
        if not (math.isfinite(self.threshold) and self.threshold >= 1 / W_SCALE):
            raise ValueError(f"SlayerConfig.threshold={self.threshold!r}: expected ≥ 1/{W_SCALE} "
                             f"(netx stores int(threshold · {W_SCALE}))")
        check_averaging(self.averaging)


class SlayerTrace(NamedTuple):
    events: dict[str, Tensor]   # per sigma-delta layer ("input", "dense.i"): graded spikes [B, n, T]
    step_logits: Tensor         # [B, T, C]: the Output's reconstruction per step


class SlayerActivity(NamedTuple):
    logits: Tensor                      # [N, C] averaged over the readout window
    predictions: Tensor                 # int64 [N]
    spikes_per_sample: Tensor           # float [N]: events of every sigma-delta layer
    synaptic_ops: Tensor                # float [N]: events × fan-out
    layer_spikes: dict[str, Tensor]     # per layer, float [N]


class SlayerSigmaDelta(nn.Module):
    """lava-dl sigma-delta classifier: ``model(x [B, T, F]) -> logits [B, C]`` (module
    docstring); lava-dl works on ``[B, F, T]``, the transposes are inside."""

    def __init__(self, config: SlayerConfig) -> None:
        super().__init__()
        import torch.nn.functional as F
        from lava.lib.dl import slayer

        self.config = config
        params = dict(threshold=config.threshold, tau_grad=config.tau_grad,
                      scale_grad=config.scale_grad, requires_grad=config.requires_grad,
                      shared_param=config.shared_param, activation=F.relu)
        sizes = (config.n_inputs,) + tuple(config.hidden_sizes)
        self.blocks = nn.ModuleList(
            [slayer.block.sigma_delta.Input(params)]
            + [slayer.block.sigma_delta.Dense(params, n_in, n_out, weight_scale=config.weight_scale)
               for n_in, n_out in zip(sizes[:-1], sizes[1:])]
            + [slayer.block.sigma_delta.Output(params, sizes[-1], config.n_classes,
                                               weight_scale=config.weight_scale)])

    def layer_names(self) -> list[str]:
        return ["input"] + [f"dense.{i}" for i in range(len(self.config.hidden_sizes))]

    def check_input(self, x: Tensor) -> None:
        if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[2] != self.config.n_inputs:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"input of shape {shape}: expected a tensor [B, T, "
                             f"{self.config.n_inputs}] (batch, time, features)")
        if not x.is_floating_point() or not torch.isfinite(x).all():
            raise ValueError(f"input of dtype {x.dtype}: expected finite floating-point features")

    def trace(self, x: Tensor) -> SlayerTrace:
        """Every sigma-delta layer's graded spikes and the per-step logits for ``x [B, T, F]``."""
        self.check_input(x)
        h = x.transpose(1, 2).contiguous()
        events = {}
        for name, block in zip(self.layer_names(), self.blocks[:-1]):
            h = events[name] = block(h)
        return SlayerTrace(events, self.blocks[-1](h).transpose(1, 2))

    def forward(self, x: Tensor) -> Tensor:
        return average_logits(self.trace(x).step_logits, self.config.averaging)

    def quantized_weights(self) -> list[Tensor]:
        """Each synapse's weights as the chip holds them (``[n_out, n_in]``, lava-dl's pre-hook
        applied), first Dense to the Output."""
        return [block.synapse.pre_hook_fx(block.synapse.weight).reshape(
                    block.synapse.weight.shape[:2]).detach() for block in self.blocks[1:]]

    def fan_outs(self) -> list[Tensor]:
        """Per sigma-delta layer (input encoder first), each neuron's non-zero outgoing synapses."""
        return [fan_out(w) for w in self.quantized_weights()]


def snap_thresholds(model: SlayerSigmaDelta) -> list[float]:
    """Set every θ to what netx exports, ``int(θ · W_SCALE) / W_SCALE``; returns them."""
    snapped = []
    with torch.no_grad():
        for block in model.blocks:
            delta = block.neuron.delta
            delta.threshold.copy_(torch.floor(delta.threshold * W_SCALE) / W_SCALE)
            snapped += delta.threshold.flatten().tolist()
    return snapped


@torch.no_grad()
def activity(model: SlayerSigmaDelta, x: Tensor, batch_size: int = 256) -> SlayerActivity:
    """Logits, predictions, spikes and synaptic operations per sample (module docstring)."""
    model.eval()
    fan_outs = model.fan_outs()
    logits, spikes, synops = [], [], []
    layer_spikes: dict[str, list[Tensor]] = {name: [] for name in model.layer_names()}
    for start in range(0, len(x), batch_size):
        trace = model.trace(x[start:start + batch_size])
        logits.append(average_logits(trace.step_logits, model.config.averaging))
        counts = [(events != 0).sum(dim=2).float() for events in trace.events.values()]
        for name, count in zip(trace.events, counts):
            layer_spikes[name].append(count.sum(dim=1))
        spikes.append(sum(c.sum(dim=1) for c in counts))
        synops.append(sum((c * f.float()).sum(dim=1) for c, f in zip(counts, fan_outs)))
    logits_t = torch.cat(logits)
    return SlayerActivity(logits_t, logits_t.argmax(dim=1), torch.cat(spikes), torch.cat(synops),
                          {name: torch.cat(v) for name, v in layer_spikes.items()})


def export_netx(model: SlayerSigmaDelta, path: str | Path) -> Path:
    """Write the network in netx's HDF5 layout with lava-dl's own ``export_hdf5`` per block
    (``layer/0`` the input, then the Dense blocks, the Output last)."""
    import h5py

    path = Path(path)
    with h5py.File(path, "w") as f:
        layers = f.create_group("layer")
        for i, block in enumerate(model.blocks):
            block.export_hdf5(layers.create_group(str(i)))
    return path


def _import_lava_runtime() -> None:
    """Import Lava's runtime with its ``set_start_method("fork")`` forced, as
    :mod:`lprnn.snn.lava.procs` does (a layer above this one): Lava needs fork and sets it at
    import, which raises when a data loader or Jupyter chose a start method first."""
    import multiprocessing

    set_start_method = multiprocessing.set_start_method
    multiprocessing.set_start_method = lambda method, force=False: set_start_method(method, force=True)
    try:
        import lava.magma.runtime.message_infrastructure.multiprocessing  # noqa: F401
    finally:
        multiprocessing.set_start_method = set_start_method


class LavaCheck(NamedTuple):
    lava_logits: np.ndarray     # [N, C]: Lava's Output sigma / LAVA_OUTPUT_SCALE, window-averaged
    slayer_logits: np.ndarray   # [N, C]: the lava-dl model's
    max_abs_error: float        # over every step and class of every clip (lava-dl units)
    prediction_agreement: float
    seconds: float


def run_on_lava(path: str | Path, model: SlayerSigmaDelta, x: Tensor, *,
                progress: bool = False) -> np.ndarray:
    """Per-step logits ``[N, T, C]`` of the netx file ``path`` run in Lava ``fixed_pt`` on the
    clips ``x [N, T, F]`` (one runtime per clip; module docstring), in lava-dl units."""
    _import_lava_runtime()
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc import io

    model.check_input(x)
    n_dense = len(model.config.hidden_sizes) + 1        # synapse delays on the way to the Output
    n_steps = x.shape[1]
    encoded = model.blocks[0].neuron.quantize_8bit(x, descale=True).round().to(torch.int32)
    outputs = []
    for clip in tqdm(encoded, desc="Lava fixed_pt (netx)", unit="clip", disable=not progress):
        net = netx.hdf5.Network(net_config=str(path))
        data = np.zeros((x.shape[2], n_steps + n_dense), dtype=np.int32)
        data[:, :n_steps] = clip.T.numpy()
        source = io.source.RingBuffer(data=data)
        sink = io.sink.RingBuffer(shape=net.out.shape, buffer=n_steps + n_dense)
        source.s_out.connect(net.in_layer.neuron.a_in)
        net.out.connect(sink.a_in)
        try:
            net.run(condition=RunSteps(num_steps=n_steps + n_dense),
                    run_cfg=Loihi2SimCfg(select_tag="fixed_pt", select_sub_proc_model=True))
            sigma = sink.data.get()
        finally:
            net.stop()
        outputs.append(sigma[:, n_dense:].T / LAVA_OUTPUT_SCALE)
    return np.stack(outputs)


def check_on_lava(model: SlayerSigmaDelta, x: Tensor, *, progress: bool = False) -> LavaCheck:
    """Export ``model`` (to a temporary folder, removed after), run ``x`` in Lava and compare
    with the lava-dl model step for step and in the averaged logits' predictions."""
    import time

    model.eval()
    start = time.perf_counter()
    with torch.no_grad():
        reference = model.trace(x).step_logits.double().numpy()
    with tempfile.TemporaryDirectory(prefix="lprnn-slayer-") as folder:
        lava = run_on_lava(export_netx(model, Path(folder) / "slayer.net"), model, x,
                           progress=progress)
    window = slice(window_start(x.shape[1], model.config.averaging), None)
    lava_logits, slayer_logits = lava[:, window].mean(axis=1), reference[:, window].mean(axis=1)
    return LavaCheck(lava_logits, slayer_logits, float(np.abs(lava - reference).max()),
                     float((lava_logits.argmax(1) == slayer_logits.argmax(1)).mean()),
                     time.perf_counter() - start)


def train_and_score(train_set, val_set, test_set, *, hidden_sizes: tuple[int, ...],
                    train_config, averaging: str = "second_half", lava_samples: int = 8,
                    progress: bool = True) -> dict:
    """Train a :class:`SlayerSigmaDelta` on ``train_set`` with :func:`lprnn.ann.train.train`
    (``train_config``: its seed orders the batches; the caller seeds the weight init), keep the
    best validation epoch, snap its thresholds, score it on ``test_set`` and check its netx
    export in Lava on the first ``lava_samples`` test clips.

    One row: ``system`` (with the epochs), ``test_accuracy``, ``spikes_per_sample``,
    ``synaptic_ops_per_sample``, ``train_seconds``, ``lava_clips``, ``lava_max_abs_error``,
    ``lava_prediction_agreement`` and ``lava_seconds``.
    """
    import time

    from lprnn.ann.train import train

    if isinstance(lava_samples, bool) or not isinstance(lava_samples, int) or lava_samples < 1:
        raise ValueError(f"lava_samples={lava_samples!r}: expected a positive integer")
    model = SlayerSigmaDelta(SlayerConfig(n_inputs=train_set.n_features,
                                          hidden_sizes=tuple(hidden_sizes),
                                          n_classes=train_set.n_classes, averaging=averaging))
    start = time.perf_counter()
    train(model, train_set, val_set, train_config, progress=progress)
    seconds = time.perf_counter() - start
    snap_thresholds(model)
    scored = activity(model, test_set.features)
    check = check_on_lava(model, test_set.features[:lava_samples], progress=progress)
    return dict(system=f"SLAYER sigma-delta, feed-forward (lava-dl, {train_config.epochs} epochs)",
                test_accuracy=float((scored.predictions == test_set.labels).float().mean()),
                spikes_per_sample=float(scored.spikes_per_sample.mean()),
                synaptic_ops_per_sample=float(scored.synaptic_ops.mean()), train_seconds=seconds,
                lava_clips=min(lava_samples, len(test_set)), lava_max_abs_error=check.max_abs_error,
                lava_prediction_agreement=check.prediction_agreement, lava_seconds=check.seconds)
