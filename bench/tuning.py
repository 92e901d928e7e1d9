"""Hyper-parameter selection on meta-validation domains, with the same budget for every method.

The DomainBed lesson (``docs/statistics.md#model-selection``): a comparison is only
fair when every method gets the same search space, the same number of trials,
the same training budget per trial and the same selection rule, and when test
domains play no part in it. This module is that procedure:

1. **Candidates.** The spec's ``[tuning]`` table gives a grid per tuned
   hyper-parameter (``inner_lr``, ``outer_lr``). ``trials`` grid points are drawn
   without replacement by a generator seeded from ``[tuning] seed`` only -- never
   the method -- so every method is tried on the *same* candidates (all of the
   grid when ``trials`` covers it).
2. **Trials.** Each candidate meta-trains a fresh method (same initial weights
   for every method and candidate) for the tuning budget on meta-train
   episodes, then adapts to ``val_episodes`` episodes of every meta-val domain
   of every task (``sampler.episode("val", ...)``) and scores the query with the
   task's primary metric (``domains.metrics``). A task's score is the mean over
   its domains of the per-domain mean over episodes (domains weigh equally),
   then the mean over ``seeds`` seed indices.
3. **Selection.** Per task, candidates are ranked by the primary metric in its
   own direction (scipy ``rankdata``, ties averaged; a diverged candidate ranks
   last). The winner has the lowest mean rank over tasks; a tie goes to the
   earlier candidate. Ranks make accuracy and angular errors commensurable
   without inventing a scale.

The result is a ``[methods.<name>]`` TOML snippet with the chosen values and a
``tuned`` provenance string, to be pasted into the shipped spec.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.stats import rankdata
from tqdm import tqdm

from bench.tuning_space import SELECTION_RULE, SearchSpace, TuningError
from domains.episodes import EpisodeSampler
from methods.base import Budget, DivergenceError, Method, MethodConfig, NullClock


@dataclass
class Trial:
    """One candidate's outcome: per-task primary scores, or the reason it failed."""

    values: dict[str, float]
    scores: dict[str, float] = field(default_factory=dict)
    failure: str | None = None
    mean_rank: float = math.nan


