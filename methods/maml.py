"""The MAML family through learn2learn, the community's reference implementation.

- ``maml``: second-order MAML (Finn et al. 2017), ``l2l.algorithms.MAML``.
- ``fomaml``: the same with ``first_order=True`` (inner gradients are constants).
- ``metasgd``: Meta-SGD (Li et al. 2017), ``l2l.algorithms.MetaSGD``: a learned
  learning rate per parameter, initialised at ``inner_lr``, shared across tasks
  for the backbone (each head has its own, as it has its own weights).
- ``anil``: ANIL (Raghu et al. 2020): only the task head adapts in the inner
  loop; the backbone's features are computed once per episode (support and
  query separately, as every other method sees them, because BatchNorm uses
  batch statistics) and the backbone is learned by the outer loop only.

Every method wraps a ``TaskView`` (shared backbone + the episode's task head) so
that each episode adapts exactly the parameters its task uses, with its task's
loss; the outer loop is ``EpisodicMethod``'s, identical for all.

Meta-test adaptation runs the same number of plain SGD steps
(``config.adapt_steps``) with ``first_order=True`` for every method: the adapted
weights are the same numbers as with second-order adaptation, but no graph is
kept for a backward pass that never comes, so adaptation time and memory
measure adaptation, not bookkeeping.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable
from itertools import chain

import torch
from torch import nn

from domains.episodes import Episode
from methods._l2l import detach_module, l2l, require_learn2learn
from methods.base import Learner, MethodConfig
from methods.losses import task_loss
from methods.meta_batch import EpisodicMethod, FunctionLearner, TaskView
from methods.registry import METHODS


class _CloneAdaptMethod(EpisodicMethod):
    """A learn2learn algorithm object per task (``clone()`` + ``adapt(loss)``) around its ``TaskView``."""

    def __init__(self, config: MethodConfig, tasks: tuple[str, ...], device: torch.device, seed: int):
        require_learn2learn(self.name)
        super().__init__(config, tasks, device, seed)
        self.wrappers = {task: self._wrap(view) for task, view in self.views.items()}

    @abstractmethod
    def _wrap(self, view: TaskView) -> nn.Module:
        """The learn2learn algorithm object for one task's view."""

    def query_loss(self, episode: Episode) -> torch.Tensor:
        learner = self.wrappers[self.check_task(episode)].clone()
        for _ in range(self.config.inner_steps):
            learner.adapt(task_loss(episode.task, learner(episode.support.images), episode.support))
        return task_loss(episode.task, learner(episode.query.images), episode.query)

    def adapt(self, episode: Episode) -> Learner:
        support = episode.support.to(self.device)
        learner = self.wrappers[self.check_task(episode)].clone()
        with torch.enable_grad():
            for _ in range(self.config.adapt_steps):
                learner.adapt(task_loss(episode.task, learner(support.images), support), first_order=True)
        detach_module(learner.module)  # free the (first-order) graph back to the meta-parameters
        return FunctionLearner(learner, self.device)


@METHODS.register("maml", "second-order MAML (learn2learn MAML)")
class MAML(_CloneAdaptMethod):
    """Second-order MAML: the outer gradient flows through every inner step's gradient."""

    first_order = False

    def _wrap(self, view: TaskView) -> nn.Module:
        return l2l.algorithms.MAML(view, lr=self.config.inner_lr, first_order=self.first_order)


@METHODS.register("fomaml", "first-order MAML (learn2learn MAML, first_order=True)")
class FOMAML(MAML):
    """First-order MAML: inner gradients are treated as constants in the outer gradient."""

    first_order = True


@METHODS.register("metasgd", "Meta-SGD: MAML with a learned per-parameter inner learning rate (learn2learn)")
class MetaSGD(_CloneAdaptMethod):
    """Meta-SGD, second order. The learning rates are meta-parameters updated by the same outer Adam."""

    def __init__(self, config: MethodConfig, tasks: tuple[str, ...], device: torch.device, seed: int):
        # The learning rates must exist before the base class builds the per-task wrappers.
        self._lr_by_param: dict[int, nn.Parameter] = {}
        self.lrs = nn.ParameterList()
        super().__init__(config, tasks, device, seed)

    def _lrs_for(self, params: Iterable[nn.Parameter]) -> list[nn.Parameter]:
        out = []
        for p in params:
            if id(p) not in self._lr_by_param:  # one learning-rate tensor per network parameter, shared by views
                lr = nn.Parameter(torch.full_like(p.detach(), self.config.inner_lr))
                self._lr_by_param[id(p)] = lr
                self.lrs.append(lr)
            out.append(self._lr_by_param[id(p)])
        return out

    def _wrap(self, view: TaskView) -> nn.Module:
        return l2l.algorithms.MetaSGD(view, lrs=self._lrs_for(view.parameters()), first_order=False)

    def meta_parameters(self) -> Iterable[nn.Parameter]:
        return chain(self.net.parameters(), self.lrs)

    def extra_parameters(self) -> int:
        return sum(lr.numel() for lr in self.lrs)


class _HeadLearner(nn.Module):
    """Adapted ANIL learner for prediction: frozen backbone features, then the adapted head."""

    def __init__(self, backbone: nn.Module, head: nn.Module):
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images), images.shape[-1])


@METHODS.register("anil", "ANIL: MAML on the task head only, backbone learned by the outer loop (learn2learn)")
class ANIL(EpisodicMethod):
    """Almost No Inner Loop: the inner loop adapts the task head on once-computed backbone features."""

    def __init__(self, config: MethodConfig, tasks: tuple[str, ...], device: torch.device, seed: int):
        require_learn2learn(self.name)
        super().__init__(config, tasks, device, seed)
        self.head_wrappers = {task: l2l.algorithms.MAML(self.net.heads[task], lr=config.inner_lr, first_order=False)
                              for task in self.tasks}

    def query_loss(self, episode: Episode) -> torch.Tensor:
        learner = self.head_wrappers[self.check_task(episode)].clone()
        support_features = self.net.features(episode.support.images)
        query_features = self.net.features(episode.query.images)
        out_size = episode.support.images.shape[-1]
        for _ in range(self.config.inner_steps):
            pred = learner(support_features, out_size)
            learner.adapt(task_loss(episode.task, pred, episode.support))
        return task_loss(episode.task, learner(query_features, episode.query.images.shape[-1]), episode.query)

    def adapt(self, episode: Episode) -> Learner:
        learner = self.head_wrappers[self.check_task(episode)].clone()
        support = episode.support.to(self.device)
        with torch.no_grad():
            features = self.net.features(support.images)
        with torch.enable_grad():
            for _ in range(self.config.adapt_steps):
                pred = learner(features, support.images.shape[-1])
                learner.adapt(task_loss(episode.task, pred, support), first_order=True)
        detach_module(learner.module)
        return FunctionLearner(_HeadLearner(self.net.backbone, learner.module), self.device)
