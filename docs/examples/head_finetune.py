"""An example method plugin: joint multi-task training, then fine-tuning of the task head alone.

This file is the complete example of docs/adding-a-method.md, and the test suite runs it as a plugin
(tests/test_docs_example.py). Use it as a template:

    PYTHONPATH=docs/examples mtml-bench run my_spec.toml      # with, in my_spec.toml:
                                                               #   [methods.head-finetune.extra]
                                                               #   head_lr = 0.05
                                                               #   [runtime]
                                                               #   plugins = ["head_finetune"]

The method is a classic few-shot baseline ("train a shared representation, then fit only a new
head", Chen et al. 2019): meta-training is plain joint training on the meta-train episodes (no inner
loop), and adaptation fine-tunes only the episode's task head with SGD on the support set, the
backbone frozen. It answers "how much of a method's gain comes from adapting the backbone?".

Everything a fair comparison depends on comes from the shared parts: the network (``self.net``, the
same backbone and heads as every method), the meta-batch loop, the outer optimiser and the budget
(``EpisodicMethod``), the losses (``methods.losses.task_loss``), and the hyper-parameters
(``self.config``: ``inner_lr`` and ``test_inner_steps`` from the spec's ``[training]`` and
``[methods.head-finetune]`` tables, ``head_lr`` from ``[methods.head-finetune.extra]``). The method
adds only what makes it different.
"""

from __future__ import annotations

import copy

import torch

from domains.episodes import Episode
from methods.base import Learner, MethodConfig
from methods.losses import task_loss
from methods.meta_batch import EpisodicMethod, FunctionLearner
from methods.registry import METHODS


@METHODS.register("head-finetune", "example plugin: joint training, then SGD on the task head only")
class HeadFinetune(EpisodicMethod):
    """Joint multi-task training; at meta-test, ``adapt_steps`` SGD steps on the task head only."""

    def __init__(self, config: MethodConfig, tasks: tuple[str, ...], device: torch.device, seed: int):
        super().__init__(config, tasks, device, seed)  # builds self.net and one TaskView per task
        unknown = sorted(set(config.extra) - {"head_lr"})
        if unknown:  # a typo in [methods.head-finetune] must not be ignored
            raise ValueError(f"unknown head-finetune option(s) {unknown}; known: head_lr")
        self.head_lr = float(config.extra.get("head_lr", config.inner_lr))

    def query_loss(self, episode: Episode) -> torch.Tensor:
        """Meta-training: the plain loss of the shared network on the query, no inner loop."""
        task = self.check_task(episode)
        return task_loss(task, self.views[task](episode.query.images), episode.query)

    def adapt(self, episode: Episode) -> Learner:
        """Meta-test: fine-tune a copy of the task head on the support set only; the backbone stays frozen.

        Only the support set is looked at (the runner times this call as the ``adapt`` phase), and the
        meta-parameters are never changed: every episode starts from the same meta-trained weights.
        """
        task = self.check_task(episode)
        support = episode.support.to(self.device)
        head = copy.deepcopy(self.net.heads[task])
        with torch.no_grad():
            features = self.net.backbone(support.images)  # computed once: the backbone does not change
        optimiser = torch.optim.SGD(head.parameters(), lr=self.head_lr)
        with torch.enable_grad():
            for _ in range(self.config.adapt_steps):
                optimiser.zero_grad(set_to_none=True)
                task_loss(task, head(features, support.images.shape[-1]), support).backward()
                optimiser.step()
        backbone = self.net.backbone
        return FunctionLearner(lambda images: head(backbone(images), images.shape[-1]), self.device)
