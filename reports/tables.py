"""Tables of a report, each written as CSV (full precision), LaTeX (booktabs) and Markdown.

The main table (docs/running.md#read-the-report): rows are methods, columns tasks,
each cell the primary metric's mean with its 95% crossed-bootstrap CI. The
appendix tables are DomainBed-style per-domain tables (domains as columns plus
Avg) with mean ± SE across seeds, using ddof = 1 (DomainBed's ddof = 0
understates the SE by sqrt(2/3) with three seeds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from reports.analysis import Analysis
from reports.compute import NOT_REACHED
from reports.effects import shown_effect
from reports.learned import NOT_LEARNED
from reports.records import csv_row, display_row, fmt, fmt_p
from reports.scaling import BLOCKS, PAIRS, size_label

ARROW = {"higher": "↑", "lower": "↓"}


@dataclass
class Table:
    name: str  # file stem
    title: str
    numeric: pd.DataFrame  # for CSV
    display: pd.DataFrame  # formatted strings for LaTeX/Markdown/HTML

    def markdown(self) -> str:
        cols = [str(c) for c in self.display.columns]
        lines = ["| " + " | ".join(_md(c) for c in cols) + " |", "|" + "|".join(" --- " for _ in cols) + "|"]
        for row in self.display.itertuples(index=False, name=None):
            lines.append("| " + " | ".join(_md(str(v)) for v in row) + " |")
        return "\n".join(lines)

    def latex(self) -> str:
        frame = self.display.rename(columns=lambda c: str(c).replace("↑", "(higher better)")
                                    .replace("↓", "(lower better)"))
        frame = frame.map(lambda v: str(v).replace("↑", "").replace("↓", "").replace("±", "$\\pm$")
                          .replace("–", "--"))
        styler = frame.style.hide(axis="index")
        styler = styler.format(escape="latex", formatter=lambda v: v).format_index(escape="latex", axis=1)
        # the ± we inserted is already LaTeX; escape="latex" would mangle it, so undo that one escape
        body = styler.to_latex(hrules=True, column_format="l" + "r" * (frame.shape[1] - 1))
        body = body.replace("\\$\\textbackslash pm\\$", "$\\pm$")
        return f"% {self.title}\n% needs \\usepackage{{booktabs}}\n{body}"

    def html(self) -> str:
        return self.display.to_html(index=False, border=0, classes="table", escape=True)

    def write(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        paths = [folder / f"{self.name}.csv", folder / f"{self.name}.tex"]
        self.numeric.to_csv(paths[0], index=False)
        paths[1].write_text(self.latex(), encoding="utf-8")
        return paths


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def label(a: Analysis, method: str) -> str:
    """A method's name as tables show it: the reference and the controls are marked."""
    if method == a.comparisons.reference:
        return method + " (reference)"
    return method + (" (control)" if method in a.design.controls else "")


def main_table(a: Analysis) -> Table:
    rows, disp = [], []
    counts = a.run.manifest.get("parameter_counts") or {}
    for m in a.design.methods:
        n_params = counts.get(m)
        row: dict[str, object] = {"method": m, "control": m in a.design.controls, "parameters": n_params}
        drow: dict[str, str] = {"method": label(a, m),
                                "parameters": f"{n_params:,}" if isinstance(n_params, int) else "–"}
        for t in a.design.tasks:
            info = a.primary[t]
            if not a.design.scores(m, t):
                drow[f"{t} {info.name} {ARROW[info.direction]}"] = "not scored"
                continue
            mc = a.mean_of(m, t)
            row.update({f"{t}.{info.name}.mean": mc.mean, f"{t}.{info.name}.ci_lo": mc.ci[0],
                        f"{t}.{info.name}.ci_hi": mc.ci[1]})
            drow[f"{t} {info.name} {ARROW[info.direction]}"] = f"{fmt(mc.mean)} [{fmt(mc.ci[0])}, {fmt(mc.ci[1])}]"
        rows.append(row)
        disp.append(drow)
    title = (f"Primary metric per method and task: mean over {len(a.design.seeds)} seeds x held-out domains "
             "[95% crossed seed x domain t interval]; parameters: the method's trainable parameter count")
    return Table("main", title, pd.DataFrame(rows), pd.DataFrame(disp))


