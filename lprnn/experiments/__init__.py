"""The experiments behind every results row: one function per README row group.

Each takes the recipe (``recipe_name``) where it uses a trained model, the run size
(``size``: "quick", "default", "full") and the training ``seeds``, fills every budget it is not
given from the run size (:data:`lprnn.experiments.common.BUDGETS`; a value the caller passes is
never overridden), and returns an :class:`ExperimentResult`: its tables and its result rows.
A notebook's parameters are its experiment's arguments (:func:`notebook_parameters`).

=====================================  ==========================  ============
function                               README rows (experiment)    notebook
=====================================  ==========================  ============
:func:`sigma_delta_encoding`           sigma_delta_encoding/...    01
:func:`train_lprnn`                    train                       02
:func:`ann_to_snn`                     ann_to_snn, ..._sweep, ...  03
:func:`lava_equivalence`               lava_fixed_pt               04
:func:`weight_precision`               weight_precision            05
:func:`baselines_and_conversions`      baselines, conversions      06
:func:`temporal_tasks`                 temporal_tasks              07
:func:`energy`                         energy                      08
:func:`fsdd_generalization`            fsdd_sweep                  09
=====================================  ==========================  ============
"""

from lprnn.experiments.ann_to_snn import ann_to_snn
from lprnn.experiments.baselines import baselines_and_conversions
from lprnn.experiments.common import (BUDGETS, Budget, ExperimentResult, budget,
                                      calibration_inputs, check_parameters, figure_path,
                                      notebook_parameters)
from lprnn.experiments.encoding import sigma_delta_encoding
from lprnn.experiments.energy import energy
from lprnn.experiments.fsdd_sweep import fsdd_generalization
from lprnn.experiments.lava import lava_check, lava_equivalence
from lprnn.experiments.precision import weight_precision
from lprnn.experiments.temporal import temporal_tasks
from lprnn.experiments.training import train_lprnn

__all__ = ["BUDGETS", "Budget", "ExperimentResult", "ann_to_snn", "baselines_and_conversions",
           "budget", "calibration_inputs", "check_parameters", "energy", "figure_path",
           "fsdd_generalization", "lava_check", "lava_equivalence", "notebook_parameters",
           "sigma_delta_encoding", "temporal_tasks", "train_lprnn", "weight_precision"]
