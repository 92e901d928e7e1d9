"""A tiny in-memory suite and network for the baseline tests (no files, seconds of CPU).

Every task has labels in every domain, the tensors are seeded per (task, domain),
and the network is small enough for second-order MAML in float64.
"""

from __future__ import annotations

import torch

from domains.catalog import SUITES
from domains.episodes import EpisodeSampler, EpisodeShape
from domains.suite import DomainData, Split, Suite
from domains.tasks import TASK_NAMES
from methods.base import MethodConfig
from methods.network import NetworkConfig

TINY_NET = NetworkConfig(image_size=16, widths=(3, 4, 4, 5), decoder_width=3, ways=3)
SHAPE = EpisodeShape(shots=2, queries=3, ways=3)
CLASSES = 4
PER_CLASS = SHAPE.shots + SHAPE.queries
DOMAINS = {"meta_train": ["r0", "r1"], "meta_val": ["v0", "v1"], "meta_test": ["t0", "t1"]}


def _seed(*parts: str) -> int:
    return sum((i + 1) * ord(c) for i, c in enumerate("/".join(parts)))


def _unit(x: torch.Tensor, dim: int) -> torch.Tensor:
    return x / x.norm(dim=dim, keepdim=True).clamp_min(1e-6)


class ToySuite(Suite):
    """Random but deterministic images and labels for all four tasks."""

    name = "toy"

    def __init__(self, image_size: int = TINY_NET.image_size, samples: int = 8):
        self.image_size, self.samples = image_size, samples

    @property
    def tasks(self) -> tuple[str, ...]:
        return TASK_NAMES

    def split(self) -> Split:
        return Split(suite="toy", version=1, domains={t: {p: list(d) for p, d in DOMAINS.items()} for t in TASK_NAMES},
                     params={"image_size": self.image_size, "samples": self.samples})

    def load(self, task: str, domain: str) -> DomainData:
        g = torch.Generator().manual_seed(_seed(task, domain))
        s = self.image_size
        if task == "classification":
            n = CLASSES * PER_CLASS
            targets = torch.arange(CLASSES).repeat_interleave(PER_CLASS)
            images = torch.rand(n, 3, s, s, generator=g) * 0.5 + targets.view(-1, 1, 1, 1) / (2 * CLASSES)
            return DomainData(task, domain, images, targets)
        n = self.samples
        images = torch.rand(n, 3, s, s, generator=g)
        if task == "depth":
            targets = 1.0 + 4.0 * torch.rand(n, 1, s, s, generator=g)
            return DomainData(task, domain, images, targets, torch.rand(n, 1, s, s, generator=g) > 0.2)
        if task == "normals":
            targets = _unit(torch.randn(n, 3, s, s, generator=g), 1)
            return DomainData(task, domain, images, targets, torch.rand(n, 1, s, s, generator=g) > 0.2)
        q, _ = torch.linalg.qr(torch.randn(n, 3, 3, generator=g))
        return DomainData(task, domain, images, q.transpose(1, 2).contiguous())


def toy_sampler() -> EpisodeSampler:
    suite = ToySuite()
    return EpisodeSampler(suite, suite.split(), SHAPE)


def toy_config(**overrides: object) -> MethodConfig:
    values: dict[str, object] = {"network": TINY_NET, "inner_steps": 2, "inner_lr": 0.05, "outer_lr": 1e-3,
                                 "meta_batch_size": 4}
    values.update(overrides)
    return MethodConfig(**values)  # type: ignore[arg-type]


# Importable as a spec plugin (``[runtime] plugins = ["_baseline_toys"]``): registers the suite as "toy".
if "toy" not in SUITES:
    SUITES.add("toy", ToySuite, "tiny in-memory suite for the baseline and tuning tests")