def claims_table(a: Analysis) -> Table:
    """The report's opening: the verdict on the paper's two claims, in one quotable table."""
    rows = claim_rows(a)
    return Table("claims", f"Verdict on the paper's claims ({a.comparisons.reference} against "
                 f"{', '.join(a.comparisons.family_baselines)}; confirmatory family of {a.family_size} hypotheses, "
                 f"Holm at alpha = {a.alpha:g})", pd.DataFrame(rows),
                 pd.DataFrame([{"claim": r["claim"], "verdict": r["verdict"], "evidence": r["evidence"]} for r in rows]))


def claim_rows(a: Analysis) -> list[dict[str, object]]:
    """One row per claim: 'faster' from the speed claims, 'better on unseen environments' from the
    confirmatory quality decisions (supported: better on at least one task and worse on none, every task
    decided; contradicted: worse on any task; otherwise not shown). A task that is not learned ends
    'uninterpretable', which is not a decision."""
    rows: list[dict[str, object]] = []
    for r in a.claims:
        shown = r.verdict.startswith("at least")
        rows.append({"claim": f"at least {r.claim:g}x faster than {r.baseline} ({r.phase})",
                     "verdict": "supported" if shown else "not shown", "decided": shown,
                     "evidence": f"ratio {fmt(r.ratio, 3)}x [{fmt(r.ci[0], 3)}, {fmt(r.ci[1], 3)}], "
                                 f"p (Holm) {fmt_p(r.p_adjusted)}; detectable ratio {fmt(r.mde, 3)}x"})
    for base in a.comparisons.family_baselines:
        effs = [e for e in a.confirmatory if e.baseline == base]
        count = {v: sum(e.verdict == v for e in effs) for v in ("better", "worse", "equivalent")}
        decided = sum(count.values())  # undecided and uninterpretable (a task not learned) are not decisions
        if count["worse"]:
            verdict = "contradicted"
        elif count["better"] and decided == len(effs):
            verdict = "supported"
        elif count["better"]:
            verdict = "partly supported"
        else:
            verdict = "not shown"
        per_task = "; ".join(f"{e.task} {e.verdict}" for e in effs)
        rows.append({"claim": f"better than {base} on unseen environments (primary metric per task)",
                     "verdict": verdict, "decided": decided,
                     "evidence": f"{decided} of {len(effs)} decided: {per_task}"})
    return rows


def comparison_table(a: Analysis, secondary: bool = False) -> Table:
    effects = a.secondary if secondary else a.effects
    title = ("Paired effects (positive = method better; log-ratio metrics shown as error ratio baseline/method) "
             "with the crossed seed x domain t interval; decision: better / worse (crossed t) or equivalent "
             "(TOST within the ROPE), "
             + ("BH over secondary metrics (exploratory)" if secondary else
                "Holm over the confirmatory family, BH over the exploratory rows")
             + "; Wilcoxon over domains as a sensitivity check; detectable effect at 80% power")
    return Table("secondary" if secondary else "comparisons", title, pd.DataFrame([csv_row(e) for e in effects]),
                 pd.DataFrame([display_row(e) for e in effects]))


def sensitivity_table(a: Analysis) -> Table:
    title = ("Sensitivity (not a result): the confirmatory comparisons without the seeds on which a method failed "
             f"(seeds {', '.join(map(str, a.design.seeds))}), which the main result instead scores as the worst "
             "observed values")
    return Table("sensitivity", title, pd.DataFrame([csv_row(e) for e in a.sensitivity]),
                 pd.DataFrame([display_row(e) for e in a.sensitivity]))


