"""Tests and corrections: scipy.stats and statsmodels, wrapped once with the harness's conventions.

* Wilcoxon signed-rank over domains, ``zero_method='pratt'`` (zeros count in the
  ranking, as they should for seed-averaged effects that can tie exactly).
* Holm (statsmodels ``multipletests``) over the declared confirmatory family;
  Benjamini-Hochberg over exploratory families (secondary metrics).
* Friedman omnibus, then pairwise Wilcoxon with Holm instead of Nemenyi, whose
  verdicts depend on which other methods are in the pool (Benavoli et al. 2016).
"""

from __future__ import annotations

import gc
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


@dataclass(frozen=True)
class CrossedT:
    """Two-way (seed x domain) random-effects t-test of a mean paired effect."""

    estimate: float
    se: float
    df: float
    p: float

    def lower(self, alpha: float) -> float:
        """One-sided (1 - alpha) lower confidence bound."""
        return self.estimate - float(stats.t.ppf(1 - alpha, self.df)) * self.se if self.se > 0 else self.estimate

    def p_less(self) -> float:
        """One-sided p for H1: mean effect < 0."""
        if not self.se > 0:
            return 1.0 if self.estimate >= 0 else 0.0
        return float(stats.t.cdf(self.estimate / self.se, self.df))

    def upper(self, alpha: float) -> float:
        """One-sided (1 - alpha) upper confidence bound."""
        return self.estimate + float(stats.t.ppf(1 - alpha, self.df)) * self.se if self.se > 0 else self.estimate


def crossed_t(d: np.ndarray) -> CrossedT:
    """t-test of mean(d) = 0 for a seeds x domains matrix of paired effects, seeds and domains both random.

    The Wilcoxon test over domains conditions on the seeds: a (method x seed) training effect shifts every
    domain's effect together, and with no true difference the test then rejects far more often than alpha
    (the self-test measures it). This test carries that shift: Var(mean) = s2_seed/S + s2_domain/D +
    s2_resid/(SD), estimated from the two-way ANOVA mean squares (Cornfield-Tukey), with Satterthwaite
    degrees of freedom; the p comes from scipy's t distribution.
    """
    d = np.asarray(d, dtype=float)
    n_s, n_d = d.shape
    mu = float(d.mean())
    if n_s < 2 and n_d < 2:
        return CrossedT(mu, math.nan, math.nan, math.nan)
    rows, cols = d.mean(axis=1), d.mean(axis=0)
    ms_s = n_d * float(np.sum((rows - mu) ** 2)) / (n_s - 1) if n_s > 1 else 0.0
    ms_d = n_s * float(np.sum((cols - mu) ** 2)) / (n_d - 1) if n_d > 1 else 0.0
    if n_s > 1 and n_d > 1:
        resid = d - rows[:, None] - cols[None, :] + mu
        ms_e = float(np.sum(resid**2)) / ((n_s - 1) * (n_d - 1))
        # variance components truncated at zero: drop a factor whose mean square is below the residual's
        keep_s, keep_d = ms_s > ms_e, ms_d > ms_e
        if keep_s and keep_d:
            parts = [(ms_s, n_s - 1), (ms_d, n_d - 1), (-ms_e, (n_s - 1) * (n_d - 1))]
        elif keep_s or keep_d:
            parts = [(ms_s, n_s - 1)] if keep_s else [(ms_d, n_d - 1)]
        else:
            parts = [(ms_e, (n_s - 1) * (n_d - 1))]
    else:  # one seed (or one domain): only the other factor's spread is estimable
        parts = [(ms_s, n_s - 1)] if n_s > 1 else [(ms_d, n_d - 1)]
    var = sum(c for c, _ in parts) / (n_s * n_d)
    if var <= 0:
        return CrossedT(mu, 0.0, math.inf, 1.0 if mu == 0 else 0.0)
    df = var**2 / sum((c / (n_s * n_d)) ** 2 / k for c, k in parts if k > 0)
    se = math.sqrt(var)
    return CrossedT(mu, se, df, float(2 * stats.t.sf(abs(mu) / se, df)))


def min_wilcoxon_p(n: int, alternative: str = "two-sided") -> float:
    """Smallest p an exact signed-rank test on n pairs can give (all effects one sign)."""
    one_sided = 0.5 ** n
    return min(1.0, 2 * one_sided) if alternative == "two-sided" else one_sided


def _adjust(pvalues: Sequence[float], alpha: float, method: str) -> np.ndarray:
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        # statsmodels' Holm branch calls gc.collect(); with torch loaded a full collection costs ~0.4 s.
        # Freezing the existing heap for the call keeps that collection to the few new objects.
        gc.freeze()
        try:
            out[ok] = multipletests(p[ok], alpha=alpha, method=method)[1]
        finally:
            gc.unfreeze()
    return out


def holm(pvalues: Sequence[float], alpha: float) -> np.ndarray:
    """Holm-adjusted p-values (NaN entries stay NaN and do not count towards the family)."""
    return _adjust(pvalues, alpha, "holm")


def bh(pvalues: Sequence[float], alpha: float) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values for exploratory families."""
    return _adjust(pvalues, alpha, "fdr_bh")


def quality_verdict(estimate: float, lower: float, upper: float, p_wilcoxon_adj: float, p_crossed_adj: float,
                    alpha: float, margin: float) -> str:
    """One word for a paired quality comparison (positive effects = the method is better).

    better/worse: both the Wilcoxon over domains and the crossed seed x domain t-test reject after Holm
    (an intersection-union rule: the Wilcoxon alone conditions on the seeds and over-rejects when
    training runs shift all domains together). equivalent: both one-sided (1 - alpha) bounds inside the
    ROPE (TOST). non-inferior: the lower bound above -margin (docs/statistics.md#verdicts). The bounds are the
    more cautious of the crossed bootstrap and the crossed t.
    """
    both = all(not math.isnan(p) and p < alpha for p in (p_wilcoxon_adj, p_crossed_adj))
    if both and estimate != 0:
        return BETTER if estimate > 0 else WORSE
    if -margin < lower and upper < margin:
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
