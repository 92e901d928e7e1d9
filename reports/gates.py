"""Gate kinds of the regression gate: one small class per kind, one decision method each.

Every kind turns its evidence into a ``Gate`` record (the fields the table, the
JSON and the pytest summary show) in two steps: ``measure`` computes the
estimate, the one-sided p that the Holm step adjusts across the gated family,
and the smallest regression the gate can detect; ``decide`` applies the rule of
docs/regression-gate.md#what-is-gated-and-how once the adjusted p is known. Regressions are decided at
alpha/m (the first Holm step, conservative for all of them); OK and IMPROVED
are pass-side decisions, taken at alpha.

Quality is gated once per method, pooled over its tasks on standardised effects
(each metric's effect divided by its margin, so "-1" means "one margin worse"):
per-task effects are shown but not gated. A pooled gate has 4x the paired units
of a per-task gate and one Holm slot instead of four, which is what lets a
smoke-sized run reach the adjusted alpha at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy import stats

from reports import bootstrap
from reports.inference import crossed_t, min_wilcoxon_p, wilcoxon_p

OK, IMPROVED, REGRESSED, INCONCLUSIVE, INFO, SKIPPED = (
    "OK", "IMPROVED", "REGRESSED", "INCONCLUSIVE", "INFO", "SKIPPED")
POWER = 0.8  # the power at which a gate's detectable effect is quoted


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


@dataclass
class Gate:
    """One gate's verdict: what CI decided and why (the record every output is written from)."""

    id: str
    kind: str
    status: str = INCONCLUSIVE
    detail: str = ""
    estimate: float | None = None  # quality: mean effect in margins; speed: current/baseline time; flops: ratio
    bound: float | None = None  # the one-sided bound on the regression side (upper for quality, lower for speed)
    detectable: float | None = None  # smallest regression detectable at the gate's alpha (same unit as estimate)
    unit: str = ""
    p: float = math.nan
    p_adjusted: float = math.nan
    gated: bool = True  # False: informational only

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "status": self.status, "detail": self.detail,
                "estimate": _num(self.estimate), "bound": _num(self.bound), "detectable": _num(self.detectable),
                "unit": self.unit, "p": _num(self.p), "p_adjusted": _num(self.p_adjusted), "gated": self.gated}


class GateKind:
    """Base of the kinds: ``measure`` fills a Gate (and returns whether it joins the Holm family)."""

    kind: ClassVar[str] = ""

    def __init__(self, gate_id: str):
        self.gate = Gate(gate_id, self.kind)

    @property
    def tested(self) -> bool:
        """Whether this gate has a p-value that takes part in the Holm family."""
        return self.gate.gated and math.isfinite(self.gate.p)

    def decide(self, alpha: float, family: int) -> None:  # noqa: B027 - kinds decided in measure() keep this
        """Apply the decision rule once ``gate.p_adjusted`` is known (kinds without a test decide in measure)."""


# ---- numerics ---------------------------------------------------------------------------------------
class NumericsGate(GateKind):
    """G0: are the per-cell values identical to the baseline's? Informational: a change hands over to quality."""

    kind = "numerics"

    def measure(self, current: np.ndarray, baseline: np.ndarray, rtol: float, same_machine: bool) -> None:
        g = self.gate
        g.gated, g.unit = False, "relative"
        rel = np.abs(current - baseline) / np.maximum(np.abs(baseline), 1e-12)
        g.estimate = float(rel.max()) if rel.size else 0.0
        if bool((rel <= rtol).all()):
            g.status, g.detail = OK, "every cell identical to the baseline: no quality change, proven without statistics"
        else:
            where = "on the baseline's machine" if same_machine else "on another machine (expected)"
            g.status = INFO
            g.detail = (f"numerics changed {where} (largest relative difference {g.estimate:.3g}); "
                        "the quality gates decide")


# ---- quality ----------------------------------------------------------------------------------------
@dataclass
class QualityEvidence:
    """One method's paired effects in margins (positive = better), at cell and at episode level."""

    cells: np.ndarray  # seeds x columns ((task, domain) pairs), effect / margin
    episodes: np.ndarray  # every paired episode, effect / margin
    baseline_cells: np.ndarray  # the baseline's own values, seeds x columns, oriented and / margin
    identical: bool  # every cell value equal to the baseline's
    same_training: bool  # every seed's meta-training curve equal to the baseline's


