"""AFR and its ablations: attention, gradients, what adaptation touches, overfitting, determinism."""

from __future__ import annotations

import math

import pytest
import torch

from domains.episodes import Batch, Episode, EpisodeSampler, EpisodeShape, derive_seed
from domains.suite import DomainData, Split, Suite
from domains.tasks import TASK_NAMES
from methods.afr import AFR, AFROptions, prototype_loss
from methods.base import Budget, DivergenceError, MethodConfig, NullClock
from methods.functional import detached_copy, sgd_steps
from methods.network import NetworkConfig
from methods.registry import METHODS

VARIANTS = ("afr", "afr-noattn", "afr-adapt-all", "afr-static", "afr-side")
WAYS = 3


class TinySuite(Suite):
    """Four tasks, a handful of 16x16 domains, random but learnable tensors held in memory."""

    name = "tiny-afr"

    @property
    def tasks(self) -> tuple[str, ...]:
        return TASK_NAMES

    def split(self) -> Split:
        parts = {"meta_train": ["d0", "d1"], "meta_val": ["d2"], "meta_test": ["d3", "d4"]}
        classes = {"meta_train": list(range(6)), "meta_val": [6, 7, 8], "meta_test": [9, 10, 11]}
        return Split(self.name, 1, {t: dict(parts) for t in TASK_NAMES}, classes=classes)

    def load(self, task: str, domain: str) -> DomainData:
        g = torch.Generator().manual_seed(derive_seed("tiny-afr", task, domain) % 2**31)
        n, size = 12, 16
        if task == "classification":
            labels = torch.arange(12).repeat_interleave(5)
            colours = torch.rand(12, 3, 1, 1, generator=g)
            images = (colours[labels] + 0.2 * torch.rand(len(labels), 3, size, size, generator=g)).clamp(0, 1)
            return DomainData(task, domain, images, labels)
        images = torch.rand(n, 3, size, size, generator=g)
        if task == "depth":
            targets = 1.0 + 3.0 * images.mean(dim=1, keepdim=True)
            return DomainData(task, domain, images, targets, torch.ones_like(targets, dtype=torch.bool))
        if task == "normals":
            targets = torch.nn.functional.normalize(images - 0.5 + 1e-3, dim=1)
            return DomainData(task, domain, images, targets, torch.ones(n, 1, size, size, dtype=torch.bool))
        q, _ = torch.linalg.qr(torch.randn(n, 3, 3, generator=g))
        return DomainData(task, domain, images, q.transpose(1, 2).contiguous())


def tiny_config(**overrides: object) -> MethodConfig:
    values: dict[str, object] = dict(network=NetworkConfig(image_size=16, widths=(4, 8, 8, 8), decoder_width=4,
                                                          ways=WAYS),
                                     inner_steps=2, inner_lr=0.1, outer_lr=3e-3, meta_batch_size=4)
    values.update(overrides)
    return MethodConfig(**values)  # type: ignore[arg-type]


def build(name: str = "afr", seed: int = 0, **overrides: object) -> AFR:
    method = METHODS.get(name)(tiny_config(**overrides), TASK_NAMES, torch.device("cpu"), seed)
    assert isinstance(method, AFR)
    return method


@pytest.fixture(scope="module")
def sampler() -> EpisodeSampler:
    suite = TinySuite()
    return EpisodeSampler(suite, suite.split(), EpisodeShape(shots=2, queries=3, ways=WAYS))


pytestmark = pytest.mark.usefixtures("one_thread")


def episode(sampler: EpisodeSampler, task: str, stream: str = "test", index: int = 0) -> Episode:
    return sampler.episode(stream, task, sampler.domains(task, stream)[0], 0, index)


def snapshot(method: AFR) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in method.model.named_parameters()}


# ---- registry and options -----------------------------------------------------
def test_every_variant_is_registered_and_adds_only_attention_parameters() -> None:
    plain = sum(p.numel() for p in build("afr-noattn").net.parameters())
    for name in VARIANTS:
        method = build(name)
        assert method.name == name
        added = method.parameter_count() - plain
        assert (added == 0) == (name == "afr-noattn")


def test_unknown_or_badly_typed_options_fail_with_the_known_names() -> None:
    with pytest.raises(ValueError, match="embedding_dim"):
        build(extra={"embeding_dim": 8})
    with pytest.raises(ValueError, match="first_order must be true or false"):
        build(extra={"first_order": "yes"})
    with pytest.raises(ValueError, match="embedding_dim must be an integer"):
        build(extra={"embedding_dim": 8.5})
    with pytest.raises(ValueError, match="attention_activation"):
        build(extra={"attention_activation": "tanh"})
    assert AFROptions.from_extra({}, "inline") == AFROptions()


