"""Episodes from SynthRooms: one tensor layout per task, and identical tensors for every method."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from domains.catalog import SUITES
from domains.episodes import EpisodeSampler, EpisodeShape

SHAPE = EpisodeShape(shots=5, queries=10, ways=5)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    path = tmp_path_factory.mktemp("cache")
    SUITES["synthrooms"](profile="tiny", cache_dir=path, workers=1, progress=False).prepare()
    return path


def _sampler(cache) -> EpisodeSampler:
    """What one method gets: its own suite object and sampler (nothing shared in memory)."""
    suite = SUITES["synthrooms"](profile="tiny", cache_dir=cache, workers=1, progress=False)
    return EpisodeSampler(suite, suite.split(), SHAPE)


def _tensors(episode) -> list[torch.Tensor]:
    out = [episode.support.images, episode.support.targets, episode.query.images, episode.query.targets]
    out += [m for m in (episode.support.mask, episode.query.mask) if m is not None]
    return out


def test_two_methods_receive_identical_episode_tensors(cache) -> None:
    maml, afr = _sampler(cache), _sampler(cache)
    for task in maml.tasks:
        for stream in ("train", "test"):
            domain = maml.domains(task, stream)[0]
            for index in range(3):
                a = maml.episode(stream, task, domain, seed_index=1, episode_index=index)
                b = afr.episode(stream, task, domain, seed_index=1, episode_index=index)
                assert a.key == b.key
                for x, y in zip(_tensors(a), _tensors(b), strict=True):
                    assert torch.equal(x, y)
    batch_a = maml.meta_batch(seed_index=0, step=3, batch_size=4)
    batch_b = afr.meta_batch(seed_index=0, step=3, batch_size=4)
    for a, b in zip(batch_a, batch_b, strict=True):
        assert a.key == b.key and all(torch.equal(x, y) for x, y in zip(_tensors(a), _tensors(b), strict=True))


def test_episodes_change_with_seed_and_index(cache) -> None:
    s = _sampler(cache)
    domain = s.domains("depth", "test")[0]
    base = s.episode("test", "depth", domain, 0, 0)
    assert not torch.equal(base.query.images, s.episode("test", "depth", domain, 1, 0).query.images)
    assert not torch.equal(base.query.images, s.episode("test", "depth", domain, 0, 1).query.images)


@pytest.mark.parametrize("task,target_shape,has_mask", [
    ("depth", (1, 32, 32), True), ("normals", (3, 32, 32), True), ("vanishing_point", (3, 3), False)])
def test_geometric_episode_layouts(cache, task, target_shape, has_mask) -> None:
    s = _sampler(cache)
    ep = s.episode("test", task, s.domains(task, "test")[0], 0, 0)
    for batch, n in ((ep.support, SHAPE.shots), (ep.query, SHAPE.queries)):
        assert batch.images.shape == (n, 3, 32, 32) and batch.images.dtype == torch.float32
        assert batch.targets.shape == (n, *target_shape) and batch.targets.dtype == torch.float32
        assert (batch.mask is not None) == has_mask
        if has_mask:
            assert batch.mask.shape == (n, 1, 32, 32) and batch.mask.dtype == torch.bool
    # support and query are different views
    flat_s = ep.support.images.flatten(1)
    flat_q = ep.query.images.flatten(1)
    assert not any(torch.equal(a, b) for a in flat_s for b in flat_q)


def test_classification_test_episodes_use_unseen_classes(cache) -> None:
    s = _sampler(cache)
    split = s.split
    domain = s.domains("classification", "test")[0]
    data = s.domain_data("classification", domain)
    ep = s.episode("test", "classification", domain, 0, 2)
    assert ep.ways == SHAPE.ways
    assert ep.support.targets.dtype == torch.int64
    assert sorted(ep.support.targets.tolist()) == sorted(list(range(SHAPE.ways)) * SHAPE.shots)
    assert sorted(ep.query.targets.tolist()) == sorted(list(range(SHAPE.ways)) * SHAPE.queries)
    flat = data.images.flatten(1)
    for image in ep.support.images:  # map each image back to its global class
        match = torch.nonzero((flat == image.flatten()).all(1)).flatten()
        assert len(match) == 1
        global_class = int(data.targets[match[0]])
        assert global_class in split.classes["meta_test"]
        assert global_class not in split.classes["meta_train"]
    # one episode label = one global class
    labels = {}
    for image, label in zip(ep.support.images, ep.support.targets):
        match = int(torch.nonzero((flat == image.flatten()).all(1)).flatten()[0])
        labels.setdefault(int(label), set()).add(int(data.targets[match]))
    assert all(len(v) == 1 for v in labels.values()) and len(set().union(*labels.values())) == SHAPE.ways
    assert np.all(np.isin(data.targets.numpy(), split.classes["meta_test"]))
