"""A fixed reference workload timed beside the methods in the speed section: the speed gates' clock.

Speed gates need a per-method yardstick that machine load and machine speed move
as they move the methods, but that no change to the methods can move. A ratio of
two methods cancels the machine, but a slowdown of MAML then looks like a
speed-up of AFR, and a slowdown shared by every method (the backbone) is
invisible. This workload is a plain convolutional network built here from
``torch.nn`` alone (it imports nothing from ``methods/``), run forward and
backward on fixed seeded tensors with the same thread count as the methods.
Timed once in every pair of the speed section, it lets a gate compare
``method time / yardstick time`` against the baseline's, pair position by pair
position, so each method's slowdown is seen on its own.
"""

from __future__ import annotations

import time

import torch
from torch import nn

NAME = "yardstick"  # the method name its samples carry in the store
PHASE = "yardstick"
CPU_SUFFIX = ":cpu"  # phase-name suffix of CPU-time samples in the speed section
_IMAGES = 8  # a support-set-sized batch
_SIDE = 32  # the smoke suite's image side


class Yardstick:
    """One forward + backward pass of a fixed 4-stage CNN on fixed inputs (about a meta-train step's op mix)."""

    def __init__(self, device: torch.device, seed: int = 0):
        gen = torch.Generator().manual_seed(seed)
        layers: list[nn.Module] = []
        widths = (3, 8, 16, 16, 32)
        for cin, cout in zip(widths, widths[1:], strict=False):
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.LazyLinear(5)).to(device)
        self.images = torch.randn(_IMAGES, 3, _SIDE, _SIDE, generator=gen).to(device)
        self.labels = torch.randint(0, 5, (_IMAGES,), generator=gen).to(device)
        self.device = device
        self.run()  # materialises the lazy layer and warms the allocator

    def run(self) -> None:
        self.net.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(self.net(self.images), self.labels)
        loss.backward()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def seconds(self) -> tuple[float, float]:
        """Wall-clock and CPU seconds of one pass (the same clocks as the methods' phases)."""
        start, cpu = time.perf_counter(), time.process_time()
        self.run()
        return time.perf_counter() - start, time.process_time() - cpu
