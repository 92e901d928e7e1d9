"""The regression gate: a run against a stored baseline (docs/running.md#gate-a-run-against-a-baseline).

Gates and their rules:

* ``numerics`` (G0, informational): are the per-cell values identical (rtol 1e-5)?
  A change is reported as "numerics changed", never as a regression.
* ``quality/<method>/<task>/<metric>`` (G1): paired effect current - baseline per
  (seed, domain) cell in the metric's transform. REGRESSED when the upper
  one-sided bound is below -ROPE *and* the one-sided test survives Holm; OK
  when the lower bound is above -ROPE; IMPROVED when it is above +ROPE. The
  test is an intersection of a signed-rank test over the paired cells and the
  seed x domain random-effects t-test: a change of numerics redraws each
  seed's training trajectory, which shifts all of that seed's domains at once.
* ``speed/<method>/<baseline>/<phase>`` (G2): the in-run paired speed ratio
  against the baseline's in-run ratio, tolerance 10% (shared CI machines).
  Ratios, not absolute times, so the gate holds across machines.
* ``flops/<method>/<phase>`` (G3): exact, tolerance 0.1%.
* ``time/<method>/<phase>`` (G4): absolute medians, informational unless the
  machine fingerprint equals the baseline's.

INCONCLUSIVE when the data cannot decide (CI straddles the margin, too few
pairs to reach the adjusted alpha, or an unstable timing that would otherwise
be called a regression).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from reports import bootstrap
from reports.baseline import config_hash, fingerprint
from reports.design import Design, cell_means, check_design
from reports.errors import (
    EXIT_INCONCLUSIVE,
    EXIT_OK,
    EXIT_REGRESSED,
    HarnessError,
    IncompatibleBaselineError,
)
from reports.inference import crossed_t, holm, min_wilcoxon_p, wilcoxon_p
from reports.load import RunData
from reports.metricinfo import MetricInfo, primary_metrics, run_metrics
from reports.specview import SPEED_PHASES, comparisons
from reports.speed import UNSTABLE_IQR, clean, pair_table

OK, IMPROVED, REGRESSED, INCONCLUSIVE, INFO = "OK", "IMPROVED", "REGRESSED", "INCONCLUSIVE", "INFO"
GATE_ALPHA = 0.01  # asv-like strictness for a gate that runs on every change
TIME_TOLERANCE = 0.10  # CodSpeed's default; a 2% gate gives ~45% false alarms on shared runners
FLOP_TOLERANCE = 0.001
NUMERIC_RTOL = 1e-5


@dataclass
class Gate:
    id: str
    kind: str
    status: str = INCONCLUSIVE
    detail: str = ""
    estimate: float | None = None
    ci: tuple[float, float] | None = None
    p: float = math.nan
    p_adjusted: float = math.nan
    gated: bool = True  # False: informational only
    # filled by the evaluators, used by the decision step
    _decide: Any = field(default=None, repr=False)

    def as_json(self) -> dict[str, Any]:
        def num(x: float | None) -> float | None:
            return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else float(x)

        return {"id": self.id, "kind": self.kind, "status": self.status, "detail": self.detail,
                "estimate": num(self.estimate), "ci": [num(c) for c in self.ci] if self.ci else None,
                "p": num(self.p), "p_adjusted": num(self.p_adjusted), "gated": self.gated}


@dataclass
class GateReport:
    gates: list[Gate]
    fingerprint_match: bool
    notes: list[str]

    def exit_code(self, strict: bool = False) -> int:
        statuses = {g.status for g in self.gates if g.gated}
        if REGRESSED in statuses:
            return EXIT_REGRESSED
        if INCONCLUSIVE in statuses and strict:
            return EXIT_INCONCLUSIVE
        return EXIT_OK

    def by_id(self) -> dict[str, Gate]:
        return {g.id: g for g in self.gates}

    def as_json(self) -> dict[str, Any]:
        return {"fingerprint_match": self.fingerprint_match, "notes": self.notes,
                "gates": [g.as_json() for g in self.gates]}


@dataclass
class Context:
    run: RunData
    design: Design
    metrics: dict[str, MetricInfo]
    primary: dict[str, MetricInfo]
    reference: str
    baselines: tuple[str, ...]


def prepare(run: RunData) -> Context:
    """Design check and metric lookup for a run that is to be gated or stored as a baseline."""
    design = check_design(run)
    if design.failures:
        listed = "; ".join(f"{f['method']} seed {f['seed']}: {f['reason']}" for f in design.failures[:5])
        raise HarnessError(f"{len(design.failures)} cell(s) failed in this run ({listed}). "
                           "A gated run must finish every cell; fix the failure first.")
    names = sorted(design.values["metric"].unique())
    metrics = run_metrics(run, names)
    comp = comparisons(run.spec, design.methods)
    return Context(run=run, design=design, metrics=metrics, primary=primary_metrics(metrics, design.tasks),
                   reference=comp.reference, baselines=tuple(b for b in comp.baselines if b in design.methods))


def gate_ids(ctx: Context) -> list[str]:
    """Every gate a run supports, in a stable order (stored in the baseline; one pytest test each)."""
    ids = ["numerics"]
    ids += [f"quality/{m}/{t}/{ctx.primary[t].name}" for m in ctx.design.methods for t in ctx.design.tasks]
    speed = clean(ctx.run.timings, "speed")
    for base in ctx.baselines:
        for phase in SPEED_PHASES:
            if not pair_table(speed, ctx.reference, base, phase).empty:
                ids.append(f"speed/{ctx.reference}/{base}/{phase}")
    costs = ctx.run.costs.dropna(subset=["flops"])
    ids += [f"flops/{r.method}/{r.phase}" for r in costs.sort_values(["method", "phase"]).itertuples()
            if r.method in ctx.design.methods]
    cell_t = clean(ctx.run.timings, "cell")
    ids += [f"time/{m}/{p}" for (m, p) in sorted(set(zip(cell_t["method"], cell_t["phase"], strict=True)))
            if m in ctx.design.methods]
    return ids


def _check_compatible(ctx: Context, base: dict[str, Any]) -> pd.DataFrame:
    """The current and baseline cell means side by side; anything that does not line up is exit 3."""
    mine = config_hash(ctx.run.manifest)
    if base["config_hash"] != mine:
        raise IncompatibleBaselineError(
            f"the baseline was made for config {base['config_hash'][:12]}, this run is {mine[:12]} "
            f"(spec or split changed). Re-create the baseline with --update-baseline --reason \"...\".")
    cur = cell_means(ctx.design.values)
    old = pd.DataFrame(base["cells"])
    keys = ["method", "seed", "task", "domain", "metric"]
    merged = cur.merge(old[[*keys, "value"]], on=keys, how="outer", suffixes=("", "_base"), indicator=True)
    odd = merged[merged["_merge"] != "both"]
    if len(odd):
        shown = "; ".join(f"{r.method}/{r.seed}/{r.task}/{r.domain}/{r.metric} only in "
                          f"{'this run' if r._merge == 'left_only' else 'the baseline'}"
                          for r in odd.head(8).itertuples())
        raise IncompatibleBaselineError(f"{len(odd)} cell(s) do not match the baseline ({shown}). "
                                        "Re-create the baseline with --update-baseline --reason \"...\".")
    return merged.drop(columns="_merge")


def _quality(gate: Gate, merged: pd.DataFrame, ctx: Context, info: MetricInfo, method: str, task: str,
             gen: np.random.Generator, n_resamples: int) -> None:
    sub = merged[(merged["method"] == method) & (merged["task"] == task) & (merged["metric"] == info.name)]
    cur = sub.pivot(index="seed", columns="domain", values="value").sort_index(axis=0).sort_index(axis=1)
    old = sub.pivot(index="seed", columns="domain", values="value_base").reindex_like(cur)
    d = info.effect(cur.to_numpy(), old.to_numpy())
    if np.allclose(cur.to_numpy(), old.to_numpy(), rtol=NUMERIC_RTOL, atol=0):
        gate.status, gate.detail, gate.estimate = OK, "identical to the baseline", 0.0
        return
    boots = bootstrap.crossed_means(d, gen, n_resamples)
    crossed = crossed_t(d)
    # Intersection-union: worse only if the signed-rank test over cells (the same draws, paired) AND the
    # crossed t (a changed training trajectory shifts every domain of a seed together) both say so.
    gate.estimate = float(d.mean())
    gate.p = max(wilcoxon_p(d.ravel(), alternative="less"), crossed.p_less())
    gate._decide = ("quality", boots, info.margin, d.size, crossed)


def _ratio_samples(timings: pd.DataFrame, method: str, baseline: str, phase: str) -> list[np.ndarray]:
    pairs = pair_table(timings, method, baseline, phase)
    pairs = pairs[(pairs["seconds_method"] > 0) & (pairs["seconds_baseline"] > 0)]
    log_r = np.log(pairs["seconds_baseline"].to_numpy()) - np.log(pairs["seconds_method"].to_numpy())
    return [log_r[idx] for idx in pairs.groupby(["seed", "block"]).indices.values()]


def _baseline_timings(base: dict[str, Any]) -> pd.DataFrame:
    t = pd.DataFrame(base.get("timings", []), columns=["method", "phase", "seed", "block", "pair", "seconds"])
    t["source"], t["warmup"] = "speed", False
    return t


def _speed(gate: Gate, ctx: Context, base: dict[str, Any], method: str, other: str, phase: str,
           gen: np.random.Generator, n_resamples: int, tolerance: float) -> None:
    cur = _ratio_samples(ctx.run.timings, method, other, phase)
    old = _ratio_samples(_baseline_timings(base), method, other, phase)
    if not cur or not old:
        gate.detail = "no interleaved speed samples in " + ("this run" if not cur else "the baseline")
        return
    boots = (bootstrap.nested_means(cur, gen, n_resamples) - bootstrap.nested_means(old, gen, n_resamples))
    delta = float(np.concatenate(cur).mean() - np.concatenate(old).mean())
    r = np.exp(np.concatenate(cur))
    q1, med, q3 = np.quantile(r, [0.25, 0.5, 0.75])
    gate.estimate = math.exp(delta)  # current ratio / baseline ratio
    threshold = math.log(1 - tolerance)
    gate.p = (1 + int(np.sum(boots >= threshold))) / (1 + len(boots))  # H0: not slower than the tolerance
    gate._decide = ("speed", boots, tolerance, float((q3 - q1) / med),
                    f"ratio {math.exp(np.concatenate(cur).mean()):.3f} vs baseline "
                    f"{math.exp(np.concatenate(old).mean()):.3f}")


def _flops(gate: Gate, ctx: Context, base: dict[str, Any], method: str, phase: str, tolerance: float) -> None:
    old = base.get("flops", {}).get(method, {}).get(phase)
    row = ctx.run.costs[(ctx.run.costs["method"] == method) & (ctx.run.costs["phase"] == phase)]
    cur = None if row.empty or pd.isna(row["flops"].iloc[0]) else int(row["flops"].iloc[0])
    if old is None or cur is None:
        gate.detail = "FLOPs not measured in " + ("the baseline" if old is None else "this run")
        return
    change = (cur - old) / old if old else (0.0 if cur == 0 else math.inf)
    gate.estimate = cur / old if old else math.nan
    gate.detail = f"{cur:,} FLOPs vs baseline {old:,} ({change:+.3%})"
    gate.status = OK if abs(change) <= tolerance else (REGRESSED if change > 0 else IMPROVED)


def _time(gate: Gate, ctx: Context, base: dict[str, Any], method: str, phase: str, same_machine: bool,
          tolerance: float) -> None:
    cur_t = clean(ctx.run.timings, "cell")
    cur = cur_t[(cur_t["method"] == method) & (cur_t["phase"] == phase)]["seconds"].to_numpy()
    old_t = pd.DataFrame(base.get("cell_timings", []), columns=["method", "phase", "seed", "seconds"])
    old = old_t[(old_t["method"] == method) & (old_t["phase"] == phase)]["seconds"].to_numpy()
    gate.gated = same_machine
    if len(cur) == 0 or len(old) == 0:
        gate.status = INFO if not same_machine else INCONCLUSIVE
        gate.detail = "no per-cell timings in " + ("this run" if len(cur) == 0 else "the baseline")
        return
    ratio = float(np.median(cur) / np.median(old))
    gate.estimate = ratio
    gate.detail = f"median {np.median(cur):.4g} s vs baseline {np.median(old):.4g} s (x{ratio:.3f})"
    if not same_machine:
        gate.status = INFO
        gate.detail += "; informational: the machine fingerprint differs from the baseline's"
        return
    gate.p = float(stats.mannwhitneyu(cur, old, alternative="greater").pvalue)
    gate._decide = ("time", ratio, tolerance, len(cur), len(old))


def _decide(gate: Gate, alpha: float, m: int) -> None:
    """Apply the decision rule in this module's docstring once the Holm-adjusted p is known."""
    kind = gate._decide[0]
    a_adj = alpha / max(m, 1)  # CI level of a Bonferroni step: conservative for every Holm step
    significant = not math.isnan(gate.p_adjusted) and gate.p_adjusted < alpha
    if kind == "quality":
        _, boots, margin, n, crossed = gate._decide

        def bounds(level: float) -> tuple[float, float]:
            lo, hi = bootstrap.lower_bound(boots, level), bootstrap.upper_bound(boots, level)
            if math.isfinite(crossed.se):  # the more cautious of the two interval constructions
                lo, hi = min(lo, crossed.lower(level)), max(hi, crossed.upper(level))
            return lo, hi

        # OK/IMPROVED are pass-side decisions: bounds at alpha. REGRESSED is the error alpha controls: the
        # bound at alpha/m (Bonferroni, conservative for every Holm step) and the Holm-adjusted test.
        lo, hi_pass = bounds(alpha)
        _, hi = bounds(a_adj)
        gate.ci = (lo, hi_pass)
        base = f"effect {gate.estimate:+.4g} (one-sided bounds [{lo:+.4g}, {hi_pass:+.4g}], ROPE ±{margin:.4g})"
        if lo > margin:
            gate.status, gate.detail = IMPROVED, base + "; better than the baseline: consider --update-baseline"
        elif lo >= -margin:
            gate.status, gate.detail = OK, base + "; non-inferior"
        elif hi < -margin and significant:
            gate.status, gate.detail = REGRESSED, base + f"; worse beyond the ROPE, Holm p = {gate.p_adjusted:.3g}"
        elif min_wilcoxon_p(n, "less") * m >= alpha:
            gate.status, gate.detail = INCONCLUSIVE, base + (f"; {n} paired cells cannot reach Holm alpha "
                                                             f"{alpha:g} over {m} gates")
        elif hi_pass < -margin:
            gate.status, gate.detail = INCONCLUSIVE, base + (f"; looks worse, but not significant after Holm "
                                                             f"(p = {gate.p_adjusted:.3g}; seeds: {crossed.df:.1f} df)")
        else:
            gate.status, gate.detail = INCONCLUSIVE, base + "; the interval straddles -ROPE"
    elif kind == "speed":
        _, boots, tol, spread, text = gate._decide
        # as for quality: pass-side bounds at alpha, the regression bound at alpha/m
        lo, hi_pass = bootstrap.lower_bound(boots, alpha), bootstrap.upper_bound(boots, alpha)
        hi = bootstrap.upper_bound(boots, a_adj)
        gate.ci = (math.exp(lo), math.exp(hi_pass))
        slower, faster = math.log(1 - tol), math.log(1 + tol)
        base = f"{text}; change x{gate.estimate:.3f} [{gate.ci[0]:.3f}, {gate.ci[1]:.3f}], tolerance {tol:.0%}"
        if lo > faster:
            gate.status, gate.detail = IMPROVED, base + "; faster than the baseline ratio"
        elif lo >= slower:
            gate.status, gate.detail = OK, base
        elif hi < slower and significant and spread <= UNSTABLE_IQR:
            gate.status, gate.detail = REGRESSED, base + f"; slower, Holm p = {gate.p_adjusted:.3g}"
        elif hi < slower and spread > UNSTABLE_IQR:
            gate.status, gate.detail = INCONCLUSIVE, base + f"; looks slower but timing is unstable " \
                                                            f"(IQR/median {spread:.0%} of pair ratios)"
        else:
            gate.status, gate.detail = INCONCLUSIVE, base + "; the interval straddles the tolerance"
    elif kind == "time":
        _, ratio, tol, _, _ = gate._decide
        if ratio <= 1 + tol:
            gate.status = OK if ratio >= 1 - tol else IMPROVED
        else:
            gate.status = REGRESSED if significant else INCONCLUSIVE
        gate.detail += f"; Mann-Whitney Holm p = {gate.p_adjusted:.3g}"