# ---- attention ------------------------------------------------------------------
@pytest.mark.parametrize("name", ["afr", "afr-static", "afr-side"])
def test_attention_weights_differ_between_tasks_and_change_the_output(name: str, sampler: EpisodeSampler) -> None:
    method = build(name, test_inner_steps=0)
    ep = episode(sampler, "depth")
    weights = method.stage_weights(ep)
    assert weights is not None
    assert [w.shape[0] for w in weights] == list(method.config.network.widths)
    # the same support set seen as another task's episode gets other weights
    other = method._stage_weights("normals", method._params, method._context(ep.support.images, method._params, None))
    assert other is not None
    assert any(not torch.allclose(a, b) for a, b in zip(weights, other))
    # the attended network predicts differently from the same network without attention
    attended = method.adapt(ep).predict(ep.query.images)
    with torch.no_grad():
        plain = method.net(ep.query.images, "depth")
    assert not torch.allclose(attended, plain)


@pytest.mark.parametrize("activation", ["sigmoid2", "sigmoid", "softmax"])
def test_attention_activations_give_positive_weights_on_their_scale(activation: str, sampler: EpisodeSampler) -> None:
    weights = build(extra={"attention_activation": activation}).stage_weights(episode(sampler, "depth"))
    assert weights is not None
    for w in weights:
        assert bool((w > 0).all())
        if activation == "softmax":
            assert float(w.mean()) == pytest.approx(1.0, abs=1e-5)  # normalised within each stage
        else:  # a fresh h outputs about 0: weight 1 (sigmoid2) or one half (sigmoid)
            assert float(w.mean()) == pytest.approx(1.0 if activation == "sigmoid2" else 0.5, abs=0.1)


def test_context_makes_weights_depend_on_the_domain_unless_static(sampler: EpisodeSampler) -> None:
    a, b = (sampler.episode("test", "depth", d, 0, 0) for d in sampler.domains("depth", "test"))
    for name, differ in (("afr", True), ("afr-static", False)):
        method = build(name)
        wa, wb = method.stage_weights(a), method.stage_weights(b)
        assert wa is not None and wb is not None
        assert any(not torch.equal(x, y) for x, y in zip(wa, wb)) == differ


# ---- gradients and what adaptation touches -------------------------------------
@pytest.mark.parametrize("name", ["afr", "afr-static", "afr-side"])
def test_meta_gradient_reaches_the_episode_task_embedding_only(name: str, sampler: EpisodeSampler) -> None:
    method = build(name)
    method.query_loss(episode(sampler, "normals", "train")).backward()
    assert method.task_attention is not None
    grads = {t: e.grad for t, e in method.task_attention.embeddings.items()}
    assert grads["normals"] is not None and float(grads["normals"].abs().sum()) > 0
    assert all(grads[t] is None for t in TASK_NAMES if t != "normals")


EXPECTED_PREFIXES = {
    "afr": ("net.heads.depth.", "task.attention.depth.", "task.embeddings.depth"),
    "afr-static": ("net.heads.depth.", "task.attention.depth.", "task.embeddings.depth"),
    "afr-side": ("net.heads.depth.", "task.attention.depth.", "task.embeddings.depth"),
    "afr-noattn": ("net.heads.depth.",),
    "afr-adapt-all": ("net.heads.depth.", "task.attention.depth.", "task.embeddings.depth", "net.backbone."),
}


@pytest.mark.parametrize("name", VARIANTS)
def test_adaptation_changes_only_its_own_parameters(name: str, sampler: EpisodeSampler) -> None:
    method = build(name, test_inner_steps=3)
    ep = episode(sampler, "depth")
    before = snapshot(method)
    learner = method.adapt(ep)
    after = snapshot(method)
    assert all(torch.equal(before[n], after[n]) for n in before), "adapt() must not modify the meta-parameters"
    expected = {n for n in before if n.startswith(EXPECTED_PREFIXES[name])}
    assert set(learner.adapted) == expected
    changed = {n for n in expected if not torch.equal(learner.adapted[n], before[n])}
    assert any(n.startswith("net.heads.depth.") for n in changed)
    if name != "afr-noattn":
        assert "task.embeddings.depth" in changed
    if name == "afr-adapt-all":
        assert any(n.startswith("net.backbone.") for n in changed)