class QualityGate(GateKind):
    """G1, one per method: pooled standardised effect of the current run against the baseline's cells.

    Three regimes, chosen from the evidence, never from the result:

    * identical cells: OK without statistics (runs are reproducible from the seed).
    * same meta-training (every seed's loss curve equal to the baseline's), different values: only
      test-time code changed; the trained models are the same, so the paired episodes are the units
      and a one-sided signed-rank test of "worse than one margin" over them decides.
    * training redrawn (another machine, or a numerics change in training): each seed's trajectory
      moves all its cells together, so the test is the intersection of that signed-rank test over cells
      and the seed x column random-effects t-test (docs/statistics.md#tests).
    """

    kind = "quality"

    def measure(self, ev: QualityEvidence, alpha: float, family: int, gen: np.random.Generator,
                n_resamples: int) -> None:
        g = self.gate
        g.unit = "margins"
        self.ev = ev
        g.estimate = float(ev.cells.mean())
        g.detectable = detectable_quality(ev.baseline_cells, alpha / max(family, 1))
        if ev.identical:
            g.status, g.bound, g.p = OK, 0.0, math.nan
            g.detail = "identical to the baseline (exact numerics)"
            g.detectable = 1.0 if min_wilcoxon_p(ev.episodes.size, "less") < alpha / max(family, 1) else g.detectable
            return
        shifted_cells = ev.cells + 1.0  # H0: effect >= -1 margin (not worse than the margin)
        if ev.same_training:
            g.p = wilcoxon_p(ev.episodes.ravel() + 1.0, alternative="less")
            self.regime = f"same training: {ev.episodes.size} paired episodes"
            g.detectable = detectable_same_training(ev.episodes.ravel(), alpha / max(family, 1))
        else:
            crossed = crossed_t(shifted_cells)
            g.p = max(wilcoxon_p(shifted_cells.ravel(), alternative="less"), crossed.p_less())
            self.regime = f"training redrawn: {ev.cells.shape[0]} seeds x {ev.cells.shape[1]} task-domains"
        self.boots = bootstrap.crossed_means(ev.cells, gen, n_resamples)
        self.crossed = crossed_t(ev.cells)
        if ev.same_training:  # the estimate and bounds that invert the signed-rank test: Hodges-Lehmann
            g.estimate = hodges_lehmann(ev.episodes.ravel())

    def _bounds(self, level: float) -> tuple[float, float]:
        if self.ev.same_training:
            return signed_rank_bounds(self.ev.episodes.ravel(), level)
        lo, hi = bootstrap.lower_bound(self.boots, level), bootstrap.upper_bound(self.boots, level)
        if math.isfinite(self.crossed.se) and not self.ev.same_training:  # the more cautious construction
            lo, hi = min(lo, self.crossed.lower(level)), max(hi, self.crossed.upper(level))
        return lo, hi

    def decide(self, alpha: float, family: int) -> None:
        g = self.gate
        if self.ev.identical:
            return
        lo, _ = self._bounds(alpha)
        _, hi = self._bounds(alpha / max(family, 1))
        g.bound = hi
        text = (f"effect {g.estimate:+.3g} margins (bounds [{lo:+.3g}, {hi:+.3g}]; {self.regime}; "
                f"Holm p {g.p_adjusted:.3g})")
        if not math.isnan(g.p_adjusted) and g.p_adjusted < alpha and hi < -1.0:
            g.status, g.detail = REGRESSED, text + "; worse than the baseline beyond the margins"
        elif lo > 1.0:
            g.status, g.detail = IMPROVED, text + "; better than the baseline: consider --update-baseline"
        elif lo >= -1.0:
            g.status, g.detail = OK, text + "; non-inferior"
        else:
            g.status, g.detail = INCONCLUSIVE, text + "; the interval straddles -1 margin"


def _walsh(d: np.ndarray) -> np.ndarray:
    i, j = np.triu_indices(len(d))
    return np.sort((d[i] + d[j]) / 2)


def hodges_lehmann(d: np.ndarray) -> float:
    """The pseudo-median of paired effects: the estimate the signed-rank test is about."""
    d = np.asarray(d, dtype=float)
    return float(np.median(_walsh(d))) if d.size else math.nan


