"""The ANN layer: the low-pass RNN, its fixed-point quantizer, training and named recipes.

- :mod:`lprnn.ann.model`: ``LpLinear``, ``LpRNN``, ``LpRNNClassifier`` and ``ModelConfig``.
- :mod:`lprnn.ann.quantize`: the straight-through fixed-point weight quantizer.
- :mod:`lprnn.ann.train`: training loop, evaluation, checkpoints, ``load_or_train``.
- :mod:`lprnn.ann.recipes`: named training configurations per dataset and run size.
- :mod:`lprnn.ann.authors`: the authors' released HD checkpoint.

Imports only :mod:`lprnn.core` (and :mod:`lprnn.datasets` where a recipe loads its data).
"""