@pytest.mark.parametrize("name", VARIANTS)
def test_adaptation_reads_the_support_set_only(name: str, sampler: EpisodeSampler) -> None:
    ep = episode(sampler, "normals")
    poisoned = Episode(ep.key, ep.support, Batch(torch.full_like(ep.query.images, float("nan")),
                                                 torch.full_like(ep.query.targets, float("nan"))), ep.ways)
    method = build(name, test_inner_steps=2)
    clean = method.adapt(ep).predict(ep.query.images)
    assert torch.equal(method.adapt(poisoned).predict(ep.query.images), clean)


def test_feature_reuse_runs_the_backbone_once_per_adaptation(sampler: EpisodeSampler) -> None:
    """Side attention (afr-side) never re-runs the backbone in the inner loop; the reference (inline) must."""
    ep = episode(sampler, "depth")
    for name, passes in (("afr-side", 1), ("afr-noattn", 1), ("afr", 1 + 4), ("afr-static", 4), ("afr-adapt-all", 1 + 4)):
        method = build(name, test_inner_steps=4)
        calls: list[int] = []
        method.net.backbone.register_forward_hook(lambda *_, seen=calls: seen.append(1))
        method.adapt(ep)
        assert len(calls) == passes, name


# ---- training -------------------------------------------------------------------
def test_stage_one_trains_the_shared_network_and_counts_against_the_budget(sampler: EpisodeSampler) -> None:
    method = build(pretrain_steps=2)
    start = snapshot(method)
    log = method.meta_train(sampler, Budget(steps=2), NullClock())
    after_stage1 = snapshot(method)
    assert log.steps == [0, 1]
    assert all(torch.equal(start[n], after_stage1[n]) for n in start if n.startswith("task."))
    assert any(not torch.equal(start[n], after_stage1[n]) for n in start if n.startswith("net.backbone."))
    method.meta_train(sampler, Budget(steps=3), NullClock())  # a fresh call: step 0..1 stage 1, step 2 stage 2
    assert any(not torch.equal(after_stage1[n], p) for n, p in method.model.named_parameters()
               if n.startswith("task."))


@pytest.mark.parametrize("first_order", [False, True])
def test_stage_two_without_outer_backbone_keeps_the_backbone(first_order: bool, sampler: EpisodeSampler) -> None:
    method = build(extra={"outer_backbone": False, "first_order": first_order})
    start = snapshot(method)
    method.meta_train(sampler, Budget(steps=2), NullClock())
    end = snapshot(method)
    assert all(torch.equal(start[n], end[n]) for n in start if n.startswith("net.backbone."))
    assert all(not torch.equal(start[n], end[n]) for n in start if n.startswith("task.embeddings."))


def test_meta_train_logs_every_step_and_each_task_to_the_clock(sampler: EpisodeSampler) -> None:
    clock = NullClock()
    log = build().meta_train(sampler, Budget(steps=3), clock)
    assert [s for s, _ in clock.logged] == log.steps == [0, 1, 2]
    assert all(set(values) == {"loss", *TASK_NAMES} for _, values in clock.logged)
    assert all(math.isfinite(v) for v in log.losses)
    assert build().meta_train(sampler, Budget(seconds=0.0), NullClock()).steps == []


class FixedSampler:
    """Returns the same episode at every step: the smallest possible meta-training set."""

    def __init__(self, ep: Episode):
        self.ep = ep

    def meta_batch(self, seed_index: int, step: int, batch_size: int) -> list[Episode]:
        return [self.ep]


@pytest.mark.parametrize("task", ["classification", "vanishing_point"])
def test_a_tiny_run_overfits_one_fixed_episode(task: str, sampler: EpisodeSampler) -> None:
    # (the dense tasks' per-pixel noise targets are beyond a width-4 decoder in 60 steps, with or without AFR)
    ep = episode(sampler, task, "train")
    method = build(outer_lr=1e-2, meta_batch_size=1)
    log = method.meta_train(FixedSampler(ep), Budget(steps=60), NullClock())  # type: ignore[arg-type]
    assert log.losses[-1] < 0.1 * log.losses[0]


def test_nan_loss_raises_divergence_error(sampler: EpisodeSampler) -> None:
    with pytest.raises(DivergenceError, match="afr"):
        build(inner_lr=float("nan")).meta_train(sampler, Budget(steps=1), NullClock())


