"""Tests and corrections: scipy.stats and statsmodels, wrapped once with the harness's conventions.

* Wilcoxon signed-rank over domains, ``zero_method='pratt'`` (zeros count in the
  ranking, as they should for seed-averaged effects that can tie exactly).
* Holm (statsmodels ``multipletests``) over the declared confirmatory family;
  Benjamini-Hochberg over exploratory families (secondary metrics).
* Friedman omnibus, then pairwise Wilcoxon with Holm instead of Nemenyi, whose
  verdicts depend on which other methods are in the pool (Benavoli et al. 2016).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

BETTER, WORSE, EQUIVALENT, NONINFERIOR, INCONCLUSIVE = "better", "worse", "equivalent", "non-inferior", "inconclusive"


def wilcoxon_p(d: Sequence[float] | np.ndarray, alternative: str = "two-sided") -> float:
    """Signed-rank p of paired effects ``d`` against zero; 1 when every effect is exactly zero."""
    d = np.asarray(d, dtype=float)
    if len(d) < 2:
        return math.nan
    if np.all(d == 0):
        return 1.0
    return float(stats.wilcoxon(d, zero_method="pratt", alternative=alternative).pvalue)


def min_wilcoxon_p(n: int, alternative: str = "two-sided") -> float:
    """Smallest p an exact signed-rank test on n pairs can give (all effects one sign)."""
    one_sided = 0.5 ** n
    return min(1.0, 2 * one_sided) if alternative == "two-sided" else one_sided


def holm(pvalues: Sequence[float], alpha: float) -> np.ndarray:
    """Holm-adjusted p-values (NaN entries stay NaN and do not count towards the family)."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = multipletests(p[ok], alpha=alpha, method="holm")[1]
    return out


def bh(pvalues: Sequence[float], alpha: float) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values for exploratory families."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = multipletests(p[ok], alpha=alpha, method="fdr_bh")[1]
    return out


def quality_verdict(estimate: float, ci: tuple[float, float], lower: float, p_adjusted: float, alpha: float,
                    margin: float) -> str:
    """One word for a paired quality comparison (positive effects = the method is better).

    better/worse need the Holm-adjusted test; equivalent needs the whole CI inside the ROPE;
    non-inferior needs the one-sided lower bound above -margin (statistics.md §3.3 Q4).
    """
    if not math.isnan(p_adjusted) and p_adjusted < alpha:
        return BETTER if estimate > 0 else WORSE
    if -margin < ci[0] and ci[1] < margin:
        return EQUIVALENT
    if lower > -margin:
        return NONINFERIOR
    return INCONCLUSIVE


@dataclass
class Ranking:
    """Friedman + pairwise Wilcoxon/Holm over blocks (rows) for k methods (columns)."""

    mean_ranks: pd.Series  # method -> mean rank (1 = best)
    n_blocks: int
    friedman_stat: float
    friedman_p: float
    pairwise_p: pd.DataFrame  # raw two-sided Wilcoxon p, symmetric
    pairwise_holm: pd.DataFrame  # Holm over all pairs

    def different(self, a: str, b: str, alpha: float) -> bool:
        return bool(self.pairwise_holm.loc[a, b] < alpha)


def rank_methods(scores: pd.DataFrame, alpha: float) -> Ranking:
    """Rank methods on a blocks x methods frame of *oriented* scores (larger = better)."""
    scores = scores.dropna()
    methods = list(scores.columns)
    ranks = scores.rank(axis=1, ascending=False, method="average")
    if len(methods) >= 3 and len(scores) >= 2:
        res = stats.friedmanchisquare(*[scores[m].to_numpy() for m in methods])
        f_stat, f_p = float(res.statistic), float(res.pvalue)
    else:
        f_stat, f_p = math.nan, math.nan  # Friedman needs k >= 3; with two methods the Wilcoxon below is the test
    raw = pd.DataFrame(np.nan, index=methods, columns=methods)
    pairs = list(itertools.combinations(methods, 2))
    ps = [wilcoxon_p(scores[a].to_numpy() - scores[b].to_numpy()) for a, b in pairs]
    adj = holm(ps, alpha)
    adjusted = raw.copy()
    for (a, b), p, q in zip(pairs, ps, adj, strict=True):
        raw.loc[a, b] = raw.loc[b, a] = p
        adjusted.loc[a, b] = adjusted.loc[b, a] = q
    return Ranking(mean_ranks=ranks.mean().sort_values(), n_blocks=len(scores), friedman_stat=f_stat,
                   friedman_p=f_p, pairwise_p=raw, pairwise_holm=adjusted)