def speed_table(a: Analysis) -> Table:
    title = ("Speed ratios: baseline time / method time per interleaved pair (above 1 = method faster), "
             "geometric mean, 95% t interval over blocks (fresh processes: the replication unit; one block has none)")
    return Table("speed", title, pd.DataFrame([csv_row(r) for r in a.speed]),
                 pd.DataFrame([display_row(r) for r in a.speed]))


def phase_table(a: Analysis) -> Table:
    pt = a.phase_times
    disp = pd.DataFrame({"source": pt["source"], "method": pt["method"], "phase": pt["phase"],
                         "median (s) [95% CI]": [f"{fmt(m, 3)} [{fmt(lo, 3)}, {fmt(hi, 3)}]"
                                                 for m, lo, hi in zip(pt["median_s"], pt["ci_lo"], pt["ci_hi"],
                                                                      strict=True)],
                         "IQR/median": [fmt(v, 2) + (" unstable" if v > 0.10 else "") for v in pt["iqr_over_median"]],
                         "n": pt["n"]})
    return Table("phase_times", "Per-phase times (warm-up excluded)", pt, disp)


def flops_table(a: Analysis) -> Table:
    num = pd.DataFrame(a.flops, columns=["method", "baseline", "phase", "flops_method", "flops_baseline",
                                         "flop_ratio", "memory_ratio"])
    disp = pd.DataFrame({"comparison": num["method"] + " vs " + num["baseline"], "phase": num["phase"],
                         "FLOPs method": [fmt(v, 3) for v in num["flops_method"]],
                         "FLOPs baseline": [fmt(v, 3) for v in num["flops_baseline"]],
                         "FLOP ratio": [fmt(v, 3) for v in num["flop_ratio"]],
                         "peak-memory ratio": [fmt(v, 3) for v in num["memory_ratio"]]})
    return Table("flops", "FLOP ratios (baseline / method, exact) and peak-memory ratios per phase", num, disp)


def ranking_table(a: Analysis) -> Table:
    rows, disp = [], []
    for scope, rk in a.rankings.items():
        for method, r in rk.mean_ranks.items():
            rows.append({"scope": scope, "method": method, "mean_rank": r, "n_blocks": rk.n_blocks,
                         "friedman_stat": rk.friedman_stat, "friedman_p": rk.friedman_p})
            disp.append({"scope": scope, "method": method, "mean rank": fmt(r, 3), "blocks": rk.n_blocks,
                         "Friedman p": fmt_p(rk.friedman_p)})
    return Table("ranking", "Mean ranks (1 = best) over (task, domain) blocks, primary metrics",
                 pd.DataFrame(rows), pd.DataFrame(disp))


def domain_tables(a: Analysis) -> list[Table]:
    out = []
    for task in a.design.tasks:
        info = a.primary[task]
        doms = a.design.domains[task]
        sub = a.means[(a.means["task"] == task) & (a.means["metric"] == info.name)]
        rows, disp = [], []
        for m in a.design.methods:
            if not a.design.scores(m, task):
                continue
            wide = sub[sub["method"] == m].pivot(index="seed", columns="domain", values="value")
            wide = wide.reindex(columns=doms)
            wide["Avg"] = wide.mean(axis=1)
            n = len(wide)
            mean = wide.mean(axis=0)
            se = wide.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else wide.mean(axis=0) * np.nan
            rows.append({"method": m, **{f"{d}.mean": mean[d] for d in wide.columns},
                         **{f"{d}.se": se[d] for d in wide.columns}})
            disp.append({"method": label(a, m), **{d: f"{fmt(mean[d])} ± {fmt(se[d], 2)}" for d in wide.columns}})
        title = (f"{task}: {info.name} ({info.direction} is better) per held-out domain, mean ± SE over "
                 f"{len(a.design.seeds)} seeds (ddof=1)")
        out.append(Table(f"domains_{task}", title, pd.DataFrame(rows), pd.DataFrame(disp)))
    return out


