"""Milliseconds per training batch: lprnn's LpRNNClassifier against a plain per-step version.

The plain version is the same network written the straightforward way (as the authors' code
does): every layer applies its ``nn.Linear`` to x_t inside the time loop, and autograd records
every step. Both quantize weights and biases to the same fixed point once per batch, use the
same loss, clipping and Adam step, and start from the same weights. One batch = forward,
backward, clipping, optimizer step. Reported: median over ``--repeats`` batches after
``--warmup`` batches, and the ratio plain / lprnn.

    python benchmarks/train_step.py                      # paper network, batch 64, 187 steps
    python benchmarks/train_step.py --threads 2 --repeats 5
    python benchmarks/train_step.py --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from lprnn.ann.model import LpRNNClassifier, ModelConfig
from lprnn.ann.quantize import quantize


class PlainLowpassClassifier(nn.Module):
    """The paper network with the per-step loop of the authors' code, sharing the weights of an
    LpRNNClassifier: z_t = W x_t + U h_{t-1} + b, h_t = α h_{t-1} + (1 − α) clamp(z_t, 0, a_max)."""

    def __init__(self, reference: LpRNNClassifier):
        super().__init__()
        self.reference = reference

    def forward(self, x: Tensor) -> Tensor:
        config, fmt = self.reference.config, self.reference.config.weight_format
        alpha = config.retention_ratio

        def q(tensor: Tensor) -> Tensor:
            return tensor if fmt is None else quantize(tensor, fmt)

        layers = [(q(self.reference.lpff.linear.weight), q(self.reference.lpff.linear.bias), None)]
        layers += [(q(layer.linear.weight), q(layer.linear.bias), q(layer.linear_hh.weight))
                   for layer in self.reference.rnn_layers]
        out_w, out_b = q(self.reference.out.linear.weight), q(self.reference.out.linear.bias)
        states = [x.new_zeros(x.shape[0], w.shape[0]) for w, _, _ in layers]
        step_logits = []
        for t in range(x.shape[1]):
            layer_input = x[:, t]
            for i, (w, b, u) in enumerate(layers):
                z = F.linear(layer_input, w, b)
                if u is not None:
                    z = z + F.linear(states[i], u)
                states[i] = alpha * states[i] + (1 - alpha) * torch.clamp(z, 0, config.a_max)
                layer_input = states[i]
            step_logits.append(F.linear(layer_input, out_w, out_b))
        logits = torch.stack(step_logits, dim=1)
        return logits[:, x.shape[1] // 2:].mean(dim=1)


def time_training_batches(model: nn.Module, parameters: list[nn.Parameter], x: Tensor, y: Tensor,
                          warmup: int, repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` training batches (after ``warmup`` untimed ones)."""
    optimizer = torch.optim.Adam(parameters, lr=1e-3)
    seconds = []
    for i in range(warmup + repeats):
        start = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(parameters, 2.0)
        nn.utils.clip_grad_value_(parameters, 2.0)
        optimizer.step()
        if x.is_cuda:
            torch.cuda.synchronize()
        if i >= warmup:
            seconds.append(time.perf_counter() - start)
    return seconds


def compare_training(title: str, model: nn.Module, plain: nn.Module, x: Tensor, y: Tensor,
                     warmup: int, repeats: int) -> None:
    """Print ``title`` with the thread count and the largest logit difference of ``model`` and
    ``plain`` (which trains ``model``'s parameters), then the median milliseconds per training
    batch of each, from ``model``'s initial weights, and their ratio."""
    with torch.no_grad():
        difference = float((model(x) - plain(x)).abs().max())
    print(f"{title}, {torch.get_num_threads()} threads; max |logit difference| = {difference:.2e}")
    results = {}
    for name, module in (("lprnn", model), ("plain per-step", plain)):
        initial = {k: v.clone() for k, v in model.state_dict().items()}
        seconds = time_training_batches(module, list(model.parameters()), x, y, warmup, repeats)
        model.load_state_dict(initial)
        results[name] = statistics.median(seconds) * 1e3
        print(f"{name:>15}: {results[name]:8.1f} ms per training batch (median of {repeats})")
    print(f"speed-up: {results['plain per-step'] / results['lprnn']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=187, help="sequence length T")
    parser.add_argument("--ff-size", type=int, default=128)
    parser.add_argument("--rnn-sizes", type=int, nargs="+", default=[512, 512])
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = LpRNNClassifier(ModelConfig(ff_size=args.ff_size, rnn_sizes=tuple(args.rnn_sizes)))
    model.to(args.device)
    plain = PlainLowpassClassifier(model)
    x = torch.randn(args.batch_size, args.steps, model.config.n_inputs, device=args.device)
    y = torch.randint(0, model.config.n_classes, (args.batch_size,), device=args.device)
    title = (f"network {model.config.n_inputs}-{args.ff_size}-{'-'.join(map(str, args.rnn_sizes))}"
             f"-{model.config.n_classes}, batch {args.batch_size}, {args.steps} steps, {args.device}")
    compare_training(title, model, plain, x, y, args.warmup, args.repeats)


if __name__ == "__main__":
    main()
