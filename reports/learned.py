"""Is each task learned? Every method against the ``constant`` control, and each method's adaptation gain.

A comparison of two methods means something only if they learned the task. This
section asks it first, per task: each method (controls too) against
``constant`` -- the meta-train prior with no image input -- on the primary metric,
paired over the same held-out episodes (the unit is the seed x domain cell, as in
every comparison), Holm over this section's own family. A method *learned* a
task when the crossed seed x domain t-test rejects after Holm and its mean effect
exceeds the metric's margin (ROPE). The Wilcoxon signed-rank test over domains is
shown beside it as a sensitivity check but does not decide, for the reason the
confirmatory comparisons drop it (docs/confirmatory-design.md): on n domains its p
cannot fall below 2 / 2^n, so with 8 classification domains and 33 checks in this
family its Holm-adjusted p could never reach 0.05, and classification would be
NOT LEARNED whatever the data.

A task is NOT LEARNED when the reference method or the main baseline (the first
declared baseline) did not learn it: its reference-versus-baseline comparisons
then compare near-trivial predictors, so the report calls them uninterpretable
instead of a win or a loss.

The adaptation gain is the same paired effect of a method after adaptation over
itself before adaptation (zero test-time steps, stored in ``unadapted_values``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from reports.design import cell_means, matrix
from reports.effects import Effect, paired_effect
from reports.inference import holm
from reports.metricinfo import MetricInfo

CONTROL = "constant"
NOT_LEARNED = "NOT LEARNED"
UNINTERPRETABLE = "uninterpretable"


@dataclass
class TaskCheck:
    """One method on one task against ``constant``."""

    method: str
    task: str
    metric: str
    control_value: float  # constant's mean primary metric
    method_value: float  # the method's mean
    relative_reduction: float  # (control - method) / control for errors; NaN for higher-is-better metrics
    points_above: float  # method - control in the metric's units x 100 for fractions (accuracy points); else NaN
    effect: Effect
    learned: bool = False

    @property
    def p_holm(self) -> float:
        """The deciding p: the crossed t-test's, Holm-adjusted over this section."""
        return self.effect.p_crossed_adjusted


@dataclass
class Gain:
    """A method's adaptation gain on one task: after adaptation over before (primary metric)."""

    method: str
    task: str
    metric: str
    before: float
    after: float
    effect: Effect  # positive = adaptation helped


@dataclass
class Learned:
    checks: list[TaskCheck] = field(default_factory=list)
    gains: list[Gain] = field(default_factory=list)
    not_learned: list[str] = field(default_factory=list)  # tasks flagged NOT LEARNED
    reasons: dict[str, str] = field(default_factory=dict)  # task -> which method failed to beat constant
    available: bool = True  # False when the run has no constant control
    why_unavailable: str = ""

    def check(self, method: str, task: str) -> TaskCheck | None:
        return next((c for c in self.checks if c.method == method and c.task == task), None)


def _relative(info: MetricInfo, control: float, value: float) -> tuple[float, float]:
    if info.direction == "lower":
        return ((control - value) / control if control else math.nan), math.nan
    scale = 100.0 if info.unit in ("fraction", "") else 1.0
    return math.nan, (value - control) * scale


def check_learned(values: pd.DataFrame, unadapted: pd.DataFrame, methods: list[str], seeds: list[int],
                  tasks: list[str], domains: dict[str, list[str]], primary: dict[str, MetricInfo],
                  reference: str, main_baseline: str | None, alpha: float, generator: np.random.Generator,
                  n_resamples: int, margin: Callable[[MetricInfo], float]) -> Learned:
    """The whole section from raw episode values (after and before adaptation) of the balanced design."""
    if CONTROL not in methods:
        return Learned(available=False, why_unavailable=f"the run has no '{CONTROL}' control, so no task can be "
                       "checked for learning; add [methods.constant] to the spec")
    means = cell_means(values)
    out = Learned()
    for task in tasks:
        info = primary[task]
        control = matrix(means, CONTROL, task, info.name, seeds, domains[task])
        for method in methods:
            if method == CONTROL:
                continue
            grid = matrix(means, method, task, info.name, seeds, domains[task])
            if np.isnan(grid).all():
                continue  # a method not scored on this task (protonet beyond classification)
            eff = paired_effect(grid, control, method=method, baseline=CONTROL, task=task, metric=info,
                                domains=domains[task], alpha=alpha, margin=margin(info))
            eff.family = "learned"
            rel, points = _relative(info, float(control.mean()), float(grid.mean()))
            out.checks.append(TaskCheck(method, task, info.name, float(control.mean()), float(grid.mean()), rel,
                                        points, eff))
    adj_w = holm([c.effect.p for c in out.checks], alpha)
    adj_t = holm([c.effect.crossed.p for c in out.checks], alpha)
    for c, q_w, q_t in zip(out.checks, adj_w, adj_t, strict=True):
        c.effect.p_adjusted, c.effect.p_crossed_adjusted = float(q_w), float(q_t)
        c.learned = bool(q_t < alpha and c.effect.estimate > c.effect.margin)
        c.effect.verdict = "learned" if c.learned else "not learned"
    for task in tasks:
        failed = [m for m in (reference, main_baseline) if m is not None
                  and (check := out.check(m, task)) is not None and not check.learned]
        if failed:
            out.not_learned.append(task)
            out.reasons[task] = (f"{' and '.join(failed)} did not beat '{CONTROL}' by the metric's margin "
                                 f"({primary[task].name}, Holm over this section)")
    out.gains = adaptation_gains(means, cell_means(unadapted), methods, seeds, tasks, domains, primary, alpha,
                                 generator, n_resamples, margin)
    return out


def adaptation_gains(after: pd.DataFrame, before: pd.DataFrame, methods: list[str], seeds: list[int],
                     tasks: list[str], domains: dict[str, list[str]], primary: dict[str, MetricInfo], alpha: float,
                     generator: np.random.Generator, n_resamples: int,
                     margin: Callable[[MetricInfo], float]) -> list[Gain]:
    """Each method's paired after-over-before effect per task (exploratory; no multiplicity correction)."""
    gains = []
    if before.empty:
        return gains
    for task in tasks:
        info = primary[task]
        for method in methods:
            a = matrix(after, method, task, info.name, seeds, domains[task])
            b = matrix(before, method, task, info.name, seeds, domains[task])
            if np.isnan(a).any() or np.isnan(b).any():
                continue
            eff = paired_effect(a, b, method=method, baseline=f"{method} before adaptation", task=task, metric=info,
                                domains=domains[task], alpha=alpha, margin=margin(info))
            eff.family = "exploratory"
            eff.p_adjusted = eff.p
            gains.append(Gain(method, task, info.name, float(b.mean()), float(a.mean()), eff))
    return gains
