"""``maml-higher``: second-order MAML through higher's differentiable optimiser.

The same algorithm as ``maml`` computed by a second library (higher monkey-patches
the module into a stateless one and unrolls ``torch.optim.SGD``), so the
benchmark can show that results and costs do not hinge on one implementation.
``tests/test_maml_gradients.py`` proves both give the same meta-gradient as a
hand-written ``torch.func`` reference.

At meta-test the inner loop runs with ``track_higher_grads=False`` (first-order
bookkeeping, identical adapted weights), as every baseline does.
"""

from __future__ import annotations

import higher
import torch

from domains.episodes import Batch, Episode
from methods.base import Learner, MethodConfig
from methods.losses import task_loss
from methods.meta_batch import EpisodicMethod, FunctionLearner
from methods.registry import METHODS


@METHODS.register("maml-higher", "second-order MAML through higher's differentiable SGD")
class MAMLHigher(EpisodicMethod):

    def __init__(self, config: MethodConfig, tasks: tuple[str, ...], device: torch.device, seed: int):
        super().__init__(config, tasks, device, seed)
        # higher reads the inner learning rate (and parameter order) from a plain torch optimiser.
        self.inner_optimisers = {task: torch.optim.SGD(view.parameters(), lr=config.inner_lr)
                                 for task, view in self.views.items()}

    def _unroll(self, task: str, support: Batch, steps: int, train: bool) -> torch.nn.Module:
        """``steps`` differentiable SGD steps on ``support``; returns the patched module with fast weights.

        Training keeps the network's own weights as the initial fast weights
        (``copy_initial_weights=False``) so the outer gradient reaches them; test
        adaptation copies them and tracks no higher-order graph.
        """
        with higher.innerloop_ctx(self.views[task], self.inner_optimisers[task], copy_initial_weights=not train,
                                  track_higher_grads=train) as (fmodel, diffopt):
            for _ in range(steps):
                diffopt.step(task_loss(task, fmodel(support.images), support))
        return fmodel

    def query_loss(self, episode: Episode) -> torch.Tensor:
        fmodel = self._unroll(self.check_task(episode), episode.support, self.config.inner_steps, train=True)
        return task_loss(episode.task, fmodel(episode.query.images), episode.query)

    def adapt(self, episode: Episode) -> Learner:
        with torch.enable_grad():
            fmodel = self._unroll(self.check_task(episode), episode.support.to(self.device), self.config.adapt_steps,
                                  train=False)
        return FunctionLearner(fmodel, self.device)
