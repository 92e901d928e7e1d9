"""The baselines train, adapt and fail the way the benchmark needs them to.

- every baseline meta-trains on heterogeneous meta-batches and predicts every task's layout;
- every method receives byte-identical episode tensors for the same seed index;
- test-time adaptation is the same plain SGD for maml, fomaml, maml-higher and multitask
  (same weights in, same predictions out) and never reads the query;
- a NaN loss raises DivergenceError naming the method and task (the runner records it).
"""

from __future__ import annotations

import hashlib

import pytest
import torch
from _baseline_toys import SHAPE, TINY_NET, toy_config, toy_sampler

from domains.episodes import Batch, Episode, EpisodeSampler
from domains.tasks import TASK_NAMES
from methods.base import Budget, DivergenceError, Method, NullClock
from methods.network import parameter_count
from methods.registry import METHODS

BASELINES = ("maml", "fomaml", "anil", "metasgd", "maml-higher", "multitask")
CPU = torch.device("cpu")


pytestmark = pytest.mark.usefixtures("one_thread")


def _build(name: str, seed: int = 3, **overrides: object) -> Method:
    return METHODS.get(name)(toy_config(**overrides), TASK_NAMES, CPU, seed=seed)


def _digest(episode: Episode) -> str:
    h = hashlib.sha256(repr(episode.key).encode())
    for batch in (episode.support, episode.query):
        for t in (batch.images, batch.targets, batch.mask):
            if t is not None:
                h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()


class RecordingSampler(EpisodeSampler):
    """Records a digest of every meta-train episode a method is handed, as it is handed over."""

    def __init__(self) -> None:
        base = toy_sampler()
        super().__init__(base.suite, base.split, base.shape)
        self.seen: list[str] = []

    def meta_batch(self, seed_index: int, step: int, batch_size: int, stream: str = "train") -> list[Episode]:
        episodes = super().meta_batch(seed_index, step, batch_size, stream)
        self.seen += [_digest(e) for e in episodes]
        return episodes


@pytest.mark.parametrize("name", BASELINES)
def test_meta_trains_on_mixed_tasks_and_predicts_every_layout(name: str) -> None:
    method = _build(name)
    before = [p.detach().clone() for p in method.net.parameters()]
    clock = NullClock()
    log = method.meta_train(toy_sampler(), Budget(steps=2), clock, seed_index=0)
    assert log.steps == [0, 1] and [s for s, _ in clock.logged] == [0, 1]
    assert all(torch.isfinite(torch.tensor(v)) for v in log.losses)
    assert set(log.task_losses[0]) == set(TASK_NAMES)  # batch of 4 cycles through the four tasks
    assert any(not torch.equal(a, b) for a, b in zip(before, method.net.parameters()))
    sampler = toy_sampler()
    for task in TASK_NAMES:
        episode = sampler.episode("test", task, "t0", seed_index=0, episode_index=0)
        pred = method.adapt(episode).predict(episode.query.images)
        n, s = len(episode.query), TINY_NET.image_size
        expected = {"classification": (n, SHAPE.ways), "depth": (n, 1, s, s), "normals": (n, 3, s, s),
                    "vanishing_point": (n, 3, 3)}[task]
        assert pred.shape == expected and torch.isfinite(pred).all()
        assert not pred.requires_grad


def test_every_method_receives_identical_episodes() -> None:
    """Every registered method (AFR and its ablations included), not only the baselines."""
    digests = {}
    assert set(BASELINES) <= set(METHODS.names())
    # test plugins (tests/bench_plugin.py) may register test-only methods in this worker: skip those
    shipped = [name for name in METHODS.names() if METHODS.get(name).__module__.startswith("methods.")]
    # the constant and scratch controls draw no meta-train episodes at all (nothing to pair)
    for name in ("constant", "scratch"):
        sampler = RecordingSampler()
        _build(name, seed=5).meta_train(sampler, Budget(steps=2), NullClock(), seed_index=1)
        assert sampler.seen == [], name
    shipped = [name for name in shipped if name not in ("constant", "scratch")]
    for name in shipped:
        sampler = RecordingSampler()
        _build(name, seed=5).meta_train(sampler, Budget(steps=2), NullClock(), seed_index=1)
        digests[name] = sampler.seen
    reference = digests["maml"]
    assert len(reference) == 2 * toy_config().meta_batch_size and len(set(reference)) == len(reference)
    for name, seen in digests.items():
        assert seen == reference, f"{name} saw different episodes from maml"
    other_seed = RecordingSampler()
    _build("maml", seed=5).meta_train(other_seed, Budget(steps=2), NullClock(), seed_index=2)
    assert other_seed.seen != reference  # the seed index does change the draw


@pytest.mark.parametrize("name", BASELINES)
def test_meta_training_does_not_alter_episode_tensors(name: str) -> None:
    sampler = toy_sampler()
    episodes = sampler.meta_batch(0, 0, 4)
    before = [_digest(e) for e in episodes]
    method = _build(name)
    method.outer_step(episodes, method.make_outer_optimiser())
    assert [_digest(e) for e in episodes] == before


