"""``multitask``: the non-meta baseline -- joint training, then plain fine-tuning.

It answers "does meta-learning matter here at all?". Meta-training is replaced
by joint multi-task training on exactly the same meta-train episodes, budget,
outer optimiser (Adam, ``outer_lr``) and batch mean as the meta-learners: each
episode contributes its task's loss on its support and query images together,
with no inner loop. At meta-test the network is fine-tuned like MAML's inner
loop -- ``config.adapt_steps`` plain SGD steps at ``inner_lr`` on all of the
task's parameters (backbone and head), support only -- so the one difference
from ``maml`` is how the initial weights were learned.

Classification labels are episode-local (N-way, relabelled per episode), so a
fixed N-way head trained on them would chase arbitrary labels. By default
(``extra.classification_loss = "prototype"``) classification episodes are
therefore scored with AFR's stage-1 prototype loss (query features against
support class means, invariant to the relabelling), so that ``multitask`` is
exactly AFR's multi-task stage run for the whole budget; the alternative
(``"head"``) trains the N-way head on the episode labels with cross-entropy.
Either way the fine-tuning at test adapts all parameters, the head included,
because the head's weights carry no class identity into a new episode.
"""

from __future__ import annotations

import copy

import torch

from domains.episodes import Batch, Episode
from methods.afr import PRETRAIN_CLASSIFICATION, prototype_loss
from methods.base import Learner, MethodConfig
from methods.losses import task_loss
from methods.meta_batch import EpisodicMethod, FunctionLearner, sgd_finetune
from methods.registry import METHODS

CLASSIFICATION_LOSSES = PRETRAIN_CLASSIFICATION  # the same choices, and default, as AFR's stage 1


def _joint(a: Batch, b: Batch) -> Batch:
    mask = None if a.mask is None or b.mask is None else torch.cat([a.mask, b.mask])
    return Batch(torch.cat([a.images, b.images]), torch.cat([a.targets, b.targets]), mask)


@METHODS.register("multitask", "joint multi-task training, then plain SGD fine-tuning at test (non-meta)")
class MultiTask(EpisodicMethod):

    def __init__(self, config: MethodConfig, tasks: tuple[str, ...], device: torch.device, seed: int):
        super().__init__(config, tasks, device, seed)
        unknown = sorted(set(config.extra) - {"classification_loss"})
        if unknown:
            raise ValueError(f"unknown multitask option(s) {unknown} in the method's extra settings; "
                             "known: classification_loss")
        self.classification_loss = config.extra.get("classification_loss", "prototype")
        if self.classification_loss not in CLASSIFICATION_LOSSES:
            raise ValueError(f"multitask option classification_loss={self.classification_loss!r} is not one of "
                             f"{', '.join(CLASSIFICATION_LOSSES)}")

    def query_loss(self, episode: Episode) -> torch.Tensor:
        """The episode's joint training loss on support and query together (no inner loop)."""
        task = self.check_task(episode)
        support, query = episode.support, episode.query
        if task == "classification" and self.classification_loss == "prototype":
            ways = episode.ways or self.config.network.ways
            pooled_support = self.net.features(support.images)[-1].mean(dim=(2, 3))
            pooled_query = self.net.features(query.images)[-1].mean(dim=(2, 3))
            return prototype_loss(pooled_support, support.targets, pooled_query, query.targets, ways)
        batch = _joint(support, query)
        return task_loss(task, self.views[task](batch.images), batch)

    def adapt(self, episode: Episode) -> Learner:
        model = copy.deepcopy(self.views[self.check_task(episode)])
        with torch.enable_grad():
            sgd_finetune(model, episode.support.to(self.device), episode.task, self.config.adapt_steps,
                         self.config.inner_lr)
        return FunctionLearner(model, self.device)
