"""Controls: what a method must beat before its numbers mean anything.

They are registered like methods (every shipped spec runs them, every table shows
them) but marked ``control = True``, so reports keep them out of the
confirmatory family and use them to ask "is each task learned at all?".

- ``constant``: the meta-train prior of each task, no image input. Classification
  guesses one class for every image (with balanced query sets: chance,
  1/ways); depth predicts the per-pixel median depth map of the meta-train
  images, normals the per-pixel mean normal map, vanishing points the mean
  Manhattan frame (a chordal mean of rotations, taken modulo the axis order and
  signs the metric ignores; see ``mean_manhattan_frame``).
- ``scratch``: the shared network from its fresh random initialisation (the same
  weights every method starts from at this seed), not meta-trained, fine-tuned
  on the support set with the same test-time steps at its own (tuned) learning
  rate: what adaptation alone gives without meta-learning.
- ``protonet``: for classification only, the nearest class prototype (mean
  support feature per class, squared Euclidean distance) on the features of a
  backbone trained exactly as the ``multitask`` baseline's (Snell et al. 2017).
"""

from __future__ import annotations

import copy
import itertools

import torch
import torch.nn.functional as F

from domains.episodes import Batch, Episode, EpisodeSampler
from methods.afr import class_prototypes
from methods.base import Budget, Learner, Method, MethodConfig, PhaseClock, TrainingLog
from methods.meta_batch import FunctionLearner, TaskView, sgd_finetune
from methods.multitask import MultiTask
from methods.registry import METHODS

_PERMUTATIONS = torch.tensor(list(itertools.permutations(range(3))))


# ---- the constant predictor ------------------------------------------------------------------------
def mean_manhattan_frame(frames: torch.Tensor, iterations: int = 20) -> torch.Tensor:
    """The chordal mean of N x 3 x 3 Manhattan frames (rows = directions), modulo axis order and signs.

    A vanishing-point frame is a rotation up to the 48 symmetries of the cube (the metric
    matches axes and ignores signs), so raw rows cannot be averaged: two views of the same
    room a quarter-turn apart would cancel. Each frame is first aligned to the current
    estimate (the axis order that maximises the summed |cos|, then each row's sign), the
    aligned frames are summed and projected onto the nearest orthogonal matrix (SVD, the
    chordal L2 mean), and this repeats until it settles. It starts from the first frame.
    """
    frames = F.normalize(frames.double(), dim=-1)
    estimate = frames[0]
    for _ in range(iterations):
        cos = torch.einsum("npk,gk->npg", frames, estimate)  # N x frame row x estimate row
        score = cos.abs()[:, _PERMUTATIONS, torch.arange(3)].sum(-1)  # N x 6: row perm[j] -> estimate row j
        best = _PERMUTATIONS[score.argmax(dim=1)]  # N x 3
        aligned = torch.stack([frames[i, best[i]] for i in range(len(frames))])  # rows follow the estimate
        signs = torch.sign((aligned * estimate).sum(-1, keepdim=True))
        u, _, vh = torch.linalg.svd((aligned * torch.where(signs == 0, 1.0, signs)).sum(0))
        new = u @ vh
        if torch.allclose(new, estimate, atol=1e-10):
            break
        estimate = new
    return estimate.float()


def fit_constant(task: str, data: Batch, ways: int | None = None) -> torch.Tensor:
    """The meta-train prior of ``task`` from every meta-train sample in ``data`` (see the module doc)."""
    if task == "classification":
        if ways is None:
            raise ValueError("the classification prior needs the episodes' ways")
        return torch.zeros(ways)  # equal logits: argmax is always the first class, chance on balanced queries
    if task == "depth":
        depth = data.targets.where(data.mask, torch.tensor(float("nan"))) if data.mask is not None else data.targets
        prior = depth.nanmedian(dim=0).values  # 1HW
        return torch.where(prior.isnan(), depth.nanmedian(), prior)
    if task == "normals":
        weights = data.mask.float() if data.mask is not None else torch.ones_like(data.targets[:, :1])
        mean = (data.targets * weights).sum(0)  # 3HW
        fallback = (data.targets * weights).sum(dim=(0, 2, 3))[:, None, None].expand_as(mean)
        empty = weights.sum(0) == 0
        return F.normalize(torch.where(empty, fallback, mean), dim=0)
    if task == "vanishing_point":
        return mean_manhattan_frame(data.targets)
    raise ValueError(f"no constant prior for task '{task}'")


