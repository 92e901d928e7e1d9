"""Every fast path of AFR against its reference path on the same tree and seed (within 1e-5).

The fast paths change how the numbers are computed, never which numbers: these tests
compare them with the one-episode-at-a-time reference of the same code, so they keep
holding when the network, heads or losses change.
"""

from __future__ import annotations

import pytest
import torch
from test_afr import VARIANTS, TinySuite, build

from domains.episodes import EpisodeSampler, EpisodeShape
from domains.metrics import evaluate
from domains.tasks import TASK_NAMES
from methods.base import Budget, NullClock
from methods.grouped import can_group, grouped_features
from methods.network import Backbone, NetworkConfig

TOLERANCE = 1e-5
# one multi-task step, then stage-2 steps. More steps do not test more code; they let Adam turn
# float rounding of near-zero gradients into lr-sized steps, and the degree-valued normals
# metrics move by 3e-4 for a 1e-6 change of the weights (measured), far more than either path's
# own rounding.
STEPS = 2

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def sampler() -> EpisodeSampler:
    suite = TinySuite()
    return EpisodeSampler(suite, suite.split(), EpisodeShape(shots=2, queries=3, ways=3))


def test_grouped_features_equal_one_backbone_call_per_batch() -> None:
    torch.manual_seed(0)
    backbone = Backbone(NetworkConfig(image_size=16, widths=(4, 8, 8, 8), decoder_width=4, ways=3))
    batches = [torch.rand(n, 3, 16, 16) for n in (5, 2, 3)]
    weights = [[torch.rand(c) + 0.5 for c in backbone.widths] for _ in batches]
    for stage_weights in (None, weights):
        grouped = grouped_features(backbone, batches, stage_weights)
        for g, x in enumerate(batches):
            alone = backbone(x, None if stage_weights is None else stage_weights[g])
            for a, b in zip(grouped[g], alone):
                torch.testing.assert_close(a, b, atol=TOLERANCE, rtol=0)


def test_grouped_features_refuse_a_backbone_they_cannot_fuse() -> None:
    backbone = Backbone(NetworkConfig(image_size=16, widths=(4, 8, 8, 8), decoder_width=4, ways=3))
    backbone.stages[1] = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 3, padding=1))
    assert not can_group(backbone)
    with pytest.raises(ValueError, match="plain ConvStage"):
        grouped_features(backbone, [torch.rand(2, 3, 16, 16)])


def _train_and_score(name: str, fused: bool, sampler: EpisodeSampler, **overrides: object) -> tuple[
        list[float], dict[str, torch.Tensor], list[float]]:
    method = build(name, seed=3, pretrain_steps=1, meta_batch_size=6,
                   extra={"fused": fused, **overrides.pop("extra", {})}, **overrides)  # type: ignore[arg-type]
    log = method.meta_train(sampler, Budget(steps=STEPS), NullClock())
    metrics: list[float] = []
    for task in TASK_NAMES:
        for domain in sampler.domains(task, "test"):
            ep = sampler.episode("test", task, domain, 0, 0)
            pred = method.adapt(ep).predict(ep.query.images)
            metrics.extend(evaluate(task, pred, ep.query, ep.ways).values())
    params = {n: p.detach().clone() for n, p in method.model.named_parameters()}
    return log.losses, params, metrics


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("first_order", [False, True])
def test_fused_meta_batch_gives_the_reference_numbers(name: str, first_order: bool,
                                                      sampler: EpisodeSampler) -> None:
    """Stage-2 steps on meta-batches of 6 (two tasks repeat): losses, weights and metrics agree."""
    reference = _train_and_score(name, False, sampler, extra={"first_order": first_order})
    fused = _train_and_score(name, True, sampler, extra={"first_order": first_order})
    assert fused[0] == pytest.approx(reference[0], abs=TOLERANCE)
    for key, value in reference[1].items():
        if key.startswith("net.backbone.stages.") and key.endswith(".conv.bias"):
            # BatchNorm subtracts it, so its true gradient is 0 and Adam turns rounding noise of
            # +-1e-9 into steps of +-lr; it cannot change any output (the metrics below check)
            continue
        torch.testing.assert_close(fused[1][key], value, atol=TOLERANCE, rtol=0, msg=key)
    assert fused[2] == pytest.approx(reference[2], rel=TOLERANCE, abs=TOLERANCE)


def test_fused_path_takes_one_backward_pass_per_meta_batch(sampler: EpisodeSampler) -> None:
    """The path under test is really taken: stage 2 yields the meta-batch as one group."""
    method = build("afr", pretrain_steps=0, meta_batch_size=4)
    episodes = sampler.meta_batch(0, 0, 4)
    groups = list(method.query_loss_groups(episodes))
    assert [len(g) for g in groups] == [4]
    reference = build("afr", pretrain_steps=0, meta_batch_size=4, extra={"fused": False})
    assert [len(g) for g in reference.query_loss_groups(episodes)] == [1, 1, 1, 1]


@pytest.mark.parametrize("name", ["afr-side", "afr"])
def test_fused_meta_gradient_equals_the_reference_gradient(name: str, sampler: EpisodeSampler) -> None:
    """The outer gradient itself (before Adam, which amplifies rounding of near-zero entries)."""
    episodes = sampler.meta_batch(0, 1, 6)
    grads = []
    for fused in (False, True):
        method = build(name, seed=5, meta_batch_size=6, extra={"fused": fused})
        method.model.zero_grad(set_to_none=True)
        for group in method.query_loss_groups(episodes):
            (torch.stack([loss for _, loss in group]).sum() / len(episodes)).backward()
        grads.append({n: p.grad.clone() for n, p in method.model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    for key, value in grads[0].items():
        torch.testing.assert_close(grads[1][key], value, atol=TOLERANCE, rtol=1e-4, msg=key)


def test_cpu_peak_memory_sees_the_tensors_a_phase_holds() -> None:
    """A phase that holds 4 MB at once reads about 4 MB; one that frees each MB before the next, about 1 MB."""
    from bench.costs import PeakMemory, tensor_peak_bytes

    assert tensor_peak_bytes([(3, -5), (1, 10), (2, 4)]) == 14
    with PeakMemory(torch.device("cpu")) as held:
        kept = [torch.ones(250_000) for _ in range(4)]
    with PeakMemory(torch.device("cpu")) as freed:
        for _ in range(4):
            torch.ones(250_000).sum()
    assert len(kept) == 4
    assert held.peak_bytes is not None and 4_000_000 <= held.peak_bytes < 4_200_000
    assert freed.peak_bytes is not None and 1_000_000 <= freed.peak_bytes < 1_200_000
