"""Power: variance components of a paired effect, and the smallest effect a design can detect.

A confirmatory comparison is a seeds x domains matrix of paired effects, each
cell an average over episodes. Its mean varies through three components
(docs/statistics.md): a training-run shift shared by every domain of a seed
(``seed``), a per-domain shift shared by every seed (``domain``) and the cell's
own noise (``residual``: the method x domain x seed interaction plus the
episode noise divided by the episodes per cell). The components are the
two-way ANOVA (Cornfield-Tukey) estimates, truncated at zero, the same mean
squares the crossed t-test (``reports.inference.crossed_t``) uses; so the
detectable effect below is the one that test, with the family's adjustment,
detects with the stated power.

minimum detectable effect = (t[1 - alpha'/2, df] + t[power, df]) x SE, where
SE^2 = seed/S + domain/D + residual(E)/(S D), df its Satterthwaite degrees of
freedom, and alpha' = alpha / m, Holm's first (strictest) step over a family of
m hypotheses: a conservative bound, exact for the comparison that enters first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

POWER = 0.8


@dataclass(frozen=True)
class Components:
    """Variance components of one paired effect (effect units squared)."""

    seed: float
    domain: float
    interaction: float  # method x domain x seed, without the episode noise
    episode: float  # variance of one episode's paired effect around its cell mean
    episodes: int  # episodes per cell in the run the components came from

    def residual(self, episodes: int | None = None) -> float:
        """Variance of one cell's mean effect around seed + domain shifts, at ``episodes`` per cell."""
        e = self.episodes if episodes is None else episodes
        return self.interaction + self.episode / max(e, 1)

    def to_json(self) -> dict[str, float]:
        return {"seed": self.seed, "domain": self.domain, "residual": self.residual(),
                "interaction": self.interaction, "episode": self.episode, "episodes": self.episodes}


def components(cells: np.ndarray, episode_var: float = 0.0, episodes: int = 1) -> Components:
    """ANOVA estimates from a seeds x domains matrix of cell-mean effects.

    ``episode_var`` is the mean within-cell variance of single-episode effects (0 when unknown: the
    whole residual is then attributed to the interaction, and more episodes are not credited).
    """
    d = np.asarray(cells, dtype=float)
    n_s, n_d = d.shape
    mu = float(d.mean())
    rows, cols = d.mean(axis=1), d.mean(axis=0)
    ms_s = n_d * float(np.sum((rows - mu) ** 2)) / (n_s - 1) if n_s > 1 else 0.0
    ms_d = n_s * float(np.sum((cols - mu) ** 2)) / (n_d - 1) if n_d > 1 else 0.0
    if n_s > 1 and n_d > 1:
        ms_e = float(np.sum((d - rows[:, None] - cols[None, :] + mu) ** 2)) / ((n_s - 1) * (n_d - 1))
    else:
        ms_e = 0.0
    residual = ms_e
    per_cell_episode = episode_var / max(episodes, 1)
    return Components(seed=max(0.0, (ms_s - ms_e) / n_d), domain=max(0.0, (ms_d - ms_e) / n_s),
                      interaction=max(0.0, residual - per_cell_episode), episode=episode_var, episodes=episodes)


def standard_error(c: Components, seeds: int, domains: int, episodes: int | None = None) -> tuple[float, float]:
    """(SE of the mean effect, Satterthwaite df) for a design of ``seeds`` x ``domains`` x ``episodes``.

    The expected mean squares of that design (D s2_seed + r, S s2_domain + r, r) are combined exactly
    as ``crossed_t`` combines the observed ones, so the df match what the report's test will use.
    """
    r = c.residual(episodes)
    n = seeds * domains
    var = c.seed / seeds + c.domain / domains + r / n
    if var <= 0:
        return 0.0, math.inf
    parts = []
    if seeds > 1:
        parts.append((domains * c.seed + r, seeds - 1))
    if domains > 1:
        parts.append((seeds * c.domain + r, domains - 1))
    if seeds > 1 and domains > 1:
        parts.append((-r, (seeds - 1) * (domains - 1)))
    denom = sum((ms / n) ** 2 / k for ms, k in parts if k > 0)
    df = var**2 / denom if denom > 0 else math.inf
    return math.sqrt(var), max(df, 1.0)


def detectable(se: float, df: float, alpha: float, family: int = 1, power: float = POWER) -> float:
    """Smallest true effect a two-sided t-test at alpha / family rejects with probability ``power``."""
    if not se > 0:
        return 0.0 if se == 0 else math.nan
    a = alpha / max(family, 1)
    return float((stats.t.ppf(1 - a / 2, df) + stats.t.ppf(power, df)) * se)


def detectable_ratio(se_log: float, df: float, claim: float, alpha: float, family: int = 1,
                     power: float = POWER) -> float:
    """Smallest true speed ratio for which the one-sided claim test (ratio > claim) rejects with ``power``."""
    if not se_log > 0 or math.isnan(df):
        return math.nan
    a = alpha / max(family, 1)
    return claim * math.exp(float((stats.t.ppf(1 - a, df) + stats.t.ppf(power, df)) * se_log))


def detectable_effect(c: Components, seeds: int, domains: int, episodes: int | None, alpha: float,
                      family: int = 1, power: float = POWER) -> float:
    se, df = standard_error(c, seeds, domains, episodes)
    return detectable(se, df, alpha, family, power)
