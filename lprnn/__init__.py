"""lprnn: low-pass RNNs with k-bit weights, mapped to adaptive sigma-delta spiking neurons.

Companion to Boeshertz, Indiveri, Nair, Renner, "Accurate Mapping of RNNs on Neuromorphic
Hardware with Adaptive Spiking Neurons", ICONS 2024 (arXiv:2407.13534).

The core (model, quantizer, training, mapper, simulator) needs only torch and numpy;
Lava is imported only by :mod:`lprnn.snn.lava`.
"""

__version__ = "0.1.0"
