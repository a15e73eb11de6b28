"""What Lava's fixed-point processes can hold, checked before anything starts (pure NumPy).

Lava's bit-accurate ``Dense`` (lava-nc 0.10, ``lava/proc/dense/models.py`` with
``lava/utils/weightutils.py``) does not use the weight matrix it is given as is. On the first
step it clips and truncates it according to the matrix's sign mode, with 8 weight bits:

    excitatory (all w >= 0):  w ← clip(w, 0, 255)
    inhibitory (all w <= 0):  w ← −clip(−w, 0, 255)
    mixed:                    w ← (clip(w, −256, 255) >> 1) << 1     (the lowest bit is lost)

and then computes ``a_out = (w · s) << weight_exp`` (``>>`` for a negative exponent, an
arithmetic shift, i.e. floor division). :func:`dense_encoding` picks the sign mode under which
Lava keeps a mapped matrix *exactly*: the matrix's own sign mode, or the mixed mode (which also
holds −256 in an all-negative matrix). A matrix that no mode keeps exactly (an odd weight in a
mixed-sign matrix, a weight outside [−256, 255]) is refused with the layer, the value and its
position. The rest of the network (decays, bias, feedback weight, threshold, graded inputs,
the int32 dendritic accumulator of Lava's ``Dense``) is checked by :func:`check_network` (after
the checks every path shares, :func:`lprnn.snn.network.validate_network`) and :func:`encode_inputs`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lprnn import snn
from lprnn.core import hardware
from lprnn.snn.network import LoihiLayer, LoihiNetwork, validate_network

# Lava's Dense clips to 8 magnitude bits plus sign: [−2**8, 2**8 − 1] (weightutils.clip_weights).
LAVA_WEIGHT_LIMIT = 2 ** hardware.WEIGHT_MANTISSA_BITS
# Lava's Dense and its ports hold the dendritic sum in numpy int32.
INT32_MAX = 2 ** 31 - 1
SIGN_MODES = ("excitatory", "inhibitory", "mixed")


@dataclass(frozen=True)
class DenseEncoding:
    """How one connection is handed to Lava's ``Dense`` so that Lava keeps it exactly."""

    weights: np.ndarray   # int32 [n_out, n_in]: the matrix given to Dense(weights=...)
    weight_exp: int       # proc param weight_exp: a_out = (w · s) << weight_exp
    sign_mode: str        # one of SIGN_MODES (lava.utils.weightutils.SignMode by name)
    num_weight_bits: int = hardware.WEIGHT_MANTISSA_BITS


def lava_kept_weights(weights: np.ndarray, sign_mode: str) -> np.ndarray:
    """The matrix Lava's fixed-point Dense actually uses for ``weights`` under ``sign_mode``."""
    w = np.asarray(weights).astype(np.int64)
    top = LAVA_WEIGHT_LIMIT - 1
    if sign_mode == "excitatory":
        return np.clip(w, 0, top)
    if sign_mode == "inhibitory":
        return -np.clip(-w, 0, top)
    if sign_mode == "mixed":
        return (np.clip(w, -LAVA_WEIGHT_LIMIT, top) >> 1) << 1
    raise ValueError(f"sign_mode={sign_mode!r}: expected one of {list(SIGN_MODES)}")


def natural_sign_mode(weights: np.ndarray) -> str:
    """The sign mode Lava infers for a matrix (weightutils.determine_sign_mode)."""
    if np.min(weights) >= 0:
        return "excitatory"
    if np.max(weights) <= 0:
        return "inhibitory"
    return "mixed"