def learned_table(a: Analysis) -> Table:
    """Is each task learned? Each method against the constant control (Holm within this section)."""
    rows, disp = [], []
    for c in a.learned.checks:
        e = c.effect
        rows.append({"task": c.task, "metric": c.metric, "method": c.method, "control": c.method in a.design.controls,
                     "constant": c.control_value, "value": c.method_value, "relative_reduction": c.relative_reduction,
                     "points_above": c.points_above, "effect": e.estimate, "ci_lo": e.ci[0], "ci_hi": e.ci[1],
                     "margin": e.margin, "p_wilcoxon": e.p, "p_holm": e.p_adjusted,
                     "p_crossed_t_holm": e.p_crossed_adjusted, "learned": c.learned})
        gap = (f"{c.relative_reduction:+.1%}" if not math.isnan(c.relative_reduction)
               else f"{c.points_above:+.1f} points")
        disp.append({"task": c.task + (f" — {NOT_LEARNED}" if c.task in a.learned.not_learned else ""),
                     "method": label(a, c.method), "metric": c.metric, "constant": fmt(c.control_value),
                     "method value": fmt(c.method_value), "reduction / gain over constant": gap,
                     "p (Wilcoxon, Holm)": fmt_p(e.p_adjusted), "p (crossed t, Holm)": fmt_p(e.p_crossed_adjusted),
                     "verdict": "learned" if c.learned else "NOT learned"})
    title = ("Is each task learned? Each method against the 'constant' control (the meta-train prior, no image "
             "input) on the primary metric, paired over the same held-out episodes; relative error reduction "
             "(accuracy: points above chance); Holm over this section; learned = the crossed seed x domain t-test "
             "rejects and the effect exceeds the metric's margin (the Wilcoxon column is a sensitivity check)")
    return Table("learned", title, pd.DataFrame(rows), pd.DataFrame(disp))


def gain_table(a: Analysis) -> Table:
    """Each method's adaptation gain: after adaptation against its own initialisation, same query."""
    rows, disp = [], []
    for g in a.learned.gains:
        e = g.effect
        rows.append({"task": g.task, "metric": g.metric, "method": g.method, "before": g.before, "after": g.after,
                     "effect": e.estimate, "ci_lo": e.ci[0], "ci_hi": e.ci[1], "p_wilcoxon": e.p})
        disp.append({"task": g.task, "method": label(a, g.method), "metric": g.metric, "before": fmt(g.before),
                     "after": fmt(g.after), "gain [95% CI]": shown_effect(e, ratio_digits=3),
                     "p (Wilcoxon)": fmt_p(e.p)})
    title = ("Adaptation gain: each method after its test-time steps against its own meta-learned "
             "initialisation (zero steps), same query episodes; error metrics as ratio before/after "
             "(above 1 = adaptation helped); exploratory")
    return Table("adaptation_gain", title, pd.DataFrame(rows), pd.DataFrame(disp))


def convergence_table(a: Analysis) -> Table:
    rows, disp = [], []
    for c in a.convergence:
        rows.append({"method": c.method, "task": c.task, "metric": c.metric, "start_step": c.start_step,
                     "end_step": c.end_step, "start": c.start_value, "end": c.end_value,
                     "improvement": c.improvement, "margin": c.margin, "n_pairs": c.n_pairs, "p": c.p,
                     "p_holm": c.p_holm, "converged": c.converged})
        disp.append({"method": label(a, c.method), "task": c.task,
                     "metric": c.metric, "meta-val": f"{fmt(c.start_value)} → {fmt(c.end_value)}",
                     "steps": f"{c.start_step} → {c.end_step}", "improvement (effect units)": fmt(c.improvement, 3),
                     "p (one-sided, Holm)": fmt_p(c.p_holm), "verdict": c.verdict})
    title = ("Convergence: change of the primary metric on the fixed meta-val episodes over the last quarter of "
             "the budget, paired per (seed, episode); not converged = significant (one-sided Wilcoxon, Holm over "
             "the method's tasks) and above the metric's margin")
    return Table("convergence", title, pd.DataFrame(rows), pd.DataFrame(disp))


