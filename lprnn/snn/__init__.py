"""The SNN layer: the mapped network, the mapper, the fixed-point simulator and what runs it.

- :mod:`lprnn.snn.network`: ``LoihiNetwork``, the serializable mapped network.
- :mod:`lprnn.snn.mapper`: ``map_network`` (lpRNN → adaptive ΣΔ neurons with Loihi integers).
- :mod:`lprnn.snn.simulator`: the batched, bit-exact fixed-point simulator (``simulate``);
  :mod:`lprnn.snn.kernel`: its compiled, event-driven C path.
- :mod:`lprnn.snn.resources`, :mod:`lprnn.snn.energy`: cores, activity and energy estimates.
- :mod:`lprnn.snn.export`: Lava-ready files (``.npz`` + JSON, netx HDF5).
- :mod:`lprnn.snn.encoding`: one neuron encoding a signal (ΣΔ vs. rate-coded IF).
- :mod:`lprnn.snn.lava`: the Lava backend, the only place Lava is imported.

``lprnn.snn.simulate`` and friends are re-exported from :mod:`lprnn.snn.simulator`.
"""

from lprnn.snn.simulator import (BACKENDS, READOUT_SOURCES, Comparison, SaturationError,
                                 SimulationResult, compare_with_ann, decoded_correlation,
                                 encode_input, simulate)

__all__ = ["BACKENDS", "READOUT_SOURCES", "Comparison", "SaturationError", "SimulationResult",
           "compare_with_ann", "decoded_correlation", "encode_input", "simulate"]