def signed_rank_bounds(d: np.ndarray, level: float) -> tuple[float, float]:
    """One-sided (1 - level) bounds of the pseudo-median from the Walsh averages (signed-rank inversion).

    The k-th smallest of the n(n+1)/2 Walsh averages, k the signed-rank statistic's lower critical value
    (normal approximation), is the lower bound; the k-th largest the upper one. "Upper bound below -1"
    is then the same statement as "the signed-rank test of worse-than-one-margin rejects".
    """
    d = np.asarray(d, dtype=float)
    n = d.size
    if n < 2:
        return -math.inf, math.inf
    w = _walsh(d)
    mean, sd = n * (n + 1) / 4, math.sqrt(n * (n + 1) * (2 * n + 1) / 24)
    k = int(max(0, math.floor(mean - float(stats.norm.ppf(1 - level)) * sd)))
    k = min(k, len(w) - 1)
    return float(w[k]), float(w[len(w) - 1 - k])


def detectable_same_training(d: np.ndarray, level: float, power: float = POWER) -> float | None:
    """Smallest uniform loss (in margins) the same-training test detects with ``power``, given the spread
    of this run's paired episode effects: the t-test's, widened by sqrt(pi/3), the signed-rank test's
    worst asymptotic efficiency against it for normal data."""
    d = np.asarray(d, dtype=float)
    if d.size < 2:
        return None
    z = float(stats.norm.ppf(1 - level)) + float(stats.norm.ppf(power))
    return 1.0 + z * float(np.std(d, ddof=1)) / math.sqrt(d.size) * math.sqrt(math.pi / 3)


def detectable_quality(baseline: np.ndarray, level: float, power: float = POWER) -> float | None:
    """Smallest uniform loss (in margins) the pooled gate detects with ``power`` after training is redrawn.

    Redrawn training shifts each seed's cells together: from the baseline's own seeds x columns values,
    Var(mean paired effect) = 2 MS_seed / (S C) (two independent draws; the column effects cancel in the
    pairing), with S - 1 degrees of freedom. The loss must clear the margin by (t_level + t_power) SE.
    """
    y = np.asarray(baseline, dtype=float)
    if y.ndim != 2 or y.shape[0] < 2:
        return None
    n_s, n_c = y.shape
    rows = y.mean(axis=1)
    ms_seed = n_c * float(np.sum((rows - rows.mean()) ** 2)) / (n_s - 1)
    se = math.sqrt(2 * ms_seed / (n_s * n_c))
    df = n_s - 1
    return 1.0 + (float(stats.t.ppf(1 - level, df)) + float(stats.t.ppf(power, df))) * se


class TaskQualityView(GateKind):
    """Per (method, task): the same effect, shown for diagnosis, never gated (the pooled gate decides)."""

    kind = "quality-task"

    def measure(self, cells: np.ndarray, identical: bool, margin: float, unit: str) -> None:
        g = self.gate
        g.gated, g.status, g.unit = False, INFO, unit
        g.estimate = float(cells.mean()) * margin
        if identical:
            g.detail = "identical to the baseline"
            return
        crossed = crossed_t(cells)
        g.bound = crossed.upper(0.05) * margin if math.isfinite(crossed.se) else None
        g.detail = (f"effect {g.estimate:+.4g} {unit} (= {cells.mean():+.3g} margins; informational, "
                    "the method's pooled quality gate decides)")


