"""The functional core: pure step functions with explicit state and parameters.

- :mod:`lprnn.core.lowpass`: the lpRNN / lpLinear update (float, differentiable).
- :mod:`lprnn.core.sigma_delta`: the adaptive ΣΔ neuron, float and Loihi fixed point.
- :mod:`lprnn.core.integrate_fire`: the plain rate-coded integrate-and-fire neuron the
  baselines and notebook 01 compare with.

Modules, simulators and Lava ProcessModels are thin shells over these functions.
"""
