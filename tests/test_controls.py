"""The controls (methods/controls.py) on hand-computed cases, and every method's before-adaptation learner."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from domains.episodes import Batch, Episode, EpisodeKey
from domains.metrics import accuracy, vp_errors
from methods.base import MethodConfig, NullClock
from methods.controls import (
    Constant,
    ProtoNet,
    Scratch,
    constant_prediction,
    fit_constant,
    mean_manhattan_frame,
)
from methods.network import MultiTaskNet, NetworkConfig

NET = NetworkConfig(image_size=16, widths=(4, 4, 8, 8), decoder_width=4, ways=3)
CONFIG = MethodConfig(network=NET, inner_steps=1, inner_lr=0.1, outer_lr=1e-3, meta_batch_size=2)
TASKS = ("classification", "depth", "normals", "vanishing_point")


def _key(task: str) -> EpisodeKey:
    return EpisodeKey("split", "test", task, "d0", 0, 0)


def _yaw(deg: float) -> torch.Tensor:
    """Rows = camera-frame directions of a frame turned by ``deg`` about the vertical (z) axis."""
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def test_constant_classification_is_chance_on_balanced_queries() -> None:
    prior = fit_constant("classification", None, ways=3)  # type: ignore[arg-type]
    logits = constant_prediction("classification", prior, 6)
    query = Batch(torch.zeros(6, 3, 16, 16), torch.tensor([0, 1, 2, 0, 1, 2]))
    assert logits.shape == (6, 3)
    assert accuracy(logits, query) == pytest.approx(1 / 3)  # always class 0: 2 of 6 right


def test_constant_depth_is_the_per_pixel_median_of_valid_pixels() -> None:
    depth = torch.tensor([[[[1.0, 5.0]]], [[[2.0, 6.0]]], [[[3.0, 100.0]]]])  # 3 images, 1 x 1 x 2
    mask = torch.tensor([[[[True, True]]], [[[True, True]]], [[[True, False]]]])
    prior = fit_constant("depth", Batch(torch.zeros(3, 3, 1, 2), depth, mask))
    # pixel 0: median(1, 2, 3) = 2; pixel 1: the masked 100 is ignored, torch's median of (5, 6) is the lower, 5
    assert prior.tolist() == [[[2.0, 5.0]]]
    assert constant_prediction("depth", prior, 4).shape == (4, 1, 1, 2)


def test_constant_normals_is_the_normalised_mean_normal_map() -> None:
    normals = torch.tensor([[[[1.0]], [[0.0]], [[0.0]]], [[[0.0]], [[1.0]], [[0.0]]]])  # 2 images, 3 x 1 x 1
    prior = fit_constant("normals", Batch(torch.zeros(2, 3, 1, 1), normals, torch.ones(2, 1, 1, 1, dtype=torch.bool)))
    assert prior[:, 0, 0].tolist() == pytest.approx([1 / math.sqrt(2), 1 / math.sqrt(2), 0.0])


def test_constant_vanishing_points_average_rotations_not_raw_vectors() -> None:
    # +10 and -10 degrees of yaw average to the identity frame. The second copy of -10 has its rows
    # reordered and one sign flipped (the same directions to the metric), which a raw mean would break.
    minus = _yaw(-10.0)
    frames = torch.stack([_yaw(10.0), _yaw(10.0), minus, -minus[[1, 0, 2]]])
    mean = mean_manhattan_frame(frames)
    errors = vp_errors(mean.unsqueeze(0), Batch(torch.zeros(1, 3, 1, 1), torch.eye(3).unsqueeze(0)))
    assert errors.max() == pytest.approx(0.0, abs=1e-3)
    # the naive mean of the raw rows is not a frame at all (the flipped rows cancel the others)
    naive = frames.mean(0)
    assert torch.linalg.norm(naive, dim=1).min() < 0.9
    # a quarter-turn of yaw is the same Manhattan frame: the mean stays exact
    quarter = mean_manhattan_frame(torch.stack([_yaw(5.0), _yaw(95.0), _yaw(-85.0)]))
    errors = vp_errors(quarter.unsqueeze(0), Batch(torch.zeros(1, 3, 1, 1), _yaw(5.0).unsqueeze(0)))
    assert errors.max() == pytest.approx(0.0, abs=1e-3)


def test_constant_method_fits_the_meta_train_prior_and_ignores_images() -> None:
    class Sampler:
        def domains(self, task: str, stream: str) -> list[str]:
            return ["a", "b"]

        def domain_data(self, task: str, domain: str) -> Batch:
            value = 1.0 if domain == "a" else 3.0
            from domains.suite import DomainData

            return DomainData(task, domain, torch.zeros(2, 3, 2, 2), torch.full((2, 1, 2, 2), value),
                              torch.ones(2, 1, 2, 2, dtype=torch.bool))

    method = Constant(CONFIG, ("depth",), torch.device("cpu"), seed=0)
    method.meta_train(Sampler(), None, NullClock())  # type: ignore[arg-type]
    episode = Episode(_key("depth"), Batch(torch.rand(2, 3, 2, 2), torch.ones(2, 1, 2, 2)),
                      Batch(torch.rand(5, 3, 2, 2), torch.ones(5, 1, 2, 2)))
    pred = method.adapt(episode).predict(episode.query.images)
    # median of (1, 1, 3, 3) per pixel: torch's median takes the lower middle value, 1
    assert pred.shape == (5, 1, 2, 2) and torch.all(pred == 1.0)


def _classification_episode(ways: int = 3) -> Episode:
    g = torch.Generator().manual_seed(0)
    support = Batch(torch.rand(2 * ways, 3, 16, 16, generator=g), torch.arange(ways).repeat(2))
    query = Batch(torch.rand(ways, 3, 16, 16, generator=g), torch.arange(ways))
    return Episode(_key("classification"), support, query, ways=ways)


def test_scratch_starts_from_the_shared_fresh_initialisation_and_only_adapts() -> None:
    episode = _classification_episode()
    method = Scratch(CONFIG, TASKS, torch.device("cpu"), seed=7)
    log = method.meta_train(None, None, NullClock())  # type: ignore[arg-type]
    assert log.steps == []  # nothing meta-trained
    torch.manual_seed(7)
    fresh = MultiTaskNet(NET, TASKS)  # what every method builds at this seed
    before = method.before_adaptation(episode).predict(episode.query.images)
    with torch.no_grad():
        assert torch.allclose(before, fresh(episode.query.images, "classification"))
    # one SGD step at inner_lr on the support, by hand, gives the adapted prediction
    single = Scratch(dataclasses.replace(CONFIG, test_inner_steps=1), TASKS, torch.device("cpu"), 7)
    adapted = single.adapt(episode).predict(episode.query.images)
    optimiser = torch.optim.SGD(fresh.parameters(), lr=CONFIG.inner_lr)
    torch.nn.functional.cross_entropy(fresh(episode.support.images, "classification"), episode.support.targets).backward()
    optimiser.step()
    with torch.no_grad():
        assert torch.allclose(adapted, fresh(episode.query.images, "classification"), atol=1e-5)
    # adapting a copy leaves the control's own weights untouched
    assert torch.allclose(method.before_adaptation(episode).predict(episode.query.images), before)


def test_protonet_predicts_the_nearest_class_mean() -> None:
    method = ProtoNet(CONFIG, TASKS, torch.device("cpu"), seed=0)
    method.net.backbone.forward = lambda images, stage_weights=None: [images]  # features = the pixels
    support = Batch(torch.tensor([[0.0, 0.0], [2.0, 0.0], [10.0, 10.0], [10.0, 12.0]]).view(4, 2, 1, 1),
                    torch.tensor([0, 0, 1, 1]))
    # prototypes (1, 0) and (10, 11); (4, 3) is nearer the first, (7, 9) the second
    query = Batch(torch.tensor([[4.0, 3.0], [7.0, 9.0]]).view(2, 2, 1, 1), torch.tensor([0, 1]))
    episode = Episode(_key("classification"), support, query, ways=2)
    logits = method.adapt(episode).predict(query.images)
    expected = -torch.tensor([[9 + 9, 36 + 64], [36 + 81, 9 + 4]], dtype=torch.float32)
    assert torch.allclose(logits, expected)
    assert method.scores("classification") and not method.scores("depth")
    with pytest.raises(ValueError, match="classification only"):
        method.adapt(Episode(_key("depth"), support, query))


@pytest.mark.parametrize("name", ["afr", "maml", "fomaml", "anil", "metasgd", "maml-higher", "multitask",
                                  "afr-inline", "scratch"])
def test_before_adaptation_is_zero_steps_and_leaves_the_config_alone(name: str) -> None:
    from methods.registry import METHODS

    method = METHODS.get(name)(CONFIG, TASKS, torch.device("cpu"), seed=3)
    episode = _classification_episode()
    zero = METHODS.get(name)(dataclasses.replace(CONFIG, test_inner_steps=0), TASKS,
                             torch.device("cpu"), seed=3)
    before = method.before_adaptation(episode).predict(episode.query.images)
    assert torch.allclose(before, zero.adapt(episode).predict(episode.query.images), atol=1e-6)
    after = method.adapt(episode).predict(episode.query.images)
    assert not torch.allclose(before, after)  # one test-time step changed the prediction
    assert method.config.adapt_steps == CONFIG.adapt_steps


def test_multitask_trains_its_classification_head() -> None:
    from methods.multitask import MultiTask

    method = MultiTask(CONFIG, TASKS, torch.device("cpu"), seed=0)
    loss = method.query_loss(_classification_episode())
    loss.backward()
    head = method.net.heads["classification"].linear
    assert head.weight.grad is not None and float(head.weight.grad.abs().sum()) > 0
    assert np.isfinite(float(loss))
