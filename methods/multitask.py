"""``multitask``: the non-meta baseline -- joint training, then plain fine-tuning.

It answers "does meta-learning matter here at all?". Meta-training is replaced
by joint multi-task training on exactly the same meta-train episodes, budget,
outer optimiser (Adam, ``outer_lr``) and batch mean as the meta-learners: each
episode contributes its task's loss on its support and query images together,
with no inner loop. At meta-test the network is fine-tuned like MAML's inner
loop -- ``config.adapt_steps`` plain SGD steps at ``inner_lr`` on all of the
task's parameters (backbone and head), support only -- so the one difference
from ``maml`` is how the initial weights were learned.

Classification labels are episode-local (N-way, relabelled per episode), so the
jointly trained classification head cannot learn class identities; what it
learns is features plus a head that fine-tuning starts from. That is the honest
non-meta reference under this protocol, and why the baseline fine-tunes all
parameters rather than the head alone.
"""

from __future__ import annotations

import copy

import torch

from domains.episodes import Batch, Episode
from methods.base import METHODS, Learner
from methods.losses import task_loss
from methods.meta_batch import EpisodicMethod, FunctionLearner, sgd_finetune


def _joint(a: Batch, b: Batch) -> Batch:
    mask = None if a.mask is None or b.mask is None else torch.cat([a.mask, b.mask])
    return Batch(torch.cat([a.images, b.images]), torch.cat([a.targets, b.targets]), mask)


@METHODS.register("multitask", "joint multi-task training, then plain SGD fine-tuning at test (non-meta)")
class MultiTask(EpisodicMethod):
    name = "multitask"

    def query_loss(self, episode: Episode) -> torch.Tensor:
        """The episode's joint training loss: its task's loss on support and query together, no inner loop."""
        batch = _joint(episode.support, episode.query)
        return task_loss(episode.task, self.views[self.check_task(episode)](batch.images), batch)

    def adapt(self, episode: Episode) -> Learner:
        model = copy.deepcopy(self.views[self.check_task(episode)])
        with torch.enable_grad():
            sgd_finetune(model, episode.support.to(self.device), episode.task, self.config.adapt_steps,
                         self.config.inner_lr,
                         where=f"{self.name} fine-tuning ({episode.task}, domain {episode.domain})")
        return FunctionLearner(model, self.device)
