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
(``extra.classification_loss = "prototype"``) the backbone is therefore shaped
by AFR's stage-1 prototype loss (query features against support class means,
invariant to the relabelling), so that ``multitask``'s backbone is AFR's
multi-task stage run for the whole budget; the classification head is trained
beside it by cross-entropy on the episode labels over detached features, so that
test-time fine-tuning starts from a trained head (its logit scale and biases),
never from a random one. The alternative (``"head"``) trains head and backbone
on the episode labels with cross-entropy alone. Either way the fine-tuning at
test adapts all parameters, the head included, because the head's weights carry
no class identity into a new episode.
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
            support_features = self.net.features(support.images)
            query_features = self.net.features(query.images)
            pooled_support = support_features[-1].mean(dim=(2, 3))
            pooled_query = query_features[-1].mean(dim=(2, 3))
            backbone_loss = prototype_loss(pooled_support, support.targets, pooled_query, query.targets, ways)
            # The head is what test-time fine-tuning starts from, so it is trained too: cross-entropy on
            # the episode's labels over detached features (the labels are relabelled per episode, so
            # their gradient would only add noise to the backbone, which the prototype loss shapes).
            features = [torch.cat([s, q]).detach() for s, q in zip(support_features, query_features)]
            head_loss = task_loss(task, self.net.head(task, features, support.images.shape[-1]),
                                  _joint(support, query))
            return backbone_loss + head_loss
        batch = _joint(support, query)
        return task_loss(task, self.views[task](batch.images), batch)

    def adapt(self, episode: Episode) -> Learner:
        model = copy.deepcopy(self.views[self.check_task(episode)])
        with torch.enable_grad():
            sgd_finetune(model, episode.support.to(self.device), episode.task, self.config.adapt_steps,
                         self.config.inner_lr)
        return FunctionLearner(model, self.device)
