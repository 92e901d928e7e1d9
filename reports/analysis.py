"""All the statistics of one run, computed once and shared by tables, figures, summary and gate.

Order matters and follows docs/statistics.md: the balanced-design check first, then
per-task paired effects of the reference method over each declared baseline,
then Holm over the confirmatory family (every baseline x task on the primary
metric, plus the speed claims), then the exploratory extras (secondary
metrics with BH, per-domain effects, the ranking of all methods).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench.spec import SPEED_PHASES, ComparisonSpec
from reports import bootstrap
from reports.convergence import WARNING, Convergence, check_convergence
from reports.design import Design, cell_means, check_design, comparisons, matrix
from reports.effects import Effect, MeanCI, mean_with_ci, paired_effect
from reports.errors import ReportError
from reports.inference import Ranking, bh, holm, min_wilcoxon_p, quality_verdict, rank_methods
from reports.learned import UNINTERPRETABLE, Learned, check_learned
from reports.load import RunData
from reports.metricinfo import MetricInfo, primary_metrics, run_metrics
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
    effects: list[Effect]  # confirmatory: reference vs each baseline, per task, primary metric
    secondary: list[Effect]  # exploratory: the other metrics
    speed: list[SpeedRatio]
    phase_times: pd.DataFrame
    flops: list[dict[str, object]]
    rankings: dict[str, Ranking]  # per task, plus 'all tasks'
    n_resamples: int
    seed: int
    notes: list[str] = field(default_factory=list)
    learned: Learned = field(default_factory=Learned)  # "Is each task learned?" (controls, adaptation gains)
    convergence: list[Convergence] = field(default_factory=list)  # per method and task, from the learning curves

    @property
    def alpha(self) -> float:
        return self.comparisons.alpha

    def mean_of(self, method: str, task: str) -> MeanCI:
        return next(m for m in self.method_means if m.method == method and m.task == task)


def analyse(run: RunData, metrics: Mapping[str, MetricInfo] | None = None,
            n_resamples: int = bootstrap.DEFAULT_RESAMPLES, seed: int = bootstrap.REPORT_SEED) -> Analysis:
    """Run every statistic of the report on a loaded run."""
    design = check_design(run)
    comp = comparisons(run.spec, design.methods)
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
    gen = bootstrap.rng(seed)
    means = cell_means(design.values)
    alpha = comp.alpha

    def grid(method: str, task: str, metric: str) -> np.ndarray:
        return matrix(means, method, task, metric, design.seeds, design.domains[task])

    def margin(info: MetricInfo) -> float:
        if info.name in comp.margins:
            r = comp.margins[info.name]
            return math.log1p(r) if info.transform == "log_ratio" else r
        return info.margin

    method_means = [mean_with_ci(grid(m, t, primary[t].name), method=m, task=t, metric=primary[t].name,
                                 alpha=alpha, generator=gen, n_resamples=n_resamples)
                    for t in design.tasks for m in design.methods if design.scores(m, t)]

    # "Is each task learned?" first: every method against the constant control, Holm within the section.
    kept_seeds = design.values["seed"].isin(design.seeds) & design.values["method"].isin(design.methods)
    unadapted = run.unadapted[run.unadapted["method"].isin(design.methods) & run.unadapted["seed"].isin(design.seeds)]
    learned = check_learned(design.values[kept_seeds], unadapted, design.methods, design.seeds, design.tasks,
                            design.domains, primary, comp.reference, comp.baselines[0] if comp.baselines else None,
                            alpha, gen, n_resamples, margin)
    convergence = check_convergence(run.val_curve[run.val_curve["method"].isin(design.methods)], primary, alpha,
                                    margin)

    effects: list[Effect] = []
    secondary: list[Effect] = []
    for task in design.tasks:
        task_metrics = sorted({n for n in means.loc[means["task"] == task, "metric"].unique()})
        for base in comp.baselines:
            for name in task_metrics:
                info = infos[name]
                eff = paired_effect(grid(comp.reference, task, name), grid(base, task, name),
                                    method=comp.reference, baseline=base, task=task, metric=info,
                                    domains=design.domains[task], alpha=alpha, generator=gen,
                                    margin=margin(info), n_resamples=n_resamples)
                if name == primary[task].name:
                    effects.append(eff)
                else:
                    eff.family = "exploratory"
                    secondary.append(eff)

    speed: list[SpeedRatio] = []
    for base in comp.baselines:
        for phase in SPEED_PHASES:
            r = speed_ratio(run.timings, comp.reference, base, phase, alpha, gen, n_resamples)
            if r is None:
                continue
            if phase in comp.speed_claim_phases and r.paired:
                r.claim = comp.speed_claim
                r.p_claim = r.p_at_least(comp.speed_claim)
            speed.append(r)

    # Holm over the declared family (quality comparisons + speed claims), once for the Wilcoxon p-values
    # and once for the crossed t p-values; a quality verdict needs both (see inference.quality_verdict).
    claims = [r for r in speed if r.claim is not None]
    claim_ps = [r.p_claim for r in claims]
    adj_w = holm([e.p for e in effects] + claim_ps, alpha)
    adj_t = holm([e.crossed.p for e in effects] + claim_ps, alpha)
    for i, e in enumerate(effects):
        e.p_adjusted, e.p_crossed_adjusted = float(adj_w[i]), float(adj_t[i])
    for r, q_w, q_t in zip(claims, adj_w[len(effects):], adj_t[len(effects):], strict=True):
        r.p_adjusted = float(max(q_w, q_t))  # the claim is in both families: keep the more cautious
    for r in speed:
        r.verdict = speed_verdict(r, alpha)
    for e, q, qt in zip(secondary, bh([e.p for e in secondary], alpha), bh([e.crossed.p for e in secondary], alpha),
                        strict=True):
        e.p_adjusted, e.p_crossed_adjusted = float(q), float(qt)
    for e in effects + secondary:
        e.verdict = quality_verdict(e.estimate, e.lower, e.upper, e.p_adjusted, e.p_crossed_adjusted, alpha,
                                    e.margin)
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
    family = len(effects) + len(claims)
    by_count: dict[int, list[str]] = {}
    for task in design.tasks:
        by_count.setdefault(len(design.domains[task]), []).append(task)
    for n_dom, task_names in sorted(by_count.items()):
        floor = min_wilcoxon_p(n_dom)
        if family and floor * family > alpha:  # Holm's first step multiplies the smallest p by the family size
            notes.append(f"{', '.join(task_names)}: with {n_dom} held-out domains the smallest two-sided "
                         f"Wilcoxon p is {floor:.3g}; after Holm over {family} comparisons no quality verdict "
                         f"can reach alpha = {alpha:g}. Use more held-out domains for confirmatory claims.")
    if design.excluded_seeds:
        notes.append(f"seeds {', '.join(map(str, design.excluded_seeds))} left out of every comparison because "
                     "a method failed on them (see Failures): pairs stay complete.")
    if design.excluded_methods:
        notes.append(f"methods {', '.join(design.excluded_methods)} failed on every seed and have no results.")
    if run.timings.empty:
        notes.append("the store holds no timing samples: no speed ratios, phase times or Pareto plots.")
    unpaired = sorted({r.baseline for r in speed if not r.paired})
    if unpaired:
        notes.append(f"speed ratios against {', '.join(unpaired)} come from per-cell timings (those methods are "
                     "not in the spec's interleaved speed section): they carry machine drift and are not paired.")
    return Analysis(run=run, design=design, comparisons=comp, metrics={n: infos[n] for n in names},
                    primary=primary, means=means, method_means=method_means, effects=effects,
                    secondary=secondary, speed=speed, phase_times=phase_times(run.timings, gen),
                    flops=flops, rankings=rankings, n_resamples=n_resamples, seed=seed, notes=notes,
                    learned=learned, convergence=convergence)
