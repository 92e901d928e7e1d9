"""Episodes: the (task, domain) draws every method is scored on.

Every random choice here is seeded from (split hash, stream, task, domain,
seed index, episode index) and never from the method, so two methods given the
same seed index receive byte-identical tensors. That pairing is what makes the
paired statistics in ``reports`` valid.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch

from domains.seeds import derive_seed as derive_seed  # re-exported: callers look for episode seeds here
from domains.suite import DataError, DomainData, Split, Suite

STREAMS = ("train", "val", "test")
_PART_OF_STREAM = {"train": "meta_train", "val": "meta_val", "test": "meta_test"}


@dataclass(frozen=True)
class EpisodeKey:
    split_hash: str
    stream: str  # train | val | test
    task: str
    domain: str
    seed_index: int
    episode_index: int

    @property
    def seed(self) -> int:
        return derive_seed(self.split_hash, self.stream, self.task, self.domain, self.seed_index, self.episode_index)


@dataclass
class Batch:
    """images N3HW float32; targets and mask in the task's layout (see domains.tasks)."""

    images: torch.Tensor
    targets: torch.Tensor
    mask: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> Batch:
        return Batch(self.images.to(device), self.targets.to(device),
                     None if self.mask is None else self.mask.to(device))

    def __len__(self) -> int:
        return int(self.images.shape[0])


@dataclass
class Episode:
    """A support set to adapt on and a query set to score. ``ways`` is set for classification."""

    key: EpisodeKey
    support: Batch
    query: Batch
    ways: int | None = None

    @property
    def task(self) -> str:
        return self.key.task

    @property
    def domain(self) -> str:
        return self.key.domain

    def to(self, device: torch.device | str) -> Episode:
        return Episode(self.key, self.support.to(device), self.query.to(device), self.ways)


@dataclass(frozen=True)
class EpisodeShape:
    # No defaults: the values come from the spec (``bench.spec.EpisodesSpec`` holds the defaults, once).
    shots: int  # support images per class (classification) or per episode (geometric)
    queries: int  # query images per class (classification) or per episode (geometric)
    ways: int


class EpisodeSampler:
    """Draws episodes from a suite under a split. Domain tensors are cached (LRU) in memory."""

    def __init__(self, suite: Suite, split: Split, shape: EpisodeShape, tasks: tuple[str, ...] | None = None,
                 cache_domains: int = 256):
        self.suite, self.split, self.shape = suite, split, shape
        self.tasks = tuple(tasks) if tasks is not None else split.tasks()
        suite.require_tasks(self.tasks)
        self.split_hash = split.sha256
        self._cache: OrderedDict[tuple[str, str], DomainData] = OrderedDict()
        self._cache_size = cache_domains

    # ---- what exists -------------------------------------------------------
    def domains(self, task: str, stream: str) -> list[str]:
        return list(self.split.domains[task][_PART_OF_STREAM[stream]])

    def allowed_classes(self, stream: str) -> list[int] | None:
        if self.split.classes is None:
            return None
        return list(self.split.classes[_PART_OF_STREAM[stream]])

    def domain_data(self, task: str, domain: str) -> DomainData:
        key = (task, domain)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        data = self.suite.load(task, domain)
        if len(data) == 0:
            raise DataError(f"suite '{self.suite.name}': domain '{domain}' of task '{task}' has no samples")
        self._cache[key] = data
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return data

    # ---- drawing -----------------------------------------------------------
    def episode(self, stream: str, task: str, domain: str, seed_index: int, episode_index: int) -> Episode:
        key = EpisodeKey(self.split_hash, stream, task, domain, seed_index, episode_index)
        rng = np.random.default_rng(key.seed)
        data = self.domain_data(task, domain)
        if task == "classification":
            return self._classification_episode(key, rng, data, stream)
        need = self.shape.shots + self.shape.queries
        if len(data) < need:
            raise DataError(f"domain '{domain}' of task '{task}' has {len(data)} samples; an episode needs "
                            f"{need} (shots {self.shape.shots} + queries {self.shape.queries}). Lower them in the spec.")
        order = torch.from_numpy(rng.permutation(len(data))[:need])
        return Episode(key, _take(data, order[: self.shape.shots]), _take(data, order[self.shape.shots:]))

    def _classification_episode(self, key: EpisodeKey, rng: np.random.Generator, data: DomainData,
                                stream: str) -> Episode:
        shots, queries, ways = self.shape.shots, self.shape.queries, self.shape.ways
        labels = data.targets.numpy()
        allowed = self.allowed_classes(stream)
        present, counts = np.unique(labels, return_counts=True)
        usable = [int(c) for c, n in zip(present, counts) if n >= shots + queries and (allowed is None or c in allowed)]
        if len(usable) < ways:
            raise DataError(f"domain '{key.domain}' ({stream}) has {len(usable)} classes with at least "
                            f"{shots + queries} images; a {ways}-way episode needs {ways}. Lower ways/shots/queries.")
        chosen = rng.choice(np.array(usable), size=ways, replace=False)
        support_idx, query_idx, support_y, query_y = [], [], [], []
        for new_label, cls in enumerate(chosen):
            idx = rng.permutation(np.flatnonzero(labels == cls))[: shots + queries]
            support_idx += idx[:shots].tolist()
            query_idx += idx[shots:].tolist()
            support_y += [new_label] * shots
            query_y += [new_label] * queries
        s_perm, q_perm = rng.permutation(len(support_idx)), rng.permutation(len(query_idx))
        s_idx = torch.tensor(support_idx)[s_perm]
        q_idx = torch.tensor(query_idx)[q_perm]
        support = Batch(data.images[s_idx], torch.tensor(support_y, dtype=torch.int64)[s_perm])
        query = Batch(data.images[q_idx], torch.tensor(query_y, dtype=torch.int64)[q_perm])
        return Episode(key, support, query, ways=ways)

    def meta_batch(self, seed_index: int, step: int, batch_size: int, stream: str = "train") -> list[Episode]:
        """A heterogeneous meta-batch: tasks cycle so every batch mixes all of them; domains are seeded."""
        episodes = []
        for j in range(batch_size):
            task = self.tasks[(step * batch_size + j) % len(self.tasks)]
            domains = self.domains(task, stream)
            pick = np.random.default_rng(derive_seed(self.split_hash, stream, "domain-pick", seed_index, step, j))
            domain = domains[int(pick.integers(len(domains)))]
            episodes.append(self.episode(stream, task, domain, seed_index, step * batch_size + j))
        return episodes


def _take(data: DomainData, idx: torch.Tensor) -> Batch:
    return Batch(data.images[idx], data.targets[idx], None if data.mask is None else data.mask[idx])
