"""Speed: paired ratios from interleaved timing samples, per-phase medians, FLOP ratios (docs/statistics.md#speed-ratios).

The runner's speed section alternates methods in the same process and gives
the samples of one round the same ``pair`` index inside a ``block`` (a fresh
process). A ratio is formed pair by pair, so machine drift common to the
methods cancels; the summary is the geometric mean of the pair ratios. Drift
that differs between methods (one method's kernels suffer more from a busy
block) does not cancel inside a block, so the interval is a t-interval over
blocks of the per-block mean log ratio (blocks - 1 degrees of freedom): the
nested bootstrap it replaced covered 77-85% with 3 blocks when such drift
exists. The claim test is the one-sided t on the same block means. Warm-up samples are kept in the store and left out
here. The ratio is baseline time over method time: above 1 the method is faster.

When a run has no speed section the ratio falls back to per-cell samples and
is marked ``paired: False``: such a ratio carries machine drift and is shown,
never gated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from reports.records import fmt, fmt_p, stat

UNSTABLE_IQR = 0.10  # torch.utils.benchmark's threshold on IQR / median


def _shown_ratio(r: SpeedRatio) -> str:
    return f"{fmt(r.ratio, 3)}x [{fmt(r.ci[0], 3)}, {fmt(r.ci[1], 3)}]"


@dataclass
class SpeedRatio:
    """One paired speed ratio; every output (summary.json, CSV, displayed table) is declared on its field."""

    method: str = stat("method")
    baseline: str = stat("baseline", "comparison", show=lambda r: f"{r.method} vs {r.baseline}")
    phase: str = stat("phase", "phase")
    ratio: float = stat("ratio", "speed ratio [95% CI]", show=_shown_ratio)  # geometric mean of baseline / method
    ci: tuple[float, float] = stat("ci")
    lower: float = stat("lower_one_sided")  # one-sided (1 - alpha) lower bound
    n_pairs: int = stat("n_pairs", "pairs (blocks)",
                        show=lambda r: f"{r.n_pairs} ({r.n_blocks})" + ("" if r.paired else " unpaired"))
    n_blocks: int = stat("n_blocks")
    paired: bool = stat("paired")
    spread: float = stat("iqr_over_median")  # IQR / median of the pair ratios
    se_log: float = stat("se_log")  # standard error of the mean log ratio (over blocks, or seeds when unpaired)
    df: float = stat("df")  # its degrees of freedom
    p_claim: float = stat("p_claim", default=math.nan)  # one-sided: H0 ratio <= claim
    p_adjusted: float = stat("p_holm", "p (claim, Holm)", show=lambda r: fmt_p(r.p_adjusted), default=math.nan)
    claim: float | None = stat("claim", default=None)
    # smallest true ratio the claim test detects with 80% power (Holm's first step over the family)
    mde: float = stat("mde80_ratio", "detectable ratio (80% power)", show=lambda r: fmt(r.mde, 3), default=math.nan)
    verdict: str = stat("verdict", "verdict", default="")

    @property
    def unstable(self) -> bool:
        return self.spread > UNSTABLE_IQR

    def p_at_least(self, claim: float) -> float:
        """One-sided t p for H0 'ratio <= claim' (small when the interval lies above the claim).

        One unit (a single speed block, or one seed) has no spread to test against: its p is 1, so a claim
        is never declared from a point estimate alone.
        """
        diff = math.log(self.ratio) - math.log(claim)
        if math.isnan(self.se_log) or math.isnan(self.df) or self.df < 1:
            return 1.0
        if self.se_log == 0:  # identical units: the data have no noise to test against
            return 0.0 if diff > 0 else 1.0
        return float(stats.t.sf(diff / self.se_log, self.df))


def t_summary(units: np.ndarray, alpha: float) -> tuple[float, float, float, tuple[float, float], float]:
    """(mean, se, df, two-sided (1 - alpha) interval, one-sided lower bound) of unit means (blocks or seeds)."""
    u = np.asarray(units, dtype=float)
    mean = float(u.mean())
    if len(u) < 2:
        return mean, math.nan, math.nan, (math.nan, math.nan), math.nan
    se, df = float(np.std(u, ddof=1)) / math.sqrt(len(u)), len(u) - 1
    half = float(stats.t.ppf(1 - alpha / 2, df)) * se
    return mean, se, float(df), (mean - half, mean + half), mean - float(stats.t.ppf(1 - alpha, df)) * se


def clean(timings: pd.DataFrame, source: str) -> pd.DataFrame:
    return timings[(timings["source"] == source) & (~timings["warmup"])]


def pair_table(timings: pd.DataFrame, method: str, baseline: str, phase: str) -> pd.DataFrame:
    """Matched interleaved samples: one row per (seed, block, pair) with both methods' seconds."""
    t = clean(timings, "speed")
    t = t[t["phase"] == phase]
    keys = ["seed", "block", "pair"]
    a = t[t["method"] == method].groupby(keys, as_index=False)["seconds"].median()
    b = t[t["method"] == baseline].groupby(keys, as_index=False)["seconds"].median()
    return a.merge(b, on=keys, suffixes=("_method", "_baseline"))


