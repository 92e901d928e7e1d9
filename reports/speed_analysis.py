"""Speed: paired ratios from interleaved timing samples, per-phase medians, FLOP ratios (docs/statistics.md#speed-ratios).

The runner's speed section alternates methods in the same process and gives
the samples of one round the same ``pair`` index inside a ``block`` (a fresh
process). A ratio is formed pair by pair, so machine drift cancels; the
summary is the geometric mean of the pair ratios, and its CI resamples blocks
and then pairs inside them. Warm-up samples are kept in the store and left out
here. The ratio is baseline time over method time: above 1 the method is faster.

When a run has no speed section the ratio falls back to per-cell samples and
is marked ``paired: False``: such a ratio carries machine drift and is shown,
never gated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from reports import bootstrap
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
    boot_log: np.ndarray = field()  # bootstrap distribution of log ratio (for claim tests)
    p_claim: float = stat("p_claim", default=math.nan)  # one-sided: H0 ratio <= claim
    p_adjusted: float = stat("p_holm", "p (claim, Holm)", show=lambda r: fmt_p(r.p_adjusted), default=math.nan)
    claim: float | None = stat("claim", default=None)
    verdict: str = stat("verdict", "verdict", default="")

    @property
    def unstable(self) -> bool:
        return self.spread > UNSTABLE_IQR

    def p_at_least(self, claim: float) -> float:
        """Bootstrap p for H0 'ratio <= claim' (small when the CI lies above the claim)."""
        below = int(np.sum(self.boot_log <= math.log(claim)))
        return (1 + below) / (1 + len(self.boot_log))


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


def speed_ratio(timings: pd.DataFrame, method: str, baseline: str, phase: str, alpha: float,
                generator: np.random.Generator, n_resamples: int = bootstrap.DEFAULT_RESAMPLES) -> SpeedRatio | None:
    """The paired speed ratio of ``method`` against ``baseline`` in one phase; None without samples."""
    pairs = pair_table(timings, method, baseline, phase)
    pairs = pairs[(pairs["seconds_method"] > 0) & (pairs["seconds_baseline"] > 0)]
    paired = len(pairs) > 0
    if paired:
        log_r = np.log(pairs["seconds_baseline"].to_numpy()) - np.log(pairs["seconds_method"].to_numpy())
        groups = [log_r[idx] for idx in pairs.groupby(["seed", "block"]).indices.values()]
        boots = bootstrap.nested_means(groups, generator, n_resamples)
        est = float(log_r.mean())
        r = np.exp(log_r)
        q1, med, q3 = np.quantile(r, [0.25, 0.5, 0.75])
        spread = float((q3 - q1) / med)
        n_pairs, n_blocks = len(log_r), len(groups)
    else:
        t = clean(timings, "cell")
        t = t[(t["phase"] == phase) & (t["seconds"] > 0)]
        tm, tb = t[t["method"] == method], t[t["method"] == baseline]
        if tm.empty or tb.empty:
            return None
        gm = [np.log(g.to_numpy()) for _, g in tm.groupby("seed")["seconds"]]
        gb = [np.log(g.to_numpy()) for _, g in tb.groupby("seed")["seconds"]]
        boots = bootstrap.nested_means(gb, generator, n_resamples) - bootstrap.nested_means(gm, generator, n_resamples)
        est = float(np.log(tb["seconds"]).mean() - np.log(tm["seconds"]).mean())
        spread = float(max(_iqr_ratio(tm["seconds"]), _iqr_ratio(tb["seconds"])))
        n_pairs, n_blocks = min(len(tm), len(tb)), min(len(gm), len(gb))
    lo, hi = bootstrap.percentile_ci(boots, 1 - alpha)
    return SpeedRatio(method=method, baseline=baseline, phase=phase, ratio=math.exp(est), ci=(math.exp(lo), math.exp(hi)),
                      lower=math.exp(bootstrap.lower_bound(boots, alpha)), n_pairs=n_pairs, n_blocks=n_blocks,
                      paired=paired, spread=spread, boot_log=boots)


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


def phase_times(timings: pd.DataFrame, generator: np.random.Generator, n_resamples: int = 2000) -> pd.DataFrame:
    """Per method and phase: median seconds with a bootstrap CI, IQR/median, sample count, source."""
    rows = []
    for source in ("speed", "cell"):
        t = clean(timings, source)
        for (method, phase), g in t.groupby(["method", "phase"]):
            v = g["seconds"].to_numpy(dtype=float)
            boots = np.median(v[generator.integers(0, len(v), size=(n_resamples, len(v)))], axis=1)
            lo, hi = bootstrap.percentile_ci(boots)
            rows.append({"source": source, "method": method, "phase": phase, "median_s": float(np.median(v)),
                         "ci_lo": lo, "ci_hi": hi, "iqr_over_median": _iqr_ratio(g["seconds"]), "n": len(v)})
    return pd.DataFrame(rows, columns=["source", "method", "phase", "median_s", "ci_lo", "ci_hi",
                                       "iqr_over_median", "n"])


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
