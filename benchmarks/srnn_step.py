"""Milliseconds per training batch: lprnn's adaptive SRNN against the same network step by step.

The plain version is Yin et al.'s adaptive LIF written the straightforward way, autograd
recording every step (``tests/oracles/adaptive_lif.py``, the oracle of the gradient test); lprnn's
``adaptive_lif_scan`` runs the same equations with its gradient written out. Both share the
model's weights, input projection and leaky readout, the loss and the Adam step, and start from
the same weights. Reported: median over ``--repeats`` batches after ``--warmup`` batches, and
the ratio plain / lprnn.

    python benchmarks/srnn_step.py                       # notebook 06's default: 80-128-20, batch 64, 110 steps
    python benchmarks/srnn_step.py --hidden 512 --threads 2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.train_step import compare_training  # noqa: E402
from tests.oracles.adaptive_lif import adaptive_lif_autograd  # noqa: E402

from lprnn.baselines import AdaptiveSRNN, BaselineConfig  # noqa: E402


class PlainAdaptiveSRNN(nn.Module):
    """The SRNN of ``reference`` with its adaptive-LIF layers run by the step-by-step oracle."""

    def __init__(self, reference: AdaptiveSRNN):
        super().__init__()
        self.reference = reference

    def forward(self, x: Tensor) -> Tensor:
        h = x
        for layer in self.reference.rnn_layers:
            h = adaptive_lif_autograd(layer.linear(h), layer.linear_hh.weight, layer.tau_m,
                                      layer.tau_adp)
        logits = self.reference.out(h)
        return logits[:, x.shape[1] // 2:].mean(dim=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=110, help="sequence length T")
    parser.add_argument("--hidden", type=int, nargs="+", default=[128], help="layer widths")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = AdaptiveSRNN(BaselineConfig(n_inputs=80, hidden_sizes=tuple(args.hidden),
                                        n_classes=20))
    plain = PlainAdaptiveSRNN(model)
    x = torch.randn(args.batch_size, args.steps, 80) * 2
    y = torch.randint(0, 20, (args.batch_size,))
    title = (f"adaptive SRNN 80-{'-'.join(map(str, args.hidden))}-20, batch {args.batch_size}, "
             f"{args.steps} steps")
    compare_training(title, model, plain, x, y, args.warmup, args.repeats)


if __name__ == "__main__":
    main()