def speed_ratio(timings: pd.DataFrame, method: str, baseline: str, phase: str, alpha: float) -> SpeedRatio | None:
    """The paired speed ratio of ``method`` against ``baseline`` in one phase; None without samples."""
    pairs = pair_table(timings, method, baseline, phase)
    pairs = pairs[(pairs["seconds_method"] > 0) & (pairs["seconds_baseline"] > 0)]
    paired = len(pairs) > 0
    if paired:
        pairs = pairs.assign(log_r=np.log(pairs["seconds_baseline"]) - np.log(pairs["seconds_method"]))
        units = pairs.groupby(["seed", "block"])["log_r"].mean().to_numpy()
        r = np.exp(pairs["log_r"].to_numpy())
        q1, med, q3 = np.quantile(r, [0.25, 0.5, 0.75])
        spread = float((q3 - q1) / med)
        n_pairs, n_blocks = len(pairs), len(units)
    else:  # per-cell samples: the unit is the seed (one cell per method), paired where both methods ran it
        t = clean(timings, "cell")
        t = t[(t["phase"] == phase) & (t["seconds"] > 0)]
        tm, tb = t[t["method"] == method], t[t["method"] == baseline]
        if tm.empty or tb.empty:
            return None
        per_seed = pd.concat([np.log(tb.groupby("seed")["seconds"].median()).rename("b"),
                              np.log(tm.groupby("seed")["seconds"].median()).rename("m")], axis=1).dropna()
        if per_seed.empty:
            return None
        units = (per_seed["b"] - per_seed["m"]).to_numpy()
        spread = float(max(_iqr_ratio(tm["seconds"]), _iqr_ratio(tb["seconds"])))
        n_pairs, n_blocks = min(len(tm), len(tb)), len(units)
    est, se, df, (lo, hi), lower = t_summary(units, alpha)
    return SpeedRatio(method=method, baseline=baseline, phase=phase, ratio=math.exp(est), ci=(_exp(lo), _exp(hi)),
                      lower=_exp(lower), n_pairs=n_pairs, n_blocks=n_blocks, paired=paired, spread=spread,
                      se_log=se, df=df)


def _exp(x: float) -> float:
    return math.nan if math.isnan(x) else math.exp(x)


def _iqr_ratio(s: pd.Series) -> float:
    q1, med, q3 = np.quantile(s.to_numpy(), [0.25, 0.5, 0.75])
    return float((q3 - q1) / med) if med > 0 else math.inf


def speed_verdict(r: SpeedRatio, alpha: float) -> str:
    if r.claim is not None and not math.isnan(r.p_adjusted) and r.p_adjusted < alpha:
        return f"at least {r.claim:g}x faster"
    if r.ci[0] > 1:
        return "faster" + (f", {r.claim:g}x not shown" if r.claim is not None else "")
    if r.ci[1] < 1:
        return "slower"
    return "no clear difference"


def phase_times(timings: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Per method and phase: the geometric mean of per-unit medians (unit: a speed block, or a cell's seed)
    with a t-interval over units, IQR/median of all samples, sample count, source.

    Units, not samples, are the replicates: samples inside one process share its drift.
    """
    rows = []
    for source, unit in (("speed", "block"), ("cell", "seed")):
        t = clean(timings, source)
        t = t[t["seconds"] > 0]
        for (method, phase), g in t.groupby(["method", "phase"]):
            medians = np.log(g.groupby(unit)["seconds"].median().to_numpy())
            est, _, _, (lo, hi), _ = t_summary(medians, alpha)
            rows.append({"source": source, "method": method, "phase": phase, "median_s": math.exp(est),
                         "ci_lo": _exp(lo), "ci_hi": _exp(hi), "iqr_over_median": _iqr_ratio(g["seconds"]),
                         "n": len(g), "units": len(medians)})
    return pd.DataFrame(rows, columns=["source", "method", "phase", "median_s", "ci_lo", "ci_hi",
                                       "iqr_over_median", "n", "units"])


def flop_ratios(costs: pd.DataFrame, method: str, baseline: str) -> list[dict[str, object]]:
    """Per phase: baseline FLOPs over method FLOPs (exact; above 1 = the method does less work), and memory."""
    out = []
    a = costs[costs["method"] == method].set_index("phase")
    b = costs[costs["method"] == baseline].set_index("phase")
    for phase in sorted(set(a.index) & set(b.index)):
        fa, fb = a.loc[phase, "flops"], b.loc[phase, "flops"]
        ma, mb = a.loc[phase, "peak_bytes"], b.loc[phase, "peak_bytes"]
        out.append({"method": method, "baseline": baseline, "phase": phase,
                    "flops_method": _int_or_none(fa), "flops_baseline": _int_or_none(fb),
                    "flop_ratio": float(fb) / float(fa) if _positive(fa) and _positive(fb) else None,
                    "memory_ratio": float(mb) / float(ma) if _positive(ma) and _positive(mb) else None})
    return out


def _positive(x: object) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x)) and float(x) > 0  # type: ignore[arg-type]


def _int_or_none(x: object) -> int | None:
    return int(x) if _positive(x) or x == 0 else None  # type: ignore[call-overload]
