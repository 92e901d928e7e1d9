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
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from reports import bootstrap
from reports.inference import CrossedT, crossed_t, wilcoxon_p
from reports.metricinfo import MetricInfo
from reports.records import fmt, fmt_p, stat, stat_property


def _shown_effect(e: Effect) -> str:
    if e.metric.transform == "log_ratio":
        return f"{fmt(e.as_ratio(e.estimate))}x [{fmt(e.as_ratio(e.ci[0]))}, {fmt(e.as_ratio(e.ci[1]))}]"
    return f"{fmt(e.estimate)} [{fmt(e.ci[0])}, {fmt(e.ci[1])}]"


@dataclass
class Effect:
    """One paired comparison; every output (summary.json, CSV, displayed table) is declared on its field."""

    task: str = stat("task", "task")
    metric: MetricInfo = stat("metric", "metric", show=lambda e: e.metric.name, value=lambda m: m.name)
    method: str = stat("method")
    baseline: str = stat("baseline", "comparison", show=lambda e: f"{e.method} vs {e.baseline}")
    # mean paired effect, metric transform, positive = method better
    estimate: float = stat("effect", "effect [95% CI]", show=_shown_effect)
    ci: tuple[float, float] = stat("ci")  # two-sided crossed-bootstrap percentile interval at 1 - alpha
    # one-sided (1 - alpha) bounds: the lower (higher) of bootstrap and crossed t; non-inferiority, equivalence
    lower: float = stat("lower_one_sided")
    upper: float = stat("upper_one_sided")
    margin: float = stat("margin")  # ROPE in effect units
    wins: int = stat("wins", "W/T/L", show=lambda e: f"{e.wins}/{e.ties}/{e.losses}")  # domains beyond +margin
    ties: int = stat("ties")
    losses: int = stat("losses")
    p: float = stat("p_wilcoxon", "p (Wilcoxon)", show=lambda e: fmt_p(e.p))  # Wilcoxon over domains, two-sided
    crossed: CrossedT = field()  # seed x domain random-effects t-test
    n_seeds: int = stat("n_seeds")
    n_domains: int = stat("n_domains")
    per_domain: pd.DataFrame = field()  # domain, effect, ci_lo, ci_hi (bootstrap over seeds; exploratory)
    seed_effects: np.ndarray = stat("seed_effects")  # per-seed mean effect (sign agreement across training runs)
    # Holm (or BH, for the exploratory family) of the Wilcoxon p and of the crossed t p
    p_adjusted: float = stat("p_{adj}", "p (Wilcoxon, {adj})", show=lambda e: fmt_p(e.p_adjusted), default=math.nan)
    p_crossed_adjusted: float = stat("p_crossed_t_{adj}", "p (crossed t, {adj})",
                                     show=lambda e: fmt_p(e.p_crossed_adjusted), default=math.nan)
    verdict: str = stat("verdict", "verdict", default="")
    family: str = "confirmatory"

    @stat_property("transform")
    def transform(self) -> str:
        return self.metric.transform

    @stat_property("noninferior")
    def noninferior(self) -> bool:
        return self.lower > -self.margin

    @stat_property("p_crossed_t")
    def p_crossed(self) -> float:
        return self.crossed.p

    @stat_property("se_crossed")
    def se_crossed(self) -> float:
        return self.crossed.se

    @stat_property("df_crossed")
    def df_crossed(self) -> float:
        return self.crossed.df

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
