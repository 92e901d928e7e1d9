"""The method interface every learner implements, and the clock it reports phases to.

Modelled on learn2learn's algorithm objects: a method owns its meta-parameters,
``meta_train`` improves them, ``adapt`` returns a learner specialised to one
episode's support set, and the learner predicts the query. The runner times
``adapt`` and ``predict``; ``meta_train`` times its own steps through the clock
because only the method knows where a step begins and ends.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from domains.episodes import Episode, EpisodeSampler
from methods.network import MultiTaskNet, NetworkConfig, parameter_count


class DivergenceError(RuntimeError):
    """A NaN or infinite loss: the cell is recorded as failed with this reason; the run goes on."""


@dataclass(frozen=True)
class Budget:
    """Meta-training budget: stop at whichever of steps or seconds comes first."""

    steps: int | None = None
    seconds: float | None = None

    def exhausted(self, step: int, elapsed: float) -> bool:
        return (self.steps is not None and step >= self.steps) or (self.seconds is not None and elapsed >= self.seconds)


class PhaseClock(Protocol):
    """What a method sees of the runner's timer."""

    def phase(self, name: str) -> contextlib.AbstractContextManager[None]: ...

    def log(self, step: int, **values: float) -> None: ...


class NullClock:
    """A clock that measures nothing: for tests and for callers that only want results."""

    def __init__(self) -> None:
        self.logged: list[tuple[int, dict[str, float]]] = []

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        yield

    def log(self, step: int, **values: float) -> None:
        self.logged.append((step, values))


@dataclass(frozen=True)
class MethodConfig:
    """Hyper-parameters shared by every method (same budget for all); extras are method-specific."""

    # No defaults: the values come from the spec (``bench.spec.TrainingSpec`` holds the defaults, once).
    network: NetworkConfig
    inner_steps: int
    inner_lr: float
    outer_lr: float
    meta_batch_size: int
    test_inner_steps: int | None = None  # defaults to inner_steps
    pretrain_steps: int = 0  # multi-task stage before meta-training (AFR stage 1, multitask baseline)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def adapt_steps(self) -> int:
        return self.inner_steps if self.test_inner_steps is None else self.test_inner_steps


@dataclass
class TrainingLog:
    """Per meta-training step: the outer loss (and per-task losses) for the learning curves."""

    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    task_losses: list[dict[str, float]] = field(default_factory=list)

    def append(self, step: int, loss: float, per_task: dict[str, float]) -> None:
        self.steps.append(step)
        self.losses.append(loss)
        self.task_losses.append(per_task)


class Learner(Protocol):
    def predict(self, images: torch.Tensor) -> torch.Tensor: ...


def check_finite(loss: torch.Tensor, where: str) -> None:
    value = float(loss.detach())
    if not math.isfinite(value):
        raise DivergenceError(f"{where}: loss became {value}; lower the learning rates or the inner steps")


class Method(ABC):
    """A registered learner. Subclasses build on ``MultiTaskNet`` so architectures match."""

    name: str = ""
    control: bool = False  # a control (constant, scratch, protonet): shown beside methods, never in the confirmatory family
    scored_tasks: tuple[str, ...] | None = None  # tasks this method is scored on (None: every task of the spec)
    tunable: bool = True  # False: no learning rate matters (the constant control); 'mtml-bench tune' skips it

    def __init__(self, config: MethodConfig, tasks: tuple[str, ...], device: torch.device, seed: int):
        self.config, self.tasks, self.device, self.seed = config, tuple(tasks), device, seed
        torch.manual_seed(seed)
        self.net = MultiTaskNet(config.network, self.tasks).to(device)

    @abstractmethod
    def meta_train(self, sampler: EpisodeSampler, budget: Budget, clock: PhaseClock,
                   seed_index: int = 0) -> TrainingLog:
        """Improve the meta-parameters on meta-train episodes (``sampler.meta_batch``)."""

    @abstractmethod
    def adapt(self, episode: Episode) -> Learner:
        """Specialise to ``episode.support`` only (never look at the query)."""

    def before_adaptation(self, episode: Episode) -> Learner:
        """The meta-learned initialisation's learner: ``adapt`` with zero test-time steps.

        Scored on the same query as the adapted learner, it gives each method's adaptation
        gain. Every ``adapt`` reads its step count from ``config.adapt_steps``, so this is the
        same code path with the steps set to 0 (the episode context AFR's attention reads
        from the support set is still computed: it is part of the initialisation's forward).
        """
        saved = self.config
        self.config = dataclasses.replace(saved, test_inner_steps=0)
        try:
            return self.adapt(episode)
        finally:
            self.config = saved

    def scores(self, task: str) -> bool:
        """Whether this method is scored on ``task`` (a classification-only control is not on depth)."""
        return self.scored_tasks is None or task in self.scored_tasks

    def extra_parameters(self) -> int:
        """Parameters the method adds beyond the shared network (0 for plain MAML)."""
        return 0

    def parameter_count(self) -> int:
        return parameter_count(self.net) + self.extra_parameters()