@pytest.mark.parametrize("name", ["afr", "afr-adapt-all"])
def test_one_seed_gives_identical_results_twice(name: str, sampler: EpisodeSampler) -> None:
    def run(seed: int) -> tuple[list[float], torch.Tensor]:
        method = build(name, seed=seed, pretrain_steps=1)
        log = method.meta_train(sampler, Budget(steps=3), NullClock())
        ep = episode(sampler, "vanishing_point")
        return log.losses, method.adapt(ep).predict(ep.query.images)

    (losses_a, pred_a), (losses_b, pred_b), (losses_c, _) = run(7), run(7), run(8)
    assert losses_a == losses_b and torch.equal(pred_a, pred_b)
    assert losses_a != losses_c


def test_adaptation_lowers_the_support_loss(sampler: EpisodeSampler) -> None:
    from methods.losses import task_loss

    ep = episode(sampler, "depth")
    before = task_loss("depth", build(test_inner_steps=0).adapt(ep).predict(ep.support.images), ep.support)
    after = task_loss("depth", build(test_inner_steps=10).adapt(ep).predict(ep.support.images), ep.support)
    assert float(after) < float(before)


def test_episode_with_other_ways_than_the_head_is_refused(sampler: EpisodeSampler) -> None:
    ep = episode(sampler, "classification")
    bad = Episode(ep.key, ep.support, ep.query, ways=WAYS + 2)
    with pytest.raises(ValueError, match="5-way but the classification head has 3 outputs"):
        build().adapt(bad)


# ---- helpers ----------------------------------------------------------------------
def test_prototype_loss_ignores_how_classes_are_numbered() -> None:
    g = torch.Generator().manual_seed(0)
    support, query = torch.randn(6, 4, generator=g), torch.randn(9, 4, generator=g)
    ys, yq = torch.tensor([0, 0, 1, 1, 2, 2]), torch.tensor([0, 1, 2] * 3)
    perm = torch.tensor([2, 0, 1])
    assert torch.allclose(prototype_loss(support, ys, query, yq, 3), prototype_loss(support, perm[ys], query, perm[yq], 3))


def test_sgd_steps_orders_of_differentiation() -> None:
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    unused = torch.nn.Parameter(torch.tensor([5.0]))

    def loss(p: dict[str, torch.Tensor]) -> torch.Tensor:
        return (p["w"] ** 3).sum()

    outer = {}
    for order in ("second", "first"):
        adapted = sgd_steps({"w": w, "u": unused}, loss, 1, 0.1, order)  # type: ignore[arg-type]
        assert adapted["u"] is unused
        (gw,) = torch.autograd.grad(adapted["w"].sum(), w)
        outer[order] = gw
    assert torch.allclose(outer["first"], torch.ones(2))  # identity Jacobian
    assert torch.allclose(outer["second"], 1 - 0.1 * 6 * w.detach())  # d/dw (w - 0.1*3w^2)
    fresh = sgd_steps(detached_copy({"w": w}), loss, 2, 0.1, "none")
    assert fresh["w"].is_leaf and fresh["w"].requires_grad
    with pytest.raises(ValueError, match="unknown differentiation order"):
        sgd_steps({"w": w}, loss, 1, 0.1, "third")  # type: ignore[arg-type]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_cuda(sampler: EpisodeSampler) -> None:
    method = METHODS.get("afr")(tiny_config(), TASK_NAMES, torch.device("cuda"), 0)
    method.meta_train(sampler, Budget(steps=2), NullClock())
    ep = episode(sampler, "normals")
    assert method.adapt(ep).predict(ep.query.images).device.type == "cuda"


# ---- end to end on a real suite ---------------------------------------------------
def test_afr_end_to_end_on_synthrooms_tiny(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Two multi-task steps, two meta-learning steps, then every held-out domain: finite primary metrics."""
    from domains.catalog import SUITES
    from domains.metrics import primary_metric

    suite = SUITES.get("synthrooms")(profile="tiny", cache_dir=tmp_path_factory.mktemp("synthrooms"), progress=False)
    real = EpisodeSampler(suite, suite.split(), EpisodeShape(shots=2, queries=3, ways=5))
    network = NetworkConfig(image_size=32, widths=(4, 8, 8, 8), decoder_width=4, ways=5)
    method = METHODS.get("afr")(tiny_config(network=network, pretrain_steps=2), real.tasks, torch.device("cpu"), 0)
    log = method.meta_train(real, Budget(steps=4), NullClock())
    assert log.steps == [0, 1, 2, 3] and all(math.isfinite(v) for v in log.losses)
    for task in real.tasks:
        for domain in real.domains(task, "test"):
            ep = real.episode("test", task, domain, 0, 0)
            pred = method.adapt(ep).predict(ep.query.images)
            value = primary_metric(task)(pred, ep.query, ep.ways)
            assert math.isfinite(value), (task, domain)
