"""The lpRNN classifier of the paper: lpLinear → lpRNN × N → linear readout, k-bit weights.

Each low-pass layer (``docs/METHOD.md``; :mod:`lprnn.core.lowpass`)::

    z_t = W x_t + U h_{t-1} + b          (U = 0 for lpLinear)
    h_t = α h_{t-1} + (1 − α) · clamp(z_t, 0, a_max)

and the readout ``logits_t = W_out h_t + b_out`` on the last layer, averaged over the steps
t ≥ T // 2 (``averaging="second_half"``, Heidelberg Digits) or over all steps (``"all"``,
Speech Commands). ``W x_t + b`` is one matmul over all steps; only the recurrence loops.

Weights and biases are quantized in the forward pass (:func:`lprnn.ann.quantize.quantize`,
``weight_int_bits``/``weight_frac_bits``; ``weight_frac_bits=None`` trains in float), after an
optional lottery-ticket mask (a ``weight_mask`` buffer, present once a mask is set).
Init: Xavier-uniform input and readout weights, orthogonal recurrent weights, zero biases.

**SNN timing** (``timing="snn"``). The mapped ΣΔ network (:mod:`lprnn.snn.mapper`) runs
k = ``steps_per_ann_step`` SNN steps per ANN step with the input held over them, one step of
delay on every connection and D = ``recurrent_delay`` extra steps on the recurrent ones; at
the rate level (no spike quantization, :mod:`lprnn.snn.analysis`) it computes, per SNN step n,

    P_0(n) = β P_0(n−1) + (1 − β) · clamp(W_0 x[(n−1)//k] + b_0, 0, a_max)     (x[−1] = 0)
    P_l(n) = β P_l(n−1) + (1 − β) · clamp(W_l P_{l−1}(n−1) + U_l P_l(n−1−D) + b_l, 0, a_max)

with β = 1 − d/4096 and d = :func:`substep_decay` (β^k ≈ α), and reads out
``W_out P_L(n) + b_out`` averaged over the SNN steps of the averaging window, after m =
``readout_latency`` more ANN steps on the last frame held (default: one per recurrent layer;
:func:`lprnn.core.conventions.extend_input`), so the window waits for the layers' lag. With
``timing="snn"`` this recurrence *is* the model: trained with it, the ANN is the SNN's rate
limit, and what remains between them is the ΣΔ quantization. :meth:`LpRNNClassifier.trace`
then returns each ANN step's mean over its k SNN steps (what the simulator's decoded traces
hold). ``timing="ann"`` (default) is the paper's lpRNN.

Module names follow the authors' state dict (``lpff.linear``, ``rnn_layers.N.linear``,
``rnn_layers.N.linear_hh``, ``out.linear``), so their released checkpoint loads with
``load_state_dict(strict=True)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from lprnn.core import conventions, hardware
from lprnn.core.lowpass import check_lowpass_params, lowpass_scan
from lprnn.ann.quantize import FixedPointFormat, quantize, zero_weight_mask

TIMINGS = ("ann", "snn")


def substep_decay(retention_ratio: float, steps_per_ann_step: int) -> int:
    """The 12-bit decay per SNN step whose k-th power is α: round(4096 · (1 − α^(1/k)))
    (the mapped neurons' d_ip; the mapper checks that it lies in [1, 4095])."""
    return round(hardware.DECAY_UNITY * (1.0 - retention_ratio ** (1.0 / steps_per_ann_step)))


@dataclass(frozen=True)
class ModelConfig:
    """Sizes and constants of :class:`LpRNNClassifier` (defaults: the paper's HD network)."""

    n_inputs: int = 80
    ff_size: int = 128
    rnn_sizes: tuple[int, ...] = (512, 512)
    n_classes: int = 20
    retention_ratio: float = 0.8
    a_max: float = 6.0
    weight_frac_bits: int | None = 3
    weight_int_bits: int = 1
    averaging: str = "second_half"
    timing: str = "ann"               # "ann": the lpRNN; "snn": the SNN's rate limit (module doc)
    steps_per_ann_step: int = 10      # k, with timing="snn"
    recurrent_delay: int | None = None  # D extra SNN steps on the recurrence (None: k // 2)
    # m ANN steps run on the held last frame before the readout (None: one per recurrent layer)
    readout_latency: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "rnn_sizes", tuple(self.rnn_sizes))
        for name in ("n_inputs", "ff_size", "n_classes"):
            _check_size(f"ModelConfig.{name}", getattr(self, name))
        for size in self.rnn_sizes:
            _check_size(f"ModelConfig.rnn_sizes={self.rnn_sizes}: entry", size)
        check_lowpass_params(self.retention_ratio, self.a_max)
        if self.averaging not in conventions.AVERAGING:
            raise ValueError(f"ModelConfig.averaging={self.averaging!r}: expected one of "
                             f"{list(conventions.AVERAGING)}")
        if self.timing not in TIMINGS:
            raise ValueError(f"ModelConfig.timing={self.timing!r}: expected one of {list(TIMINGS)}")
        _check_size("ModelConfig.steps_per_ann_step", self.steps_per_ann_step)
        if self.recurrent_delay is not None and (isinstance(self.recurrent_delay, bool) or not
                                                 isinstance(self.recurrent_delay, int)
                                                 or self.recurrent_delay < 0):
            raise ValueError(f"ModelConfig.recurrent_delay={self.recurrent_delay!r}: expected "
                             "None or an integer ≥ 0")
        if self.readout_latency is not None:
            conventions.check_readout_latency(self.readout_latency, "ModelConfig.readout_latency")
        if self.timing == "snn" and not 1 <= substep_decay(self.retention_ratio,
                                                           self.steps_per_ann_step) < \
                hardware.DECAY_UNITY:
            raise ValueError(f"ModelConfig.steps_per_ann_step={self.steps_per_ann_step}: the "
                             f"12-bit decay for retention_ratio={self.retention_ratio} falls "
                             f"outside [1, {hardware.DECAY_UNITY - 1}]")
        try:
            self.weight_format
        except ValueError as err:
            raise ValueError(f"ModelConfig weight_frac_bits={self.weight_frac_bits!r}, "
                             f"weight_int_bits={self.weight_int_bits!r}: {err}") from None

    @property
    def substep_recurrent_delay(self) -> int:
        """D: extra SNN steps on the recurrent synapses (``recurrent_delay``, default k // 2)."""
        return (self.steps_per_ann_step // 2 if self.recurrent_delay is None
                else self.recurrent_delay)

    @property
    def snn_readout_latency(self) -> int:
        """m: ANN steps the SNN runs on the held last frame before its readout window ends
        (``readout_latency``, default one per recurrent layer)."""
        return len(self.rnn_sizes) if self.readout_latency is None else self.readout_latency

    @property
    def weight_format(self) -> FixedPointFormat | None:
        """The fixed-point format of weights and biases (None: float)."""
        if self.weight_frac_bits is None:
            return None
        return FixedPointFormat(int_bits=self.weight_int_bits, frac_bits=self.weight_frac_bits)

    @classmethod
    def from_dict(cls, options: Mapping[str, Any]) -> "ModelConfig":
        """Build from keyword options, naming any unknown option and the known ones."""
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ValueError(f"unknown model option(s) {unknown}: expected some of {known}")
        return cls(**options)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready options (``rnn_sizes`` as a list); ``from_dict`` inverts it."""
        options = asdict(self)
        options["rnn_sizes"] = list(self.rnn_sizes)
        return options


def _check_size(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}={value!r}: expected a positive integer")


class QuantLinear(nn.Linear):
    """``nn.Linear`` whose forward uses quantize(weight · mask) and quantize(bias).

    ``fmt=None`` keeps float weights. The lottery-ticket mask is the ``weight_mask`` buffer
    (bool, in the state dict once set by :meth:`set_weight_mask`).
    """

    weight_mask: Tensor | None

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 fmt: FixedPointFormat | None = None):
        super().__init__(in_features, out_features, bias=bias)
        self.fmt = fmt
        self.register_buffer("weight_mask", None)

    def set_weight_mask(self, mask: Tensor | None) -> None:
        """Mask weights (True = kept) in every later forward; None removes the mask."""
        if mask is not None and mask.shape != self.weight.shape:
            raise ValueError(f"weight mask of shape {tuple(mask.shape)}: expected "
                             f"{tuple(self.weight.shape)}")
        self.weight_mask = None if mask is None else mask.to(self.weight.device, torch.bool)

    def effective_weight(self) -> Tensor:
        weight = self.weight if self.weight_mask is None else self.weight * self.weight_mask
        return weight if self.fmt is None else quantize(weight, self.fmt)

    def effective_bias(self) -> Tensor | None:
        if self.bias is None or self.fmt is None:
            return self.bias
        return quantize(self.bias, self.fmt)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.effective_weight(), self.effective_bias())

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):  # noqa: ANN001 (torch's hook)
        # A checkpoint with a lottery mask creates the (otherwise absent) buffer to load into.
        if prefix + "weight_mask" in state_dict and self.weight_mask is None:
            self.weight_mask = torch.ones_like(self.weight, dtype=torch.bool)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)


class LpLinear(nn.Module):
    """Feed-forward low-pass layer: h_t = α h_{t-1} + (1 − α) clamp(W x_t + b, 0, a_max)."""

    def __init__(self, n_inputs: int, n_outputs: int, *, retention_ratio: float = 0.8,
                 a_max: float = 6.0, weight_frac_bits: int | None = None,
                 weight_int_bits: int = 1):
        super().__init__()
        check_lowpass_params(retention_ratio, a_max)
        self.retention_ratio, self.a_max = float(retention_ratio), float(a_max)
        fmt = None if weight_frac_bits is None else FixedPointFormat(weight_int_bits,
                                                                     weight_frac_bits)
        self.linear = QuantLinear(n_inputs, n_outputs, fmt=fmt)
        nn.init.xavier_uniform_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: Tensor, retention_ratio: float | None = None) -> Tensor:
        """x [B, T, n_inputs] → h [B, T, n_outputs] (``retention_ratio`` overrides α: the
        per-SNN-step β of the SNN timing)."""
        alpha = self.retention_ratio if retention_ratio is None else retention_ratio
        return lowpass_scan(self.linear(x).float(), None, alpha, self.a_max)


class LpRNN(nn.Module):
    """Recurrent low-pass layer: h_t = α h_{t-1} + (1 − α) clamp(W x_t + U h_{t-1} + b, 0, a_max)."""

    def __init__(self, n_inputs: int, hidden_size: int, *, retention_ratio: float = 0.8,
                 a_max: float = 6.0, weight_frac_bits: int | None = None,
                 weight_int_bits: int = 1):
        super().__init__()
        check_lowpass_params(retention_ratio, a_max)
        self.retention_ratio, self.a_max = float(retention_ratio), float(a_max)
        fmt = None if weight_frac_bits is None else FixedPointFormat(weight_int_bits,
                                                                     weight_frac_bits)
        self.linear = QuantLinear(n_inputs, hidden_size, fmt=fmt)
        self.linear_hh = QuantLinear(hidden_size, hidden_size, bias=False, fmt=fmt)
        nn.init.xavier_uniform_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        nn.init.orthogonal_(self.linear_hh.weight)

    def forward(self, x: Tensor, retention_ratio: float | None = None,
                recurrent_delay: int = 0) -> Tensor:
        """x [B, T, n_inputs] → h [B, T, hidden_size] (``retention_ratio`` overrides α and
        ``recurrent_delay`` adds D steps to the recurrence: the SNN timing)."""
        alpha = self.retention_ratio if retention_ratio is None else retention_ratio
        # Under CUDA autocast the input projection runs in bfloat16; the recurrence in float32.
        return lowpass_scan(self.linear(x).float(), self.linear_hh.effective_weight().float(),
                            alpha, self.a_max, recurrent_delay)


class Readout(nn.Module):
    """Linear readout applied at every step: logits_t = W_out h_t + b_out."""

    def __init__(self, n_inputs: int, n_classes: int, fmt: FixedPointFormat | None):
        super().__init__()
        self.linear = QuantLinear(n_inputs, n_classes, fmt=fmt)
        nn.init.xavier_uniform_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, h: Tensor) -> Tensor:
        return self.linear(h).float()


class LpRNNClassifier(nn.Module):
    """lpLinear(ff_size) → lpRNN(rnn_sizes...) → readout averaged over time (ModelConfig)."""

    def __init__(self, config: ModelConfig | None = None):
        super().__init__()
        if config is not None and not isinstance(config, ModelConfig):
            raise TypeError(f"config is a {type(config).__name__}: expected a ModelConfig "
                            "(use ModelConfig.from_dict for a dict of options)")
        self.config = config = config or ModelConfig()
        layer_options = dict(retention_ratio=config.retention_ratio, a_max=config.a_max,
                             weight_frac_bits=config.weight_frac_bits,
                             weight_int_bits=config.weight_int_bits)
        self.lpff = LpLinear(config.n_inputs, config.ff_size, **layer_options)
        sizes = (config.ff_size, *config.rnn_sizes)
        self.rnn_layers = nn.ModuleList(LpRNN(n_in, n_out, **layer_options)
                                        for n_in, n_out in zip(sizes[:-1], sizes[1:]))
        self.out = Readout(sizes[-1], config.n_classes, config.weight_format)

    def check_input(self, x: Tensor) -> None:
        """Raise a clear error unless x is a finite float tensor [B, T, n_inputs]."""
        n_inputs = self.config.n_inputs
        if not isinstance(x, Tensor):
            raise TypeError(f"input is a {type(x).__name__}: expected a float tensor "
                            f"[batch, time, {n_inputs}]")
        if not x.is_floating_point():
            raise TypeError(f"input has dtype {x.dtype}: expected a float tensor")
        if x.dim() != 3:
            raise ValueError(f"input has shape {tuple(x.shape)}: expected [batch, time, "
                             f"{n_inputs}]")
        if x.shape[-1] != n_inputs:
            hint = ("; it looks like [batch, features, time]: use x.transpose(1, 2)"
                    if x.shape[1] == n_inputs else "")
            raise ValueError(f"input has shape {tuple(x.shape)}: expected [batch, time, "
                             f"{n_inputs}] (n_inputs={n_inputs}){hint}")
        if x.shape[1] < 1:
            raise ValueError(f"input has shape {tuple(x.shape)}: expected at least one step")
        if not torch.isfinite(x).all():
            raise ValueError(f"input contains {int((~torch.isfinite(x)).sum())} NaN/inf "
                             "values: expected finite features")

    def trace(self, x: Tensor) -> dict[str, Tensor]:
        """Every layer's states h [B, T, H] ("lpff", "rnn_layers.0", ...) and the per-step
        logits [B, T, C] ("logits"); with ``timing="snn"`` each ANN step's mean over its k
        SNN steps (module docstring)."""
        self.check_input(x)
        if self.config.timing == "snn":
            k = self.config.steps_per_ann_step
            return {name: trace.unflatten(1, (-1, k)).mean(dim=2)
                    for name, trace in self.substep_trace(x).items()}
        traces = {"lpff": self.lpff(x)}
        h = traces["lpff"]
        for i, layer in enumerate(self.rnn_layers):
            h = traces[f"rnn_layers.{i}"] = layer(h)
        traces["logits"] = self.out(h)
        return traces

    def substep_trace(self, x: Tensor) -> dict[str, Tensor]:
        """The SNN-timed recurrence (module docstring) at SNN resolution, on x with its last
        frame held m = ``config.snn_readout_latency`` more ANN steps: every layer's P
        [B, (T + m)·k, H] and the logits [B, (T + m)·k, C], k = ``config.steps_per_ann_step``."""
        self.check_input(x)
        config = self.config
        x = conventions.extend_input(x, config.snn_readout_latency)
        k = config.steps_per_ann_step
        beta = 1.0 - substep_decay(config.retention_ratio, k) / hardware.DECAY_UNITY
        held = F.pad(x.repeat_interleave(k, dim=1)[:, :-1], (0, 0, 1, 0))  # x[(n − 1) // k]
        traces = {"lpff": self.lpff(held, beta)}
        h = traces["lpff"]
        for i, layer in enumerate(self.rnn_layers):
            h_before = F.pad(h[:, :-1], (0, 0, 1, 0))                       # one step of delay
            h = traces[f"rnn_layers.{i}"] = layer(h_before, beta, config.substep_recurrent_delay)
        traces["logits"] = self.out(h)
        return traces

    def average_logits(self, step_logits: Tensor) -> Tensor:
        """Per-step logits [B, T, C] averaged over the readout window → [B, C]."""
        return conventions.average_logits(step_logits, self.config.averaging)

    def forward(self, x: Tensor) -> Tensor:
        """x [B, T, n_inputs] → logits [B, n_classes]."""
        return self.average_logits(self.trace(x)["logits"])

    def quantized_layers(self) -> dict[str, QuantLinear]:
        """The weight-carrying submodules keyed by their state-dict prefix."""
        return {name: module for name, module in self.named_modules()
                if isinstance(module, QuantLinear)}

    @torch.no_grad()
    def effective_parameters(self) -> dict[str, Tensor]:
        """The deployed weights and biases (masked, quantized), keyed like the state dict."""
        deployed = {}
        for name, layer in self.quantized_layers().items():
            deployed[f"{name}.weight"] = layer.effective_weight().detach().clone()
            bias = layer.effective_bias()
            if bias is not None:
                deployed[f"{name}.bias"] = bias.detach().clone()
        return deployed

    def zero_weight_masks(self) -> dict[str, Tensor]:
        """Lottery-ticket masks: True where the deployed weight is non-zero."""
        return {name: zero_weight_mask(layer.effective_weight(), layer.fmt)
                for name, layer in self.quantized_layers().items()}

    def set_weight_masks(self, masks: Mapping[str, Tensor | None]) -> None:
        """Set (or with None clear) the mask of each named layer (names of quantized_layers)."""
        layers = self.quantized_layers()
        unknown = sorted(set(masks) - set(layers))
        if unknown:
            raise ValueError(f"masks for unknown layers {unknown}: expected some of {list(layers)}")
        for name, mask in masks.items():
            layers[name].set_weight_mask(mask)

    def zero_weight_fraction(self) -> float:
        """Fraction of deployed weights (not biases) that are exactly zero."""
        weights = [w for key, w in self.effective_parameters().items() if key.endswith(".weight")]
        zeros = sum(int((w == 0).sum()) for w in weights)
        return zeros / sum(w.numel() for w in weights)


def with_timing(model: LpRNNClassifier, timing: str, steps_per_ann_step: int | None = None,
                recurrent_delay: int | None = None,
                readout_latency: int | None = None) -> LpRNNClassifier:
    """A copy of ``model`` (same weights and masks, eval mode) run with another ``timing``
    ("ann" or "snn") and, for "snn", k = ``steps_per_ann_step`` (default: the model's), D =
    ``recurrent_delay`` (default k // 2) and m = ``readout_latency`` (default one ANN step per
    recurrent layer): e.g. the SNN's rate limit at the k it is mapped with."""
    options = dict(model.config.to_dict(), timing=timing, recurrent_delay=recurrent_delay,
                   readout_latency=readout_latency)
    if steps_per_ann_step is not None:
        options["steps_per_ann_step"] = steps_per_ann_step
    copy = LpRNNClassifier(ModelConfig.from_dict(options))
    copy.load_state_dict(model.state_dict(), strict=True)
    return copy.eval()


def infer_config(state_dict: Mapping[str, Tensor], **options: Any) -> ModelConfig:
    """The ModelConfig whose sizes match a state dict (e.g. the authors' checkpoint);
    ``options`` set the rest (retention_ratio, a_max, weight bits, averaging)."""
    required = ("lpff.linear.weight", "out.linear.weight")
    missing = [key for key in required if key not in state_dict]
    if missing:
        raise ValueError(f"state dict lacks {missing}: not an lpRNN classifier "
                         f"(keys: {sorted(state_dict)[:8]}...)")
    ff_weight = state_dict["lpff.linear.weight"]
    n_layers = sum(1 for key in state_dict if key.endswith(".linear_hh.weight"))
    rnn_sizes = tuple(int(state_dict[f"rnn_layers.{i}.linear_hh.weight"].shape[0])
                      for i in range(n_layers))
    return ModelConfig.from_dict(dict(
        dict(n_inputs=int(ff_weight.shape[1]), ff_size=int(ff_weight.shape[0]),
             rnn_sizes=rnn_sizes, n_classes=int(state_dict["out.linear.weight"].shape[0])),
        **options))


def from_state_dict(state_dict: Mapping[str, Tensor], **options: Any) -> LpRNNClassifier:
    """An LpRNNClassifier holding a plain state dict such as the authors' released one
    (sizes inferred, other ModelConfig ``options`` as given; loaded with strict=True)."""
    model = LpRNNClassifier(infer_config(state_dict, **options))
    model.load_state_dict(state_dict, strict=True)
    return model
