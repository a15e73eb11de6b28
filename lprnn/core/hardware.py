"""Loihi fixed-point constants: every bit width, shift and limit, in one place.

The fixed-point neuron (:func:`lprnn.core.sigma_delta_step_fixed`), the mapper
(:mod:`lprnn.snn.mapper`), the simulator (:mod:`lprnn.snn`) and the Lava backend
(:mod:`lprnn.snn.lava`) all read these names; none of them spells a number of its own.

Sources: Lava's bit-accurate ``fixed_pt`` models (lava-nc 0.10: ``lava/proc/lif/models.py``,
``lava/proc/dense/models.py``, ``lava/utils/weightutils.py``), which model Loihi's arithmetic.
"""

from __future__ import annotations

# Neuron states (i_in, i_ip, v, i_fb) are 24-bit signed integers that saturate.
STATE_BITS = 24
STATE_MAX = 2 ** (STATE_BITS - 1) - 1
STATE_MIN = -STATE_MAX

# Decays are 12-bit: x <- sign(x) * ((|x| * (DECAY_UNITY - d) + offset) >> DECAY_SHIFT), with
# 0 <= d <= DECAY_UNITY and the offset of the neuron's decay rounding: "truncate" (offset 0,
# toward zero: Loihi 1 and Lava's fixed_pt LIF model) or "nearest" (half a unit: one add
# before the shift, which a Loihi 2 microcode neuron can do).
DECAY_SHIFT = 12
DECAY_UNITY = 2 ** DECAY_SHIFT
DECAY_ROUNDING_OFFSETS = {"truncate": 0, "nearest": DECAY_UNITY // 2}

# Synaptic weights as Lava's fixed_pt Dense holds them (lava/utils/weightutils.py): integers
# clipped to [-256, 255]; a mixed-sign matrix then loses its lowest bit (truncate_weights with
# num_weight_bits=8), i.e. an 8-bit signed mantissa m in [-128, 127] stored as 2*m. Mapped
# weights are therefore even integers in [WEIGHT_MIN, WEIGHT_MAX]. The exponent scales the
# summed input of a Dense: a_out = (W @ s) << weight_exp (>> for negative exponents).
WEIGHT_MANTISSA_BITS = 8
WEIGHT_MIN = -256
WEIGHT_MAX = 254
WEIGHT_EXP_MIN = -8
WEIGHT_EXP_MAX = 7

# Bias: signed 13-bit mantissa times 2**bias_exp.
BIAS_MANTISSA_BITS = 13
BIAS_MANTISSA_MAX = 2 ** (BIAS_MANTISSA_BITS - 1) - 1
BIAS_EXP_MIN = 0
BIAS_EXP_MAX = 7

# Graded spikes (the analog input injected into the first layer) carry up to 24 bits.
GRADED_SPIKE_BITS = 24
# Graded spikes between ΣΔ neurons (Loihi 2): this package sends payloads of 1 to
# NEURON_SPIKE_BITS_MAX bits (1 bit: the binary spike of Loihi 1 and of the paper).
NEURON_SPIKE_BITS_MAX = 8

# Extra synaptic delay of a connection (Lava's DelayDense, fixed_pt): 6 bits on Loihi 2.
SYNAPTIC_DELAY_MAX = 63


# ---------------------------------------------------------------------------------------------
# Loihi 2 per-chip and per-core limits (used by lprnn.snn.resources for the core-count estimate).
# Source: Intel Labs, "Taking Neuromorphic Computing to the Next Level with Loihi 2",
# Technology Brief (2021), Table 1 (Loihi vs Loihi 2): 128 neuron cores per chip, up to
# 1 million neurons and 120 million synapses per chip, 192 KB of flexibly allocated memory
# per neuron core (synapses, neuron state and routing share it), weights of 1 to 8 bits.
# Per-core neuron and synapse limits below are *derived* from the per-chip figures.
LOIHI2_CORES_PER_CHIP = 128
LOIHI2_NEURONS_PER_CHIP = 2 ** 20                 # "1 million" = 128 cores × 8192
LOIHI2_SYNAPSES_PER_CHIP = 120_000_000
LOIHI2_MEMORY_PER_CORE_BYTES = 192 * 1024
LOIHI2_NEURONS_PER_CORE = LOIHI2_NEURONS_PER_CHIP // LOIHI2_CORES_PER_CHIP            # derived: 8192
LOIHI2_SYNAPSES_PER_CORE = LOIHI2_SYNAPSES_PER_CHIP // LOIHI2_CORES_PER_CHIP          # derived: 937 500
LOIHI2_SOURCE = ("Intel Labs, 'Taking Neuromorphic Computing to the Next Level with Loihi 2', "
                 "Technology Brief, 2021, Table 1")