def compare(run: RunData, base: dict[str, Any], alpha: float = GATE_ALPHA, tolerance: float = TIME_TOLERANCE,
            n_resamples: int = bootstrap.DEFAULT_RESAMPLES, seed: int = bootstrap.REPORT_SEED,
            gate_absolute_times: bool = True) -> GateReport:
    """Evaluate every gate the baseline lists against ``run``.

    ``gate_absolute_times=False`` keeps absolute-time gates informational even on the baseline's
    machine: callers that know the machine is busy (the pytest session runs the smoke benchmark
    beside other tests) must not report load as a slowdown. In-run speed ratios stay gated.
    """
    ctx = prepare(run)
    merged = _check_compatible(ctx, base)
    gen = bootstrap.rng(seed)
    metrics = {n: MetricInfo.from_json({"name": n, **m}) for n, m in base["metrics"].items()}
    same_machine = fingerprint(run.manifest) == base.get("env")
    notes = []
    if not same_machine:
        notes.append("machine fingerprint differs from the baseline's: absolute times are informational only")
    elif not gate_absolute_times:
        notes.append("absolute times are informational only: the caller reported a busy machine")
    new = sorted(set(gate_ids(ctx)) - set(base["gates"]))
    if new:
        notes.append(f"{len(new)} gate(s) of this run are not in the baseline (e.g. {new[0]}); "
                     "update the baseline to gate them")
    gates: list[Gate] = []
    for gid in base["gates"]:
        kind, *parts = gid.split("/")
        gate = Gate(gid, kind)
        if kind == "numerics":
            rel = np.abs(merged["value"] - merged["value_base"]) / np.maximum(np.abs(merged["value_base"]), 1e-12)
            gate.gated, gate.estimate = False, float(rel.max()) if len(rel) else 0.0
            same = bool((rel <= NUMERIC_RTOL).all())
            gate.status = OK if same else INFO
            gate.detail = "identical to the baseline" if same else \
                f"numerics changed (largest relative difference {gate.estimate:.3g}); see the quality gates"
        elif kind == "quality" and len(parts) == 3:
            method, task, metric = parts
            if metric not in metrics:
                raise IncompatibleBaselineError(f"the baseline lists gate {gid} but has no metric {metric}. "
                                                "Re-create the baseline with --update-baseline.")
            _quality(gate, merged, ctx, metrics[metric], method, task, gen, n_resamples)
        elif kind == "speed" and len(parts) == 3:
            _speed(gate, ctx, base, *parts, gen=gen, n_resamples=n_resamples, tolerance=tolerance)
        elif kind == "flops" and len(parts) == 2:
            _flops(gate, ctx, base, *parts, tolerance=FLOP_TOLERANCE)
        elif kind == "time" and len(parts) == 2:
            _time(gate, ctx, base, *parts, same_machine=same_machine and gate_absolute_times, tolerance=tolerance)
        else:
            raise IncompatibleBaselineError(f"the baseline lists an unknown gate {gid!r}. "
                                            "Re-create the baseline with this version's --update-baseline.")
        gates.append(gate)
    family = [g for g in gates if g._decide is not None]
    for g, q in zip(family, holm([g.p for g in family], alpha), strict=True):
        g.p_adjusted = float(q)
    for g in family:
        _decide(g, alpha, len(family))
    return GateReport(gates=gates, fingerprint_match=same_machine, notes=notes)