# ---- speed ------------------------------------------------------------------------------------------
class SpeedGate(GateKind):
    """G2, per (method, phase): the method's time over the yardstick's, against the baseline's, pair by pair.

    Both runs time the same episodes at the same (block, pair) positions; the per-position mean (pooled
    over both runs) is removed first, so that the cycle of tasks through the pairs is not counted as
    noise. The bootstrap resamples blocks (fresh processes), then pairs inside them, in each run.
    Estimate: current / baseline relative time (above 1 = slower). The clock is the process's CPU time
    when both runs have it (the speed section runs on one thread, where CPU time is the work itself and
    other processes' load does not count; measured on this project's shared 2-core machine, wall-clock
    pair ratios spread 3-5x wider under load), else wall clock.
    """

    kind = "speed"

    def measure(self, current: list[np.ndarray], baseline: list[np.ndarray], tolerance: float, alpha: float,
                family: int, gen: np.random.Generator, n_resamples: int, clock: str = "wall clock") -> None:
        g = self.gate
        g.unit = "x time"
        self.tolerance, self.clock = tolerance, clock
        self.boots = bootstrap.nested_means(current, gen, n_resamples) - bootstrap.nested_means(baseline, gen,
                                                                                                 n_resamples)
        delta = float(np.concatenate(current).mean() - np.concatenate(baseline).mean())
        g.estimate = math.exp(delta)
        slower = math.log1p(tolerance)
        g.p = (1 + int(np.sum(self.boots <= slower))) / (1 + len(self.boots))  # H0: not slower than tolerance
        se = float(np.std(self.boots))
        z = float(stats.norm.ppf(1 - alpha / max(family, 1))) + float(stats.norm.ppf(POWER))
        g.detectable = math.exp(slower + z * se)
        self.n = (sum(len(c) for c in current), len(current), sum(len(b) for b in baseline), len(baseline))

    def decide(self, alpha: float, family: int) -> None:
        g = self.gate
        lo_reg = bootstrap.lower_bound(self.boots, alpha / max(family, 1))
        lo, hi = bootstrap.lower_bound(self.boots, alpha), bootstrap.upper_bound(self.boots, alpha)
        g.bound = math.exp(lo_reg)
        slower, faster = math.log1p(self.tolerance), math.log(1 - self.tolerance)
        text = (f"{self.clock} x{g.estimate:.3f} of the baseline's, per yardstick (bounds [{math.exp(lo):.3f}, "
                f"{math.exp(hi):.3f}]; {self.n[0]} pairs in {self.n[1]} blocks vs {self.n[2]} in {self.n[3]}; "
                f"tolerance {self.tolerance:.0%}; Holm p {g.p_adjusted:.3g})")
        if lo_reg > slower and g.p_adjusted < alpha:
            g.status, g.detail = REGRESSED, text + "; slower"
        elif hi < faster:
            g.status, g.detail = IMPROVED, text + "; faster"
        elif hi <= slower:
            g.status, g.detail = OK, text
        else:
            g.status, g.detail = INCONCLUSIVE, text + "; the interval straddles the tolerance"


# ---- FLOPs ------------------------------------------------------------------------------------------
class FlopsGate(GateKind):
    """G3: exact FLOPs per (method, phase), tolerance 0.1%: no statistics needed."""

    kind = "flops"

    def measure(self, current: int | None, baseline: int | None, tolerance: float) -> None:
        g = self.gate
        g.unit = "x FLOPs"
        if baseline is None or current is None:
            g.detail = "FLOPs not measured in " + ("the baseline" if baseline is None else "this run")
            return
        change = (current - baseline) / baseline if baseline else (0.0 if current == 0 else math.inf)
        g.estimate = current / baseline if baseline else math.nan
        g.bound, g.detectable = g.estimate, 1 + tolerance
        g.detail = f"{current:,} FLOPs vs baseline {baseline:,} ({change:+.3%})"
        g.status = OK if abs(change) <= tolerance else (REGRESSED if change > 0 else IMPROVED)


# ---- absolute time ----------------------------------------------------------------------------------
class TimeGate(GateKind):
    """G4: absolute per-cell medians; gated only when asked for and on the baseline's machine.

    A shared CI machine's load moves absolute times by tens of percent between runs (the speed
    section's blocks of one run differ by 1.7x on this project's 2-core machine), so by default they
    are shown, not gated; the yardstick-relative speed gates carry the speed decision.
    """

    kind = "time"

    def measure(self, current: np.ndarray, baseline: np.ndarray, gated: bool, why_not: str,
                tolerance: float) -> None:
        g = self.gate
        g.gated, g.unit = gated, "x time"
        self.tolerance = tolerance
        if len(current) == 0 or len(baseline) == 0:
            g.status = INCONCLUSIVE if gated else INFO
            g.detail = "no per-cell timings in " + ("this run" if len(current) == 0 else "the baseline")
            return
        g.estimate = float(np.median(current) / np.median(baseline))
        g.detail = f"median {np.median(current):.4g} s vs baseline {np.median(baseline):.4g} s (x{g.estimate:.3f})"
        if not gated:
            g.status, g.detail = INFO, g.detail + f"; informational: {why_not}"
            return
        g.p = float(stats.mannwhitneyu(current, baseline, alternative="greater").pvalue)

    def decide(self, alpha: float, family: int) -> None:
        g = self.gate
        if not g.gated or g.estimate is None:
            return
        if g.estimate <= 1 + self.tolerance:
            g.status = OK if g.estimate >= 1 - self.tolerance else IMPROVED
        else:
            g.status = REGRESSED if g.p_adjusted < alpha else INCONCLUSIVE
        g.detail += f"; Mann-Whitney Holm p = {g.p_adjusted:.3g}"


class SkippedGate(GateKind):
    """A baseline gate whose method this (partial) run did not run: listed, never counted."""

    kind = "skipped"

    def measure(self, why: str) -> None:
        self.gate.gated, self.gate.status, self.gate.detail = False, SKIPPED, why