def compute_table(a: Analysis) -> Table:
    """Time-to-target per task and method (reports/compute.py): medians over the seeds that reached it."""
    rows, disp = [], []
    ec = a.compute
    assert ec is not None
    for t in ec.times:
        goal = ec.targets[t.task]
        rows.append({"task": t.task, "metric": t.metric, "method": t.method, "target": goal.level,
                     "best_method": goal.best_method, "fraction": goal.fraction, "final": t.final,
                     "n_seeds": t.n_seeds, "n_reached": t.n_reached, "median_step": t.step,
                     "median_seconds": t.seconds, "median_flops": t.flops})
        if not goal.defined:
            target = f"none ({goal.best_method} did not improve on step 0)"
        else:
            target = f"{fmt(goal.level)} ({goal.fraction:.0%} of {goal.best_method}'s gain)"
        reached = t.reached
        disp.append({"task": t.task, "meta-val metric": f"{t.metric} {ARROW.get(goal.direction, '')}", "target": target,
                     "method": label(a, t.method), "final meta-val": fmt(t.final),
                     "seeds reaching it": f"{t.n_reached}/{t.n_seeds}",
                     "steps (median)": fmt(t.step, 3) if reached else NOT_REACHED,
                     "meta-train seconds (median)": fmt(t.seconds, 3) if reached else NOT_REACHED,
                     "GFLOP (median)": fmt(t.flops / 1e9, 3) if reached else NOT_REACHED})
    title = (f"Equal compute, time-to-target: per task the target is {ec.fraction:.0%} of the way from the best "
             "method's step-0 meta-val score to its final one (seed means); per method, the cumulative meta-train "
             "seconds (meta_train_step phase, the cell's own clock), FLOPs (steps x FLOPs of one meta-train step) "
             "and steps at the first checkpoint at or past it: medians over the seeds that reached it")
    return Table("equal_compute", title, pd.DataFrame(rows), pd.DataFrame(disp))


def scaling_table(a: Analysis) -> Table:
    """The scaling study per size, comparison and phase: wall ratio with its interval, FLOP ratio, efficiency, memory."""
    num = a.scaling
    disp = pd.DataFrame({
        "size": [size_label(r) for r in num.itertuples()],
        "comparison": num["method"] + " vs " + num["baseline"], "phase": num["phase"],
        "wall ratio [95% CI]": [f"{fmt(r, 3)}x [{fmt(lo, 3)}, {fmt(hi, 3)}]" for r, lo, hi in
                                zip(num["wall_ratio"], num["ci_low"], num["ci_high"], strict=True)],
        "interval": [{BLOCKS: "blocks", PAIRS: "pairs, 1 block"}.get(v, "none") for v in num["interval"]],
        "FLOP ratio": [fmt(v, 3) for v in num["flop_ratio"]],
        "efficiency": [fmt(v, 3) for v in num["efficiency"]],
        "peak MiB (method / baseline)": [f"{fmt(m, 3)} / {fmt(b, 3)}" for m, b in
                                         zip(num["peak_mib_method"], num["peak_mib_baseline"], strict=True)]})
    title = ("Scaling study: wall-time ratio (baseline / method, paired; interval over blocks, or over the pairs "
             "of a point's one block), exact FLOP ratio, efficiency (wall ratio / FLOP ratio; 1 = every FLOP saved "
             "is time saved) and peak tensor memory, per size and phase")
    return Table("scaling", title, num, disp)


def all_tables(a: Analysis) -> list[Table]:
    tables = [claims_table(a), learned_table(a), gain_table(a), convergence_table(a), main_table(a),
              comparison_table(a)]
    if a.secondary:
        tables.append(comparison_table(a, secondary=True))
    if a.sensitivity:
        tables.append(sensitivity_table(a))
    tables += [speed_table(a), phase_table(a), flops_table(a)]
    if a.compute is not None and a.compute.times:
        tables.append(compute_table(a))
    tables += [ranking_table(a), *domain_tables(a)]
    if not a.scaling.empty:
        tables.append(scaling_table(a))
    return tables
