"""Is a geometric task learnable at all, and what holds it back? Plain supervised training, no meta-learning.

Trains the shared backbone plus one task head on every image of the SynthRooms meta-train
environments (mini-batches, Adam) and scores the meta-test environments against the
``constant`` control (the meta-train prior, no image input). Each switch isolates one
suspect: the vanishing-point head (global pooling vs a spatial head), the loss (a fixed axis
order vs one invariant to the order of the Manhattan axes, as the metric is), the image size,
and the number of images seen (``--steps`` x ``--batch``). Used to find why `standard` did not
learn vanishing points; the numbers are in the closing note of issue 11.

    python tools/diagnose_geometry.py --task vanishing_point --head pool --loss fixed --steps 300
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from domains.catalog import SUITES
from domains.episodes import Batch
from domains.metrics import evaluate, primary_metric
from methods.controls import constant_prediction, fit_constant
from methods.losses import task_loss
from methods.network import MultiTaskNet, NetworkConfig


def _stack(suite, task: str, domains: list[str]) -> Batch:
    parts = [suite.load(task, d) for d in domains]
    mask = None if parts[0].mask is None else torch.cat([p.mask for p in parts])
    return Batch(torch.cat([p.images for p in parts]), torch.cat([p.targets for p in parts]), mask)


def _score(task: str, pred_fn, batch: Batch, chunk: int = 64) -> float:
    metric = primary_metric(task).name
    values = []
    for i in range(0, len(batch), chunk):
        part = Batch(batch.images[i:i + chunk], batch.targets[i:i + chunk],
                     None if batch.mask is None else batch.mask[i:i + chunk])
        with torch.no_grad():
            values.append(evaluate(task, pred_fn(part.images), part)[metric] * len(part))
    return sum(values) / len(batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="vanishing_point", choices=["depth", "normals", "vanishing_point"])
    parser.add_argument("--head", default=None, help="vanishing_point head: pool | spatial (default: the network's)")
    parser.add_argument("--loss", default=None, help="vanishing_point loss: fixed | matched (default: the shipped one)")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--widths", default="16,32,48,64")
    parser.add_argument("--decoder-width", type=int, default=16)
    parser.add_argument("--eval-every", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)

    suite = SUITES.get("synthrooms")(profile="standard", image_size=args.size, progress=False)
    split = suite.split()
    train = _stack(suite, args.task, split.domains[args.task]["meta_train"])
    test = _stack(suite, args.task, split.domains[args.task]["meta_test"])
    prior = fit_constant(args.task, train)
    constant = _score(args.task, lambda x: constant_prediction(args.task, prior, x.shape[0]), test)
    options = {}
    if args.head:
        options["vp_head"] = args.head
    config = NetworkConfig(image_size=args.size, widths=tuple(int(w) for w in args.widths.split(",")),
                           decoder_width=args.decoder_width, ways=5, **options)
    net = MultiTaskNet(config, (args.task,))
    if args.loss:
        import methods.losses as losses

        losses.VP_LOSS = args.loss
    optimiser = torch.optim.Adam(net.parameters(), lr=args.lr)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    print(f"task {args.task} size {args.size} head {args.head} loss {args.loss}: {len(train)} train / "
          f"{len(test)} test images; constant {constant:.3f}", flush=True)
    for step in range(1, args.steps + 1):
        idx = torch.from_numpy(rng.choice(len(train), size=args.batch, replace=False))
        batch = Batch(train.images[idx], train.targets[idx], None if train.mask is None else train.mask[idx])
        optimiser.zero_grad()
        loss = task_loss(args.task, net(batch.images, args.task), batch)
        loss.backward()
        optimiser.step()
        if step % args.eval_every == 0 or step == args.steps:
            value = _score(args.task, lambda x: net(x, args.task), test)
            print(f"step {step:5d} ({step * args.batch / len(train):.1f} epochs, {time.perf_counter() - start:.0f}s) "
                  f"loss {loss.item():.4f} test {value:.3f} (constant {constant:.3f}, "
                  f"reduction {(constant - value) / constant:+.1%})", flush=True)


if __name__ == "__main__":
    main()