@dataclass
class TuningResult:
    method: str
    space: SearchSpace
    trials: list[Trial]
    chosen: int
    primary: dict[str, str]  # task -> primary metric name

    @property
    def best(self) -> Trial:
        return self.trials[self.chosen]

    def provenance(self, spec_label: str = "") -> str:
        source = f" from {spec_label}" if spec_label else ""
        failed = sum(t.failure is not None for t in self.trials)
        return (f"mtml-bench tune{source}: {self.space.describe()}; selected by {SELECTION_RULE} "
                f"(mean rank {self.best.mean_rank:.2f}; {failed} of {len(self.trials)} trials diverged)")

    def toml(self, spec_label: str = "") -> str:
        """The ``[methods.<name>]`` snippet to paste into the spec."""
        bare = re.fullmatch(r"[A-Za-z0-9_-]+", self.method) is not None  # TOML bare key, as the specs write them
        lines = [f"[methods.{self.method}]" if bare else f"[methods.{_toml_string(self.method)}]"]
        lines += [f"{name} = {value!r}" for name, value in sorted(self.best.values.items())]
        lines.append(f"tuned = {_toml_string(self.provenance(spec_label))}")
        return "\n".join(lines) + "\n"

    def table(self) -> str:
        """A plain-text table of every trial, for the terminal."""
        tasks = list(self.primary)
        names = sorted(self.best.values)
        header = [*names, *(f"{t}:{self.primary[t]}" for t in tasks), "mean rank", ""]
        rows = []
        for i, trial in enumerate(self.trials):
            cells = [f"{trial.values[n]:g}" for n in names]
            cells += [f"{trial.scores[t]:.4g}" if t in trial.scores else "-" for t in tasks]
            cells += [f"{trial.mean_rank:.2f}", "<- chosen" if i == self.chosen else (trial.failure or "")]
            rows.append(cells)
        widths = [max(len(h), *(len(r[j]) for r in rows)) for j, h in enumerate(header)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        return "\n".join(fmt.format(*r).rstrip() for r in [header, *rows])


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# A metric function: (task, prediction, query batch, ways) -> {metric: value}, as ``domains.metrics.evaluate``.
Evaluate = Callable[[str, torch.Tensor, Any, "int | None"], Mapping[str, float]]


@dataclass(frozen=True)
class Scorer:
    """How a trial is scored: the primary metric of each task and its direction."""

    evaluate: Evaluate
    primary: dict[str, str]
    higher_is_better: dict[str, bool]

    @classmethod
    def from_metrics(cls, tasks: Sequence[str]) -> Scorer:
        """The benchmark's own metrics (``domains.metrics``), the same ones reports use."""
        from domains import metrics

        primary, higher = {}, {}
        for task in tasks:
            info = metrics.primary_metric(task)
            primary[task] = info.name
            higher[task] = _higher_is_better(info.direction)
        return cls(metrics.evaluate, primary, higher)


def _higher_is_better(direction: object) -> bool:
    text = str(getattr(direction, "value", direction)).lower()
    if text in ("higher", "max", "maximize", "up", "+1", "1"):
        return True
    if text in ("lower", "min", "minimize", "down", "-1"):
        return False
    raise TuningError(f"metric direction {direction!r} is neither higher nor lower")


def score_on_validation(method: Method, sampler: EpisodeSampler, scorer: Scorer, seed_index: int,
                        val_episodes: int) -> dict[str, float]:
    """Per task: mean over meta-val domains of the mean primary metric over ``val_episodes`` episodes."""
    scores = {}
    for task in [t for t in method.tasks if method.scores(t)]:  # protonet is scored on classification only
        domains = sampler.domains(task, "val")
        if not domains:
            raise TuningError(f"task '{task}' has no meta-val domains in this split; tuning needs some")
        per_domain = []
        for domain in domains:
            values = []
            for index in range(val_episodes):
                episode = sampler.episode("val", task, domain, seed_index, index).to(method.device)
                pred = method.adapt(episode).predict(episode.query.images)
                value = float(scorer.evaluate(task, pred, episode.query, episode.ways)[scorer.primary[task]])
                if not math.isfinite(value):
                    raise DivergenceError(f"{method.name}: {scorer.primary[task]} on meta-val domain {domain} is {value}")
                values.append(value)
            per_domain.append(sum(values) / len(values))
        scores[task] = sum(per_domain) / len(per_domain)
    return scores


def mean_ranks(trials: Sequence[Trial], tasks: Sequence[str], higher_is_better: Mapping[str, bool]) -> list[float]:
    """Mean over tasks of each trial's rank (1 = best; failed trials rank last, ties averaged)."""
    per_task = []
    for task in tasks:
        sign = -1.0 if higher_is_better[task] else 1.0
        keyed = [sign * t.scores[task] if t.failure is None else math.inf for t in trials]
        per_task.append(rankdata(keyed, method="average"))
    return [float(x) for x in np.mean(per_task, axis=0)]


# (config, seed index) -> a fresh method; its initial weights may depend on the seed index, never the method.
MethodFactory = Callable[[MethodConfig, int], Method]


def tune(method_name: str, factory: MethodFactory, base: MethodConfig, sampler: EpisodeSampler,
         space: SearchSpace, scorer: Scorer, progress: bool = True, budget_steps: int | None = None) -> TuningResult:
    """Run every candidate for one method and pick one by the documented rule.

    ``budget_steps`` is the run's budget, against which ``base.pretrain_steps`` is scaled to the trial
    (``SearchSpace.trial_stage_one``).
    """
    candidates = space.candidates()
    # every trial keeps the run's schedule shape: stage 1 scaled with the trial (same rule for every method)
    base = dataclasses.replace(base, pretrain_steps=space.trial_stage_one(base.pretrain_steps, budget_steps))
    trials = []
    bar = tqdm(total=len(candidates) * space.seeds, desc=f"tune {method_name}", disable=not progress, leave=False)
    for values in candidates:
        trial = Trial(values)
        runs: list[dict[str, float]] = []
        for seed_index in range(space.seeds):
            try:
                method = factory(dataclasses.replace(base, **values), seed_index)
                method.meta_train(sampler, Budget(steps=space.steps), NullClock(), seed_index=seed_index)
                runs.append(score_on_validation(method, sampler, scorer, seed_index, space.val_episodes))
            except DivergenceError as err:
                trial.failure = f"diverged: {err}"
                bar.update(space.seeds - len(runs))
                break
            bar.update(1)
        if trial.failure is None:
            trial.scores = {task: sum(r[task] for r in runs) / len(runs) for task in runs[0]}
        trials.append(trial)
    bar.close()
    if all(t.failure is not None for t in trials):
        raise TuningError(f"every candidate for '{method_name}' diverged ({trials[0].failure}); "
                          "lower the learning rates in [tuning]")
    scored = next(t.scores for t in trials if t.failure is None)
    tasks = [task for task in scorer.primary if task in scored]  # the tasks this method is scored on
    for trial, rank in zip(trials, mean_ranks(trials, tasks, scorer.higher_is_better)):
        trial.mean_rank = rank
    chosen = min(range(len(trials)), key=lambda i: (trials[i].mean_rank, i))
    return TuningResult(method_name, space, trials, chosen, {task: scorer.primary[task] for task in tasks})
