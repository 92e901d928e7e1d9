"""The heterogeneous meta-batch outer loop shared by every gradient-based baseline.

Every baseline (``maml``, ``fomaml``, ``anil``, ``metasgd``, ``maml-higher``)
differs only in how one episode's query loss is computed after its inner loop
(``EpisodicMethod.query_loss``). Everything a comparison depends on is fixed
here, once: the meta-batch (``sampler.meta_batch``: the four tasks cycle, so a
batch mixes them, each episode with its own head and loss), the outer objective
(the mean of the episodes' query losses), the outer optimiser (Adam with
``outer_lr`` over the method's meta-parameters), the budget check, the phases
the runner times and the divergence rule: a non-finite query loss raises
``DivergenceError`` (the runner records the cell as failed and goes on).
Inner-loop losses are deliberately not checked: each check is a device
synchronisation that AFR's functional inner loop does not pay either, a NaN
inner loss makes the query loss NaN anyway, and at meta-test the runner checks
every metric for finiteness.

Each episode's query loss is back-propagated as soon as it is computed (divided
by the batch size), which gives exactly the gradient of the batch mean but keeps
only one episode's second-order graph alive at a time; learn2learn's own
examples do the same.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator

import torch
from torch import nn

from domains.episodes import Batch, Episode, EpisodeSampler
from methods.base import Budget, Method, MethodConfig, PhaseClock, TrainingLog, check_finite
from methods.losses import task_loss


class TaskView(nn.Module):
    """One task's path through the shared network: the shared backbone and that task's head.

    The view holds the *same* modules as ``MultiTaskNet`` (no copy), so a
    learn2learn or higher wrapper around it adapts exactly the parameters the
    task uses and the outer gradient lands on the shared network. Without it,
    the other tasks' heads would be unused parameters of every inner gradient.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images), images.shape[-1])


class FunctionLearner:
    """An adapted learner: predicts with a fixed function under ``torch.inference_mode``.

    Every method's ``predict`` runs in inference mode, so inference times compare
    forward passes only (``docs/timing.md#phases``).
    """

    def __init__(self, forward: Callable[[torch.Tensor], torch.Tensor], device: torch.device):
        self._forward, self._device = forward, device

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self._forward(images.to(self._device))


def sgd_finetune(module: nn.Module, batch: Batch, task: str, steps: int, lr: float) -> None:
    """Plain SGD on ``module``'s own parameters: the test-time inner loop of the non-meta baselines."""
    optimiser = torch.optim.SGD(module.parameters(), lr=lr)
    for _ in range(steps):
        optimiser.zero_grad(set_to_none=True)
        task_loss(task, module(batch.images), batch).backward()
        optimiser.step()


class EpisodicMethod(Method):
    """A method trained by the shared heterogeneous meta-batch loop; subclasses give the per-episode loss."""

    def __init__(self, config: MethodConfig, tasks: tuple[str, ...], device: torch.device, seed: int):
        super().__init__(config, tasks, device, seed)
        if config.inner_steps < 0 or config.adapt_steps < 0:
            raise ValueError(f"inner steps must be >= 0, got inner_steps={config.inner_steps}, "
                             f"test_inner_steps={config.test_inner_steps}")
        if config.meta_batch_size < 1:
            raise ValueError(f"meta_batch_size must be >= 1, got {config.meta_batch_size}")
        self.views = {task: TaskView(self.net.backbone, self.net.heads[task]) for task in self.tasks}

    def check_task(self, episode: Episode) -> str:
        """The episode's task, or a clear error when this method was not built for it."""
        if episode.task not in self.views:
            raise ValueError(f"{self.name} was built for tasks {', '.join(self.tasks)} and got a "
                             f"'{episode.task}' episode; add the task to the spec's tasks")
        return episode.task

    # ---- what subclasses provide ----------------------------------------------
    @abstractmethod
    def query_loss(self, episode: Episode) -> torch.Tensor:
        """Query loss after ``config.inner_steps`` inner steps on the support, differentiable
        with respect to ``meta_parameters()`` (through the inner loop for second-order methods)."""

    def meta_parameters(self) -> Iterable[nn.Parameter]:
        """What the outer optimiser updates: the shared network (Meta-SGD adds its learning rates)."""
        return self.net.parameters()

    # ---- the shared outer loop ------------------------------------------------
    def make_outer_optimiser(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.meta_parameters(), lr=self.config.outer_lr)

    def query_loss_groups(self, episodes: list[Episode]) -> Iterator[list[tuple[Episode, torch.Tensor]]]:
        """The meta-batch's query losses in groups that are back-propagated together.

        By default one episode per group, computed only when the previous group's backward is
        done, so that one episode's (second-order) graph is alive at a time. A method that
        evaluates several episodes in one computation (AFR's fused path) yields them as one group
        and pays one backward pass for all of them; the gradient is the same sum either way.
        """
        for episode in episodes:
            yield [(episode, self.query_loss(episode))]

    def outer_step(self, episodes: list[Episode], optimiser: torch.optim.Optimizer) -> tuple[float, dict[str, float]]:
        """One outer update on a heterogeneous meta-batch; returns the mean query loss and per-task means."""
        optimiser.zero_grad(set_to_none=True)
        per_task: dict[str, list[float]] = defaultdict(list)
        for group in self.query_loss_groups(episodes):
            for episode, loss in group:
                check_finite(loss, f"{self.name} meta-train query loss ({episode.task}, domain {episode.domain})")
                per_task[episode.task].append(float(loss.detach()))
            total_loss = group[0][1] if len(group) == 1 else torch.stack([loss for _, loss in group]).sum()
            (total_loss / len(episodes)).backward()
        optimiser.step()
        means = {task: sum(values) / len(values) for task, values in per_task.items()}
        total = sum(sum(values) for values in per_task.values()) / len(episodes)
        return total, means

    def meta_train(self, sampler: EpisodeSampler, budget: Budget, clock: PhaseClock,
                   seed_index: int = 0) -> TrainingLog:
        if budget.steps is None and budget.seconds is None:
            raise ValueError("the meta-training budget has neither steps nor seconds; set one in the spec's [training]")
        self.net.train()
        optimiser = self.make_outer_optimiser()
        log = TrainingLog()
        start, step = time.perf_counter(), 0
        while not budget.exhausted(step, time.perf_counter() - start):
            with clock.phase("data"):
                episodes = [e.to(self.device) for e in
                            sampler.meta_batch(seed_index, step, self.config.meta_batch_size)]
            with clock.phase("meta_train_step"):
                total, per_task = self.outer_step(episodes, optimiser)
            clock.log(step, loss=total, **per_task)
            log.append(step, total, per_task)
            step += 1
        return log
