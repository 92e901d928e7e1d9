"""All the statistics of one run, computed once and shared by tables, figures, summary and gate.

Order matters and follows docs/statistics.md and docs/confirmatory-design.md: the
balanced-design check first, then per-task paired effects of the reference
method over each declared baseline, then Holm over the confirmatory family (the
reference against the spec's ``[comparisons] confirmatory`` baselines on each
task's primary metric, plus the speed claims against them: 5 hypotheses by
default), each ending as better / worse / equivalent / undecided; then the
exploratory extras, each family with its own BH adjustment: the other baselines
on primary metrics, secondary metrics, per-domain effects, the ranking.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench.spec import SPEED_PHASES, ComparisonSpec
from reports import bootstrap, scaling
from reports.compute import EqualCompute, equal_compute
from reports.convergence import WARNING, Convergence, check_convergence
from reports.design import Design, cell_means, check_design, comparisons, impute_failures, matrix
from reports.effects import Effect, MeanCI, mean_with_ci, paired_effect
from reports.errors import ReportError
from reports.inference import DECISIONS, UNDECIDED, Ranking, bh, decide, decision_p, holm, rank_methods
from reports.learned import UNINTERPRETABLE, Learned, check_learned
from reports.load import RunData
from reports.metricinfo import MetricInfo, primary_metrics, run_metrics
from reports.power import detectable, detectable_ratio, standard_error
from reports.speed_analysis import SpeedRatio, flop_ratios, phase_times, speed_ratio, speed_verdict


@dataclass
class Analysis:
    run: RunData
    design: Design
    comparisons: ComparisonSpec
    metrics: dict[str, MetricInfo]
    primary: dict[str, MetricInfo]  # task -> primary metric
    means: pd.DataFrame  # cell means (method, seed, task, domain, metric, value)
    method_means: list[MeanCI]  # primary metric per method and task
    effects: list[Effect]  # reference vs each baseline, per task, primary metric (confirmatory ones first)
    secondary: list[Effect]  # exploratory: the other metrics
    speed: list[SpeedRatio]
    phase_times: pd.DataFrame
    flops: list[dict[str, object]]
    rankings: dict[str, Ranking]  # per task, plus 'all tasks'
    sensitivity: list[Effect] = field(default_factory=list)  # confirmatory comparisons without failed seeds
    notes: list[str] = field(default_factory=list)
    learned: Learned = field(default_factory=Learned)  # "Is each task learned?" (controls, adaptation gains)
    convergence: list[Convergence] = field(default_factory=list)  # per method and task, from the learning curves
    compute: EqualCompute | None = None  # equal compute: quality against meta-train time and FLOPs, time-to-target
    # the scaling study (reports/scaling.py): one row per grid point, method, baseline and phase; empty without a grid
    scaling: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=scaling.COLUMNS))
    scaling_claims: list[str] = field(default_factory=list)  # where the paper's speed claim holds, per baseline

    @property
    def alpha(self) -> float:
        return self.comparisons.alpha

    @property
    def confirmatory(self) -> list[Effect]:
        """The confirmatory quality comparisons (the family's quality hypotheses)."""
        return [e for e in self.effects if e.family == "confirmatory"]

    @property
    def exploratory(self) -> list[Effect]:
        """Primary-metric comparisons against the other baselines (BH, exploratory)."""
        return [e for e in self.effects if e.family != "confirmatory"]

    @property
    def claims(self) -> list[SpeedRatio]:
        """The confirmatory speed claims."""
        return [r for r in self.speed if r.claim is not None]

    @property
    def family_size(self) -> int:
        return len(self.confirmatory) + len(self.claims)

    def decided(self) -> int:
        """How many confirmatory quality comparisons ended better, worse or equivalent."""
        return sum(e.verdict in DECISIONS and e.verdict != UNDECIDED for e in self.confirmatory)

    def mean_of(self, method: str, task: str) -> MeanCI:
        return next(m for m in self.method_means if m.method == method and m.task == task)


def analyse(run: RunData, metrics: Mapping[str, MetricInfo] | None = None) -> Analysis:
    """Run every statistic of the report on a loaded run (deterministic: no statistic resamples)."""
    design = check_design(run)
    comp = comparisons(run.spec, design.methods, design.controls)
    missing = [m for m in (comp.reference, *comp.baselines) if m not in design.methods]
    if missing:
        raise ReportError(f"the spec's comparisons name {', '.join(missing)}, which has no complete results in "
                          f"this run (methods with results: {', '.join(design.methods)}). Fix [comparisons] "
                          "or re-run the missing methods.")
    names = sorted(design.values["metric"].unique())
    infos = dict(metrics) if metrics is not None else run_metrics(run, names)
    unknown = [n for n in names if n not in infos]
    if unknown:
        raise ReportError(f"no metric description for {', '.join(unknown)}. Register the metric in domains.metrics.")
    primary = primary_metrics({n: infos[n] for n in names}, design.tasks)
    alpha = comp.alpha
    values, seeds = impute_failures(design, {n: infos[n].direction == "lower" for n in names})
    means = cell_means(values)
    family_bases = set(comp.family_baselines)
    method_means = [mean_with_ci(matrix(means, m, t, primary[t].name, seeds, design.domains[t]), method=m, task=t,
                                 metric=primary[t].name, alpha=alpha)
                    for t in design.tasks for m in design.methods if design.scores(m, t)]

    def margin(info: MetricInfo) -> float:
        return _margin(comp, info)

    # "Is each task learned?" first: every method against the constant control, Holm within the section.
    gen = bootstrap.rng()
    kept_seeds = design.values["seed"].isin(design.seeds) & design.values["method"].isin(design.methods)
    unadapted = run.unadapted[run.unadapted["method"].isin(design.methods) & run.unadapted["seed"].isin(design.seeds)]
    learned = check_learned(design.values[kept_seeds], unadapted, design.methods, design.seeds, design.tasks,
                            design.domains, primary, comp.reference, comp.baselines[0] if comp.baselines else None,
                            alpha, gen, bootstrap.DEFAULT_RESAMPLES, margin)
    convergence = check_convergence(run.val_curve[run.val_curve["method"].isin(design.methods)], primary, alpha,
                                    margin)
    compute = (equal_compute(run.val_curve, run.curves, run.costs, primary, design.methods, design.seeds)
               if not run.val_curve.empty else None)

    effects, secondary = _effects(values, seeds, design, comp, infos, primary)
    sensitivity: list[Effect] = []
    if design.failed_cells:  # the complete-case result: what dropping the failed seeds would have shown
        sensitivity = [e for e in _effects(design.values, design.seeds, design, comp, infos, primary)[0]
                       if e.baseline in family_bases]

    speed: list[SpeedRatio] = []
    timings = scaling.plain_timings(run)  # a scaling run: the point at the spec's own size (as any run's section)
    for base in comp.baselines:
        for phase in SPEED_PHASES:
            r = speed_ratio(timings, comp.reference, base, phase, alpha)
            if r is None:
                continue
            if phase in comp.speed_claim_phases and r.paired and base in family_bases:
                r.claim = comp.speed_claim
                r.p_claim = r.p_at_least(comp.speed_claim)
            speed.append(r)

    # Holm over the confirmatory family: one decision p per quality comparison (crossed t for a difference,
    # TOST for equivalence, the smaller) and one per speed claim (t over blocks). Exploratory primary-metric
    # comparisons and secondary metrics get the same rule under BH, each family apart.
    family = [e for e in effects if e.family == "confirmatory"]
    claims = [r for r in speed if r.claim is not None]
    m = len(family) + len(claims)
    adj = holm([decision_p(e.crossed.p, e.p_tost) for e in family] + [r.p_claim for r in claims], alpha)
    for e, q in zip(family, adj[:len(family)], strict=True):
        e.p_decision = float(q)
    for r, q in zip(claims, adj[len(family):], strict=True):
        r.p_adjusted = float(q)
        r.mde = detectable_ratio(r.se_log, r.df, r.claim, alpha, m)
    for group in ([e for e in effects if e.family != "confirmatory"], secondary):
        for e, q in zip(group, bh([decision_p(e.crossed.p, e.p_tost) for e in group], alpha), strict=True):
            e.p_decision = float(q)
    for e, q in zip(sensitivity, holm([decision_p(e.crossed.p, e.p_tost) for e in sensitivity] +
                                      [r.p_claim for r in claims], alpha), strict=False):
        e.p_decision, e.family = float(q), "sensitivity"
    for group, adjust in ((family, holm), ([e for e in effects if e.family != "confirmatory"], bh), (secondary, bh)):
        for e, q_w, q_t in zip(group, adjust([e.p for e in group], alpha), adjust([e.crossed.p for e in group], alpha),
                               strict=True):
            e.p_adjusted, e.p_crossed_adjusted = float(q_w), float(q_t)
    for e in effects + secondary + sensitivity:
        e.verdict = decide(e.estimate, e.crossed.p, e.p_tost, e.p_decision, alpha)
        se, df = standard_error(e.components, e.n_seeds, e.n_domains)
        e.mde = detectable(se, df, alpha, m if e.family in ("confirmatory", "sensitivity") else 1)
    for r in speed:
        r.verdict = speed_verdict(r, alpha)
    for e in effects + secondary:
        if e.task in learned.not_learned:  # comparing near-trivial predictors: neither a win nor a loss
            e.verdict = UNINTERPRETABLE

    rankings: dict[str, Ranking] = {}
    blocks = []
    for task in design.tasks:
        info = primary[task]
        sub = means[(means["task"] == task) & (means["metric"] == info.name)]
        wide = sub.groupby(["domain", "method"])["value"].mean().unstack("method")[design.compared]
        oriented = wide.apply(lambda col, i=info: pd.Series(i.oriented(col), index=col.index))
        rankings[task] = rank_methods(oriented, alpha)
        blocks.append(oriented.set_axis([f"{task}/{d}" for d in oriented.index], axis=0))
    if len(design.tasks) > 1:
        rankings["all tasks"] = rank_methods(pd.concat(blocks), alpha)

    flops = [row for base in comp.baselines for row in flop_ratios(run.costs, comp.reference, base)]
    notes = []
    for task in learned.not_learned:
        notes.append(f"{task} is NOT LEARNED: {learned.reasons[task]}. Its comparisons of "
                     f"{comp.reference} with the baselines are uninterpretable.")
    if not learned.available:
        notes.append(learned.why_unavailable + ".")
    unconverged = [c for c in convergence if not c.converged]
    for c in unconverged:
        notes.append(f"{c.method} on {c.task}: {WARNING} (the meta-val {c.metric} still improved from step "
                     f"{c.start_step} to {c.end_step}, Holm p = {c.p_holm:.3g}).")
    if len(design.seeds) < 5:
        notes.append(f"only {len(design.seeds)} seed(s): seed-level uncertainty is poorly estimated "
                     "(the protocol asks for at least 5: docs/statistics.md#seeds-domains-and-episodes).")
    if len(design.seeds) < 3:
        notes.append("fewer than 3 seeds: the crossed t has almost no seed degrees of freedom; its intervals "
                     "are wide or, with one seed, blind to seed variance.")
    if design.failed_cells:
        cells = ", ".join(f"{m} seed {s}" for m, s in design.failed_cells)
        notes.append(f"failed cells ({cells}) take the worst value any finished cell scored on each entry, so "
                     "failure is never rewarded; the sensitivity table shows the confirmatory comparisons without "
                     "those seeds.")
    if design.excluded_methods:
        notes.append(f"methods {', '.join(design.excluded_methods)} failed on every seed and have no results.")
    if timings.empty:
        notes.append("the store holds no timing samples: no speed ratios, phase times or Pareto plots.")
    unpaired = sorted({r.baseline for r in speed if not r.paired})
    if unpaired:
        notes.append(f"speed ratios against {', '.join(unpaired)} come from per-cell timings (those methods are "
                     "not in the spec's interleaved speed section): they carry machine drift and are not paired.")
    scaled = scaling.scaling_rows(run, comp.reference, comp.baselines, alpha)
    scaling_claims = (scaling.claim_sentences(scaled, comp.reference, comp.speed_claim, comp.speed_claim_phases,
                                              alpha) if not scaled.empty else [])
    if scaling.grid(run) is not None and scaling.base_point(run) is None:
        notes.append("the scaling grid has no point at the spec's own size, so the plain speed table rests on the "
                     "cells' unpaired timings; the Scaling section has the paired ratios per size.")
    return Analysis(run=run, design=design, comparisons=comp, metrics={n: infos[n] for n in names},
                    primary=primary, means=means, method_means=method_means, effects=effects,
                    secondary=secondary, speed=speed, phase_times=phase_times(timings, alpha),
                    flops=flops, rankings=rankings, sensitivity=sensitivity, notes=notes,
                    learned=learned, convergence=convergence, compute=compute,
                    scaling=scaled, scaling_claims=scaling_claims)


def _effects(values: pd.DataFrame, seeds: list[int], design: Design, comp: ComparisonSpec,
             infos: Mapping[str, MetricInfo], primary: Mapping[str, MetricInfo]) -> tuple[list[Effect], list[Effect]]:
    """(primary-metric effects, the family's first; secondary-metric effects) of the reference over each baseline."""
    means = cell_means(values)
    family_bases = set(comp.family_baselines)
    effects: list[Effect] = []
    secondary: list[Effect] = []
    for task in design.tasks:
        doms = design.domains[task]
        for base in comp.baselines:
            for name in sorted(means.loc[means["task"] == task, "metric"].unique()):
                info = infos[name]
                ep_var, n_ep = episode_variance(values, comp.reference, base, task, info)
                eff = paired_effect(matrix(means, comp.reference, task, name, seeds, doms),
                                    matrix(means, base, task, name, seeds, doms), method=comp.reference,
                                    baseline=base, task=task, metric=info, domains=doms, alpha=comp.alpha,
                                    margin=_margin(comp, info), episode_var=ep_var, episodes=n_ep)
                if name == primary[task].name:
                    eff.family = "confirmatory" if base in family_bases else "exploratory"
                    effects.append(eff)
                else:
                    eff.family = "exploratory"
                    secondary.append(eff)
    effects.sort(key=lambda e: e.family != "confirmatory")  # stable: the family first, tasks in spec order
    return effects, secondary


def _margin(comp: ComparisonSpec, info: MetricInfo) -> float:
    """The ROPE in effect units: the spec's [comparisons] margins override the metric's own."""
    if info.name in comp.margins:
        r = comp.margins[info.name]
        return math.log1p(r) if info.transform == "log_ratio" else r
    return info.margin


def episode_variance(values: pd.DataFrame, method: str, baseline: str, task: str,
                     info: MetricInfo) -> tuple[float, int]:
    """(mean within-cell variance of one episode's paired effect, episodes per cell), for planning.

    (0, 1) when episodes are single or a log-ratio episode value is not positive: the residual is
    then all interaction, and planning does not credit more episodes.
    """
    sub = values[(values["task"] == task) & (values["metric"] == info.name) & values["method"].isin([method, baseline])]
    wide = sub.pivot_table(index=["seed", "domain", "episode"], columns="method", values="value")
    if method not in wide or baseline not in wide:
        return 0.0, 1
    n_ep = int(wide.groupby(level=["seed", "domain"]).size().min()) if len(wide) else 1
    with np.errstate(divide="ignore", invalid="ignore"):
        d = pd.Series(info.effect(wide[method].to_numpy(), wide[baseline].to_numpy()), index=wide.index)
    if n_ep < 2 or not np.all(np.isfinite(d.to_numpy())):
        return 0.0, 1
    return float(d.groupby(level=["seed", "domain"]).var(ddof=1).mean()), n_ep
