"""Paired effects of one method over another on one task and metric (docs/statistics.md#paired-effects).

The unit is the (seed, domain) cell, averaged over its episodes (the same
episode ids for every method). The point estimate is the mean effect over the
seeds x domains grid; its CI resamples seeds and domains together; the test is
a Wilcoxon signed-rank over domains of the seed-averaged effects, because
domains (10-25 per task) are the replication unit with power, while 5 seeds
can never reach a two-sided p < 0.05.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from reports import bootstrap
from reports.inference import CrossedT, crossed_t, wilcoxon_p
from reports.metricinfo import MetricInfo


@dataclass
class Effect:
    method: str
    baseline: str
    task: str
    metric: MetricInfo
    estimate: float  # mean paired effect, metric transform, positive = method better
    ci: tuple[float, float]  # two-sided crossed-bootstrap percentile interval at 1 - alpha
    lower: float  # one-sided (1 - alpha) lower bound (the lower of bootstrap and crossed t), non-inferiority
    upper: float  # one-sided (1 - alpha) upper bound (the higher of the two), for equivalence
    margin: float  # ROPE in effect units
    p: float  # Wilcoxon over domains, two-sided
    crossed: CrossedT  # seed x domain random-effects t-test
    n_seeds: int
    n_domains: int
    per_domain: pd.DataFrame  # domain, effect, ci_lo, ci_hi (bootstrap over seeds; exploratory)
    seed_effects: np.ndarray  # per-seed mean effect (sign agreement across training runs)
    p_adjusted: float = math.nan  # Holm (or BH) of the Wilcoxon p
    p_crossed_adjusted: float = math.nan  # same adjustment of the crossed t p
    verdict: str = ""
    family: str = "confirmatory"
    wins: int = 0  # domains whose seed-mean effect exceeds +margin
    ties: int = 0
    losses: int = 0

    @property
    def noninferior(self) -> bool:
        return self.lower > -self.margin

    def as_ratio(self, value: float) -> float:
        """A log-ratio effect as the geometric-mean ratio (reference error / method error > 1 = better)."""
        return math.exp(value) if self.metric.transform == "log_ratio" else value


def paired_effect(method_matrix: np.ndarray, baseline_matrix: np.ndarray, *, method: str, baseline: str,
                  task: str, metric: MetricInfo, domains: list[str], alpha: float, generator: np.random.Generator,
                  margin: float | None = None, n_resamples: int = bootstrap.DEFAULT_RESAMPLES) -> Effect:
    """The paired effect of ``method`` over ``baseline`` from two aligned seeds x domains matrices."""
    d = metric.effect(method_matrix, baseline_matrix)
    if not np.all(np.isfinite(d)):
        raise ValueError(f"{task}/{metric.name}: non-finite paired effects ({method} vs {baseline}); "
                         "a log-ratio metric needs strictly positive values")
    boots = bootstrap.crossed_means(d, generator, n_resamples)
    crossed = crossed_t(d)
    margin = metric.margin if margin is None else margin
    per_dom = d.mean(axis=0)
    rows = []
    for j, dom in enumerate(domains):
        col = d[:, j]
        lo, hi = bootstrap.percentile_ci(bootstrap.seed_means(col, generator, n_resamples), 1 - alpha) \
            if len(col) > 1 else (math.nan, math.nan)
        rows.append({"domain": dom, "effect": float(col.mean()), "ci_lo": lo, "ci_hi": hi})
    return Effect(method=method, baseline=baseline, task=task, metric=metric, estimate=float(d.mean()),
                  ci=bootstrap.percentile_ci(boots, 1 - alpha),
                  lower=_nan_min(bootstrap.lower_bound(boots, alpha), crossed.lower(alpha)),
                  upper=_nan_max(bootstrap.upper_bound(boots, alpha), crossed.upper(alpha)),
                  margin=margin, p=wilcoxon_p(per_dom), crossed=crossed, n_seeds=d.shape[0], n_domains=d.shape[1],
                  per_domain=pd.DataFrame(rows), seed_effects=d.mean(axis=1),
                  wins=int((per_dom > margin).sum()), ties=int((np.abs(per_dom) <= margin).sum()),
                  losses=int((per_dom < -margin).sum()))


def _nan_min(a: float, b: float) -> float:
    return a if math.isnan(b) else min(a, b)


def _nan_max(a: float, b: float) -> float:
    return a if math.isnan(b) else max(a, b)


@dataclass
class MeanCI:
    """A method's mean of one metric on one task, with a crossed-bootstrap CI."""

    method: str
    task: str
    metric: str
    mean: float
    ci: tuple[float, float]
    se: float  # across seeds of the seed means, ddof=1 (NaN with one seed)
    n_seeds: int
    n_domains: int


def mean_with_ci(m: np.ndarray, *, method: str, task: str, metric: str, alpha: float,
                 generator: np.random.Generator, n_resamples: int = bootstrap.DEFAULT_RESAMPLES) -> MeanCI:
    boots = bootstrap.crossed_means(m, generator, n_resamples)
    seed_means = m.mean(axis=1)
    se = float(np.std(seed_means, ddof=1) / math.sqrt(len(seed_means))) if len(seed_means) > 1 else math.nan
    return MeanCI(method=method, task=task, metric=metric, mean=float(m.mean()),
                  ci=bootstrap.percentile_ci(boots, 1 - alpha), se=se, n_seeds=m.shape[0], n_domains=m.shape[1])