@pytest.mark.parametrize("task", TASK_NAMES)
def test_test_time_adaptation_is_the_same_sgd_for_every_full_network_method(task: str) -> None:
    episode = toy_sampler().episode("test", task, "t1", seed_index=0, episode_index=1)
    reference = _build("maml", test_inner_steps=3)
    preds = {}
    for name in ("maml", "fomaml", "maml-higher", "multitask"):
        method = _build(name, test_inner_steps=3)
        method.net.load_state_dict(reference.net.state_dict())
        preds[name] = method.adapt(episode).predict(episode.query.images)
    unadapted = _build("maml", test_inner_steps=0)
    unadapted.net.load_state_dict(reference.net.state_dict())
    before = unadapted.adapt(episode).predict(episode.query.images)
    assert (preds["maml"] - before).abs().max() > 1e-6  # adaptation did something
    for name, pred in preds.items():
        torch.testing.assert_close(pred, preds["maml"], rtol=1e-5, atol=1e-6, msg=lambda m, n=name: f"{n}: {m}")


@pytest.mark.parametrize("name", BASELINES)
def test_adaptation_reads_support_only_and_keeps_meta_parameters(name: str) -> None:
    episode = toy_sampler().episode("test", "depth", "t0", seed_index=0, episode_index=2)
    method = _build(name)
    state = {k: v.clone() for k, v in method.net.state_dict().items()}
    poisoned = Episode(episode.key, episode.support,
                       Batch(torch.full_like(episode.query.images, float("nan")), episode.query.targets * float("nan"),
                             episode.query.mask))
    probe = episode.query.images
    a = method.adapt(episode).predict(probe)
    b = method.adapt(poisoned).predict(probe)
    torch.testing.assert_close(a, b)
    for key, value in method.net.state_dict().items():
        assert torch.equal(value, state[key]), f"adaptation changed meta-parameter {key}"


@pytest.mark.parametrize("name", BASELINES)
def test_nan_loss_is_a_divergence_naming_method_and_task(name: str) -> None:
    sampler = toy_sampler()
    episodes = sampler.meta_batch(0, 0, 4)
    bad = episodes[1]  # depth
    bad.support.images[0, 0, 0, 0] = float("nan")  # poisons the inner loop, hence the query loss
    method = _build(name)
    with pytest.raises(DivergenceError, match=rf"{name} meta-train query loss \(depth, domain r[01]\)"):
        method.outer_step(episodes, method.make_outer_optimiser())
    # at meta-test nothing is checked inside adaptation (no extra device syncs); the NaN reaches the
    # predictions, where the runner's metric check records the cell as diverged
    assert not torch.isfinite(method.adapt(bad).predict(bad.query.images)).all()


def test_exploding_learning_rate_is_reported_as_divergence() -> None:
    method = _build("maml", inner_lr=1e30, inner_steps=3)
    with pytest.raises(DivergenceError, match="lower the learning rates"):
        method.meta_train(toy_sampler(), Budget(steps=5), NullClock())


def test_parameter_counts_match_up_to_what_a_method_adds() -> None:
    counts = {name: _build(name).parameter_count() for name in BASELINES}
    shared = parameter_count(_build("maml").net)
    assert {n: c for n, c in counts.items() if n != "metasgd"} == {n: shared for n in BASELINES if n != "metasgd"}
    assert counts["metasgd"] == 2 * shared  # one learned learning rate per weight


def test_unknown_task_and_empty_budget_are_clear_errors() -> None:
    method = METHODS.get("maml")(toy_config(), ("depth",), CPU, seed=0)
    episode = toy_sampler().episode("test", "normals", "t0", 0, 0)
    with pytest.raises(ValueError, match="built for tasks depth.*'normals'"):
        method.adapt(episode)
    with pytest.raises(ValueError, match="neither steps nor seconds"):
        method.meta_train(toy_sampler(), Budget(), NullClock())


def _relabelled(episode: Episode, permutation: torch.Tensor) -> Episode:
    return Episode(episode.key, Batch(episode.support.images, permutation[episode.support.targets]),
                   Batch(episode.query.images, permutation[episode.query.targets]), episode.ways)


def test_multitask_classification_loss_options() -> None:
    episode = toy_sampler().episode("train", "classification", "r0", seed_index=0, episode_index=0)
    swapped = _relabelled(episode, torch.tensor([2, 0, 1]))
    prototype, head = _build("multitask"), _build("multitask", extra={"classification_loss": "head"})
    # the backbone is shaped by the prototype loss (AFR's stage 1, the default), which does not care how an
    # episode numbers its classes; the head beside it is trained on detached features, so its relabelled
    # targets never reach the backbone
    def backbone_grads(method, ep: Episode) -> list[torch.Tensor]:
        method.net.zero_grad()
        method.query_loss(ep).backward()
        return [p.grad.clone() for p in method.net.backbone.parameters()]

    for a, b in zip(backbone_grads(prototype, episode), backbone_grads(prototype, swapped), strict=True):
        torch.testing.assert_close(a, b)
    assert float(prototype.net.heads["classification"].linear.weight.grad.abs().sum()) > 0  # the head is trained
    with torch.no_grad():
        assert abs(float(head.query_loss(episode)) - float(head.query_loss(swapped))) > 1e-4
    with pytest.raises(ValueError, match="classification_loss='softmax' is not one of prototype, head"):
        _build("multitask", extra={"classification_loss": "softmax"})
    with pytest.raises(ValueError, match=r"unknown multitask option\(s\) \['lr'\]"):
        _build("multitask", extra={"lr": 1})
