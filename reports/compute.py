"""Equal compute: quality against meta-training time and FLOPs, and time-to-target.

A method that is better after the same number of steps may still be worse for the
same compute, when its steps cost more. From what a run already stores:

- the learning curves (table ``val_curve``): the primary metric on the fixed
  meta-val episodes after 0, ``curve_every``, 2 x ``curve_every``, ... meta-train
  steps, per method and seed (the same episodes for every method at a seed);
- the meta-train clock (table ``training_curve``): row ``step`` = s holds the
  seconds of the ``meta_train_step`` phase summed over the first s + 1 steps
  (``bench/clock.py``; data loading and curve scoring are not in it);
- the FLOPs of one meta-train step per method (table ``phase_costs``);

each checkpoint gets its cumulative meta-train seconds (that seed's own clock) and its
cumulative FLOPs (steps x the per-step FLOPs). For AFR and its variants
``phase_costs`` counts a stage-2 step (``bench/cell.py`` measures a copy built with
``pretrain_steps = 0``), so their stage-1 steps are counted at that cost too.

Time-to-target, per task: the *best method* is the one whose seed-mean curve ends at
the best value; the *target level* is ``FRACTION`` (0.9) of the way from that
method's step-0 value to its final value, in the metric's own units. For each method
and seed, the time-to-target is the first checkpoint at or past that level (seconds,
FLOPs and steps there); per method the report gives the median over the seeds that
reached it and how many did, or "not reached" when none did. No target is set when
the best method did not improve on its step 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from reports.metricinfo import MetricInfo

FRACTION = 0.9  # time-to-target: this fraction of the best method's improvement from step 0 to its final value
NOT_REACHED = "not reached"
CURVE_COLUMNS = ["method", "seed", "task", "metric", "step", "seconds", "flops", "value"]


@dataclass(frozen=True)
class Target:
    """One task's time-to-target level."""

    task: str
    metric: str
    direction: str  # 'higher' | 'lower' is better
    best_method: str  # the method whose seed-mean curve ends best
    start: float  # its seed-mean value at step 0 (its first checkpoint)
    final: float  # its seed-mean value at its last checkpoint
    fraction: float
    level: float  # start + fraction x (final - start); nan when the best method did not improve

    @property
    def defined(self) -> bool:
        return math.isfinite(self.level)

    def reached(self, value: float) -> bool:
        return self.defined and (value >= self.level if self.direction == "higher" else value <= self.level)


@dataclass
class TimeToTarget:
    """One method on one task: when its seeds first reached the target level."""

    method: str
    task: str
    metric: str
    n_seeds: int
    n_reached: int
    step: float  # medians over the seeds that reached it (nan when none did)
    seconds: float
    flops: float
    final: float  # the method's seed-mean value at its last checkpoint
    per_seed: list[dict[str, float | int | None]] = field(default_factory=list)  # seed, step, seconds, flops (None: not reached)

    @property
    def reached(self) -> bool:
        return self.n_reached > 0


@dataclass
class EqualCompute:
    fraction: float
    curves: pd.DataFrame  # per seed and checkpoint: CURVE_COLUMNS
    targets: dict[str, Target]  # per task with a curve
    times: list[TimeToTarget]

    def mean_curves(self) -> pd.DataFrame:
        """Seed means per method, task and checkpoint: value, seconds and flops (the figures' lines)."""
        if self.curves.empty:
            return pd.DataFrame(columns=["method", "task", "metric", "step", "seconds", "flops", "value"])
        return (self.curves.groupby(["method", "task", "metric", "step"], sort=True)[["seconds", "flops", "value"]]
                .mean().reset_index())


def _cumulative_seconds(clock: pd.DataFrame, steps: np.ndarray) -> np.ndarray:
    """Seconds of meta-training after each of ``steps`` steps, from one (method, seed)'s training_curve rows."""
    if clock.empty:
        return np.where(steps == 0, 0.0, math.nan)
    done = clock["step"].to_numpy(dtype=float) + 1.0  # row s: s + 1 steps done
    elapsed = clock["elapsed"].to_numpy(dtype=float)
    order = np.argsort(done)
    x, y = np.concatenate([[0.0], done[order]]), np.concatenate([[0.0], elapsed[order]])
    out = np.interp(steps.astype(float), x, y)
    return np.where(steps > x[-1], math.nan, out)  # never extrapolate past the last logged step


