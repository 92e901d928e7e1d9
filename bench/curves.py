"""Learning curves: a fixed small set of meta-val episodes scored every K meta-train steps.

The set depends on the split, the task list, the cell's seed index and the spec's
``curve_episodes`` only -- never on the method -- so every method at one seed is
scored on byte-identical episodes, and the same ones at every checkpoint: a
curve's changes are the method's, not the sample's. Episode ``j`` of a task
draws the task's ``j mod n``-th meta-val domain (episode index ``j div n``),
so a handful of episodes still spans the meta-val environments. Meta-val data
only: held-out (meta-test) domains never influence anything a run reports
about training.

Scoring runs between meta-train steps, outside every timed phase, so the
phase timings and the speed figures do not include it.
"""

from __future__ import annotations

import math

import torch

from domains.episodes import Episode, EpisodeSampler
from methods.base import Method

# (steps done, task, domain, episode, metric, value): one raw row per scored episode and metric.
CurveRow = tuple[int, str, str, int, str, float]


def curve_episodes(sampler: EpisodeSampler, tasks: tuple[str, ...], per_task: int, seed_index: int,
                   device: torch.device) -> list[Episode]:
    """The fixed meta-val episodes of one seed, ``per_task`` per task (see the module doc)."""
    episodes = []
    for task in tasks:
        domains = sampler.domains(task, "val")
        if not domains:
            continue
        for j in range(per_task):
            domain = domains[j % len(domains)]
            episodes.append(sampler.episode("val", task, domain, seed_index, j // len(domains)).to(device))
    return episodes


def score_episodes(method: Method, episodes: list[Episode], steps_done: int) -> list[CurveRow]:
    """Adapt to each episode's support, score its query; non-finite values are left out (a diverging
    method fails its cell through its training loss anyway)."""
    from domains.metrics import evaluate

    rows: list[CurveRow] = []
    for episode in episodes:
        if not method.scores(episode.task):
            continue
        learner = method.adapt(episode)
        with torch.inference_mode():
            pred = learner.predict(episode.query.images)
        for metric, value in evaluate(episode.task, pred, episode.query, episode.ways).items():
            if math.isfinite(value):
                rows.append((steps_done, episode.task, episode.domain, episode.key.episode_index, metric, float(value)))
    return rows


def checkpoints(every: int | None, budget_steps: int | None) -> set[int]:
    """Steps done after which the curve is scored: 0, every, 2*every, ..., and the last step."""
    if every is None or budget_steps is None:
        return set()
    return {0, *range(every, budget_steps + 1, every), budget_steps}
