"""Did each method converge? The learning curves' last quarter, tested against noise.

The runner scores a fixed set of meta-val episodes every ``curve_every``
meta-train steps (table ``val_curve``; the same episodes for every method at a
seed and at every checkpoint). For each method and task, the change of the
primary metric from the checkpoint that opens the last quarter of the budget
to the last checkpoint is paired per (seed, episode) -- the same episode, the
same seed, later in training -- and oriented so that positive = still
improving. A method has not converged on a task when that improvement is both
significant (one-sided Wilcoxon signed-rank over the (seed, episode) pairs,
Holm over the method's tasks) and larger than the metric's margin; then the
report warns "not converged: raise budget_steps".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from reports.inference import holm, wilcoxon_p
from reports.metricinfo import MetricInfo

WARNING = "not converged: raise budget_steps"


@dataclass
class Convergence:
    method: str
    task: str
    metric: str
    start_step: int  # the checkpoint that opens the last quarter
    end_step: int  # the last checkpoint
    start_value: float  # mean primary metric there (over seeds and episodes)
    end_value: float
    improvement: float  # mean paired change in the metric's effect transform, positive = still improving
    margin: float
    n_pairs: int
    p: float  # one-sided Wilcoxon, improvement > 0
    p_holm: float = math.nan
    converged: bool = True

    @property
    def verdict(self) -> str:
        return "converged" if self.converged else WARNING


def last_quarter(steps: list[int]) -> tuple[int, int] | None:
    """(start, end) checkpoints: the last one, and the latest one at or before 3/4 of it."""
    if len(steps) < 2:
        return None
    end = max(steps)
    earlier = [s for s in steps if s <= 0.75 * end and s < end]
    return (max(earlier), end) if earlier else None


def check_convergence(curve: pd.DataFrame, primary: Mapping[str, MetricInfo], alpha: float,
                      margin: Callable[[MetricInfo], float]) -> list[Convergence]:
    """One verdict per (method, task) that has a learning curve."""
    out: list[Convergence] = []
    if curve.empty:
        return out
    for method, per_method in curve.groupby("method", sort=True):
        rows = []
        for task, info in primary.items():
            sub = per_method[(per_method["task"] == task) & (per_method["metric"] == info.name)]
            span = last_quarter(sorted(int(s) for s in sub["step"].unique()))
            if span is None:
                continue
            start, end = span
            wide = sub[sub["step"].isin(span)].pivot_table(index=["seed", "domain", "episode"], columns="step",
                                                           values="value", aggfunc="mean").dropna()
            if wide.empty:
                continue
            d = info.effect(wide[end].to_numpy(), wide[start].to_numpy())
            d = d[np.isfinite(d)]
            p = wilcoxon_p(d, alternative="greater") if len(d) >= 2 else math.nan
            rows.append(Convergence(str(method), task, info.name, start, end, float(wide[start].mean()),
                                    float(wide[end].mean()), float(d.mean()) if len(d) else math.nan,
                                    margin(info), len(d), p))
        for row, q in zip(rows, holm([r.p for r in rows], alpha), strict=True):
            row.p_holm = float(q)
            row.converged = not (q < alpha and row.improvement > row.margin)
        out += rows
    return out