def seed_curves(val_curve: pd.DataFrame, clock: pd.DataFrame, costs: pd.DataFrame,
                primary: Mapping[str, MetricInfo], methods: Sequence[str], seeds: Sequence[int]) -> pd.DataFrame:
    """Per (method, seed, task, checkpoint): the primary metric's mean over the meta-val episodes, the
    cumulative meta-train seconds and the cumulative FLOPs."""
    flops_per_step = {str(r.method): float(r.flops) for r in costs.itertuples()
                      if r.phase == "meta_train_step" and r.flops is not None and not pd.isna(r.flops)}
    rows = []
    for task, info in primary.items():
        sub = val_curve[(val_curve["task"] == task) & (val_curve["metric"] == info.name)
                        & val_curve["method"].isin(methods) & val_curve["seed"].isin(seeds)]
        if sub.empty:
            continue
        means = sub.groupby(["method", "seed", "step"], sort=True)["value"].mean().reset_index()
        for (method, seed), one in means.groupby(["method", "seed"], sort=True):
            steps = one["step"].to_numpy(dtype=int)
            mine = clock[(clock["method"] == method) & (clock["seed"] == seed)]
            seconds = _cumulative_seconds(mine, steps)
            per_step = flops_per_step.get(str(method), math.nan)
            for k, s, v in zip(steps, seconds, one["value"].to_numpy(dtype=float), strict=True):
                rows.append((str(method), int(seed), task, info.name, int(k), float(s), k * per_step, v))
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def targets(curves: pd.DataFrame, primary: Mapping[str, MetricInfo], fraction: float = FRACTION) -> dict[str, Target]:
    """Per task: the best method's final seed-mean value and the level ``fraction`` of the way to it from its start."""
    out: dict[str, Target] = {}
    for task, info in primary.items():
        sub = curves[curves["task"] == task]
        if sub.empty:
            continue
        mean = sub.groupby(["method", "step"], sort=True)["value"].mean()
        ends = {m: (float(c.iloc[0]), float(c.iloc[-1])) for m, c in mean.groupby(level="method")}
        sign = 1.0 if info.direction == "higher" else -1.0
        best = max(sorted(ends), key=lambda m: sign * ends[m][1])
        start, final = ends[best]
        level = start + fraction * (final - start) if sign * (final - start) > 0 else math.nan
        out[task] = Target(task, info.name, info.direction, best, start, final, fraction, level)
    return out


def _median(values: list[float]) -> float:
    return float(np.median(values)) if values else math.nan


def time_to_target(curves: pd.DataFrame, goals: Mapping[str, Target], seeds: Sequence[int]) -> list[TimeToTarget]:
    """Per method and task: each seed's first checkpoint at or past the target, and their medians."""
    out = []
    for task, goal in goals.items():
        sub = curves[curves["task"] == task]
        for method, per_method in sub.groupby("method", sort=True):
            per_seed: list[dict[str, float | int | None]] = []
            for seed in seeds:
                one = per_method[per_method["seed"] == seed].sort_values("step")
                # a seed without a curve (a failed cell) counts as one that did not reach the target
                hit = next((r for r in one.itertuples() if goal.reached(float(r.value))), None)
                per_seed.append({"seed": int(seed), "step": None if hit is None else int(hit.step),
                                 "seconds": None if hit is None else float(hit.seconds),
                                 "flops": None if hit is None else float(hit.flops)})
            hits = [p for p in per_seed if p["step"] is not None]
            final = float(per_method.groupby("step")["value"].mean().sort_index().iloc[-1])
            out.append(TimeToTarget(str(method), task, goal.metric, len(seeds), len(hits),
                                    _median([float(p["step"]) for p in hits]),  # type: ignore[arg-type]
                                    _median([float(p["seconds"]) for p in hits]),  # type: ignore[arg-type]
                                    _median([float(p["flops"]) for p in hits]),  # type: ignore[arg-type]
                                    final, per_seed))
    return out


def equal_compute(val_curve: pd.DataFrame, clock: pd.DataFrame, costs: pd.DataFrame,
                  primary: Mapping[str, MetricInfo], methods: Sequence[str], seeds: Sequence[int],
                  fraction: float = FRACTION) -> EqualCompute:
    curves = seed_curves(val_curve, clock, costs, primary, methods, seeds)
    goals = targets(curves, primary, fraction)
    return EqualCompute(fraction, curves, goals, time_to_target(curves, goals, seeds))
