"""The SNN layer: the mapped network, the mapper, the fixed-point simulator and what runs it.

- :mod:`lprnn.snn.network`: ``LoihiNetwork``, the serializable mapped network.
- :mod:`lprnn.snn.mapper`: ``map_network`` (lpRNN → adaptive ΣΔ neurons with Loihi integers);
  ``lprnn.snn.map_network`` is it with the simulator's calibration check.
- :mod:`lprnn.snn.simulator`: the batched, bit-exact fixed-point simulator (``simulate``);
  :mod:`lprnn.snn.kernel`: its compiled, event-driven C path.
- :mod:`lprnn.snn.resources`, :mod:`lprnn.snn.energy`: cores, activity and energy estimates.
- :mod:`lprnn.snn.export`: Lava-ready files (``.npz`` + JSON, netx HDF5).
- :mod:`lprnn.snn.encoding`: one neuron encoding a signal (ΣΔ vs. rate-coded IF).
- :mod:`lprnn.snn.lava`: the Lava backend, the only place Lava is imported.

``lprnn.snn.simulate`` and friends are re-exported from :mod:`lprnn.snn.simulator`.
"""

from typing import Any

from lprnn.snn.network import READOUT_SOURCES, LoihiNetwork
from lprnn.snn.simulator import (BACKENDS, Comparison, SaturationError, SimulationResult,
                                 compare_with_ann, decoded_correlation, encode_input, simulate,
                                 state_max)
from lprnn.snn import mapper


def map_network(model: Any, steps_per_ann_step: int = 10, **options: Any) -> LoihiNetwork:
    """:func:`lprnn.snn.mapper.map_network` with the simulator checking the scales on the
    ``calibration`` inputs (the mapper itself does not import the simulator)."""
    return mapper.map_network(model, steps_per_ann_step, state_max=state_max, **options)


__all__ = ["BACKENDS", "READOUT_SOURCES", "Comparison", "SaturationError", "SimulationResult",
           "compare_with_ann", "decoded_correlation", "encode_input", "map_network", "simulate",
           "state_max"]
