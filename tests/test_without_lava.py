"""Without Lava installed, the core, the simulator and the built-in dataset path still work."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from lprnn import config

SCRIPT = textwrap.dedent("""
    import importlib.abc, sys

    class BlockLava(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "lava" or name.startswith("lava."):
                raise ImportError(f"blocked for the test: {name}")
            return None

    sys.meta_path.insert(0, BlockLava())
    import torch
    import lprnn.core.sigma_delta, lprnn.core.conventions, lprnn.snn, lprnn.ann.train
    from lprnn.ann.model import LpRNNClassifier, ModelConfig
    from lprnn.datasets import load_dataset
    test = load_dataset("digits", "test", quick=True)
    model = LpRNNClassifier(ModelConfig(n_inputs=test.n_features, ff_size=8, rnn_sizes=(8,),
                                        n_classes=test.n_classes)).eval()
    network = lprnn.snn.map_network(model, 2, calibration=test.features[:2])
    result = lprnn.snn.simulate(network, test.features[:2])
    assert result.logits.shape == (2, test.n_classes)
    assert not any(m == "lava" or m.startswith("lava.") for m in sys.modules)
    try:
        import lprnn.snn.lava.runner
    except ImportError as err:
        print("lava blocked:", err)
    print("ok")
""")


def test_core_simulator_and_digits_run_with_lava_blocked():
    env = dict(os.environ, PYTHONPATH=str(config.REPO_ROOT), OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok") and "lava blocked" in done.stdout