def constant_prediction(task: str, prior: torch.Tensor, count: int) -> torch.Tensor:
    """``count`` copies of the prior in the task's prediction layout."""
    return prior.unsqueeze(0).expand(count, *prior.shape).clone()


def _stack(sampler: EpisodeSampler, task: str) -> Batch:
    parts = [sampler.domain_data(task, domain) for domain in sampler.domains(task, "train")]
    mask = None if any(p.mask is None for p in parts) else torch.cat([p.mask for p in parts])
    return Batch(torch.cat([p.images for p in parts]), torch.cat([p.targets for p in parts]), mask)


@METHODS.register("constant", "control: the meta-train prior per task, no image input (chance for classification)")
class Constant(Method):
    control = True
    tunable = False

    def __init__(self, config: MethodConfig, tasks: tuple[str, ...], device: torch.device, seed: int):
        super().__init__(config, tasks, device, seed)
        self.priors: dict[str, torch.Tensor] = {}

    def meta_train(self, sampler: EpisodeSampler, budget: Budget, clock: PhaseClock,
                   seed_index: int = 0) -> TrainingLog:
        """One pass over every meta-train sample of each task (no steps: nothing here is learned)."""
        with clock.phase("meta_train_step"):
            for task in self.tasks:
                data = None if task == "classification" else _stack(sampler, task)
                self.priors[task] = fit_constant(task, data, self.config.network.ways).to(self.device)  # type: ignore[arg-type]
        return TrainingLog()

    def adapt(self, episode: Episode) -> Learner:
        if episode.task not in self.priors:
            raise ValueError(f"constant has no prior for task '{episode.task}'; meta_train it first")
        prior = self.priors[episode.task]
        return FunctionLearner(lambda images: constant_prediction(episode.task, prior, images.shape[0]), self.device)


@METHODS.register("scratch", "control: fresh random initialisation fine-tuned on the support set (no meta-learning)")
class Scratch(Method):
    control = True

    def __init__(self, config: MethodConfig, tasks: tuple[str, ...], device: torch.device, seed: int):
        super().__init__(config, tasks, device, seed)
        self.views = {task: TaskView(self.net.backbone, self.net.heads[task]) for task in self.tasks}

    def meta_train(self, sampler: EpisodeSampler, budget: Budget, clock: PhaseClock,
                   seed_index: int = 0) -> TrainingLog:
        return TrainingLog()  # deliberately nothing: the control measures adaptation alone

    def adapt(self, episode: Episode) -> Learner:
        model = copy.deepcopy(self.views[episode.task])
        with torch.enable_grad():
            sgd_finetune(model, episode.support.to(self.device), episode.task, self.config.adapt_steps,
                         self.config.inner_lr)
        return FunctionLearner(model, self.device)


class _Prototypes(torch.nn.Module):
    """Logits = negative squared distances of pooled query features to the support class means."""

    def __init__(self, backbone: torch.nn.Module, prototypes: torch.Tensor):
        super().__init__()
        self.backbone, self.prototypes = backbone, prototypes

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pooled = self.backbone(images)[-1].mean(dim=(2, 3))
        return -torch.cdist(pooled, self.prototypes).pow(2)


@METHODS.register("protonet", "control (classification only): nearest class prototype on the multitask backbone")
class ProtoNet(MultiTask):
    """Trained exactly as ``multitask`` (same loss, budget and data); scored on classification only."""

    control = True
    scored_tasks: tuple[str, ...] = ("classification",)

    def adapt(self, episode: Episode) -> Learner:
        if episode.task != "classification":
            raise ValueError(f"protonet scores classification only, not '{episode.task}'")
        support = episode.support.to(self.device)
        ways = episode.ways or self.config.network.ways
        with torch.no_grad():
            features = self.net.features(support.images)[-1].mean(dim=(2, 3))
            prototypes = class_prototypes(features, support.targets, ways)
        return FunctionLearner(_Prototypes(self.net.backbone, prototypes), self.device)