def dense_encoding(weights: np.ndarray, weight_exp: int, where: str) -> DenseEncoding:
    """The Lava Dense encoding that reproduces ``(weights · s) << weight_exp`` exactly.

    ``where`` names the connection in error messages (e.g. "layer 'lpff', feed-forward").
    """
    w = np.asarray(weights)
    if w.ndim != 2 or w.size == 0:
        raise ValueError(f"{where}: weights of shape {w.shape}, expected a non-empty 2-D matrix")
    if not np.issubdtype(w.dtype, np.integer):
        raise TypeError(f"{where}: weights of dtype {w.dtype}, expected integers")
    if not hardware.WEIGHT_EXP_MIN <= int(weight_exp) <= hardware.WEIGHT_EXP_MAX:
        raise ValueError(f"{where}: weight_exp={weight_exp} outside Loihi's range "
                         f"[{hardware.WEIGHT_EXP_MIN}, {hardware.WEIGHT_EXP_MAX}]")
    candidates = dict.fromkeys([natural_sign_mode(w), "mixed"])
    for mode in candidates:
        if np.array_equal(lava_kept_weights(w, mode), w):
            return DenseEncoding(weights=w.astype(np.int32), weight_exp=int(weight_exp),
                                 sign_mode=mode)
    kept = lava_kept_weights(w, "mixed")
    index = tuple(int(i) for i in np.argwhere(kept != w)[0])
    value = int(w[index])
    if not -LAVA_WEIGHT_LIMIT <= value < LAVA_WEIGHT_LIMIT:
        reason = f"outside Lava's 8-bit weight range [{-LAVA_WEIGHT_LIMIT}, {LAVA_WEIGHT_LIMIT - 1}]"
    else:
        reason = ("odd in a mixed-sign matrix: Lava's mixed-sign Dense drops the lowest bit "
                  f"(it would use {int(kept[index])}); expected even weights in "
                  f"[{hardware.WEIGHT_MIN}, {hardware.WEIGHT_MAX}]")
    raise ValueError(f"{where}: weight {value} at {index} is {reason}")


def layer_encodings(layer: LoihiLayer) -> tuple[DenseEncoding, DenseEncoding | None]:
    """Feed-forward and (optional) recurrent Dense encodings of one layer."""
    forward = dense_encoding(layer.weights, layer.weight_exp,
                             f"layer {layer.name!r}, feed-forward weights")
    recurrent = None
    if layer.recurrent_weights is not None:
        if layer.recurrent_weights.shape != (layer.n_neurons, layer.n_neurons):
            raise ValueError(f"layer {layer.name!r}: recurrent weights of shape "
                             f"{layer.recurrent_weights.shape}, expected "
                             f"{(layer.n_neurons, layer.n_neurons)}")
        recurrent = dense_encoding(layer.recurrent_weights, layer.recurrent_weight_exp,
                                   f"layer {layer.name!r}, recurrent weights")
    return forward, recurrent


def _max_drive(encoding: DenseEncoding, max_input: np.ndarray) -> int:
    """Largest |a_out| a Dense can produce for inputs bounded elementwise by max_input."""
    total = int(np.max(np.abs(encoding.weights.astype(np.int64)) @ max_input.astype(np.int64)))
    return total << encoding.weight_exp if encoding.weight_exp > 0 else total


def check_network(network: LoihiNetwork) -> list[tuple[DenseEncoding, DenseEncoding | None]]:
    """Refuse a network Lava cannot run exactly; return each layer's Dense encodings.

    First the checks every path shares (:func:`lprnn.snn.network.validate_network`: shapes,
    integer ranges, neuron parameters, delays); then Lava's own limits, naming the layer and
    the value: weights are kept exactly by Lava's Dense (see :func:`dense_encoding`), and the
    summed spike input of a layer fits Lava's int32 accumulator.
    """
    validate_network(network)
    encodings = []
    for layer in network.layers:
        forward, recurrent = layer_encodings(layer)
        if layer is not network.layers[0]:
            drive = _max_drive(forward, np.ones(layer.n_inputs, np.int64))
            if recurrent is not None:
                drive += _max_drive(recurrent, np.ones(layer.n_neurons, np.int64))
            if drive > INT32_MAX:
                raise ValueError(f"layer {layer.name!r}: worst-case synaptic input {drive} "
                                 f"overflows Lava's int32 accumulator")
        encodings.append((forward, recurrent))
    return encodings


def encode_inputs(network: LoihiNetwork, inputs: torch.Tensor) -> np.ndarray:
    """Graded input payloads ``x_int`` int32 [N, T, F], exactly as the simulator encodes them.

    :func:`lprnn.snn.encode_input` does the rounding and refuses a wrong type or shape and
    payloads beyond the 24-bit graded spike; this adds the check that the first layer's
    weighted sum fits Lava's int32 accumulator.
    """
    x_int = snn.encode_input(network, inputs).numpy()
    forward, _ = layer_encodings(network.layers[0])
    drive = _max_drive(forward, np.abs(x_int).reshape(-1, network.n_inputs).max(axis=0))
    if drive > INT32_MAX:
        raise ValueError(f"layer {network.layers[0].name!r}: synaptic input {drive} from these "
                         f"inputs overflows Lava's int32 accumulator")
    return x_int.astype(np.int32)
