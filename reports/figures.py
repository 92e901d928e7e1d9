"""The report's figures (matplotlib, Agg backend: no display needed, same pixels everywhere).

One function per figure, each taking the shared ``Analysis`` and writing one
PNG: a forest plot per task, an accuracy-versus-time Pareto plot per task, the
speed-ratio plot with the paper's 1.5x line, a critical-difference-style
ranking diagram built from pairwise Wilcoxon + Holm (not Nemenyi), and the
meta-training curves against steps and against wall-clock time.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker as mticker  # noqa: E402
import numpy as np  # noqa: E402

from reports.analysis import Analysis  # noqa: E402
from reports.learned import NOT_LEARNED  # noqa: E402
from reports.scaling import scaling_figure  # noqa: E402

DPI = 110
MAX_FOREST_ROWS = 60
MAX_BANDS = 4  # above this many methods the seed bands hide each other


def _color(a: Analysis, method: str) -> tuple[float, ...]:
    """One distinct colour per method (tab10, or tab20 beyond ten methods)."""
    n = len(a.design.methods)
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return cmap(a.design.methods.index(method) % cmap.N)


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def forest(a: Analysis, task: str, path: Path) -> Path:
    """Overall paired effect vs each baseline (bold) and per-domain effects (exploratory), ROPE shaded."""
    effects = [e for e in a.effects if e.task == task]
    labels, est, lo, hi, styles = [], [], [], [], []
    for e in effects:  # the confirmatory rows first, one per baseline
        family = "" if e.family == "confirmatory" else " (exploratory)"
        labels.append(f"{e.method} vs {e.baseline}: all domains{family}")
        est.append(e.estimate)
        lo.append(e.ci[0])
        hi.append(e.ci[1])
        styles.append(("overall", e.baseline, e.verdict))
    # then per-domain rows (exploratory), baseline by baseline while the figure stays readable
    for i, e in enumerate(effects):
        if i > 0 and len(labels) + len(e.per_domain) + 1 > MAX_FOREST_ROWS:
            break
        labels.append(f"per domain vs {e.baseline}")
        est.append(math.nan)
        lo.append(math.nan)
        hi.append(math.nan)
        styles.append(("header", e.baseline, ""))
        for row in e.per_domain.itertuples():
            labels.append(f"    {row.domain}")
            est.append(row.effect)
            lo.append(row.ci_lo if not math.isnan(row.ci_lo) else row.effect)
            hi.append(row.ci_hi if not math.isnan(row.ci_hi) else row.effect)
            styles.append(("domain", e.baseline, ""))
    n = len(labels)
    fig, ax = plt.subplots(figsize=(7.5, 1.2 + 0.24 * n))
    y = np.arange(n)[::-1]
    margin = effects[0].margin if effects else 0.0
    ax.axvspan(-margin, margin, color="0.88", zorder=0, label=f"ROPE ±{margin:.3g}")
    ax.axvline(0, color="0.3", lw=0.8)
    for yi, e_, l_, h_, (kind, base, note) in zip(y, est, lo, hi, styles, strict=True):
        c = _color(a, base)
        if kind == "header":
            continue
        if kind == "overall":
            ax.errorbar(e_, yi, xerr=[[e_ - l_], [h_ - e_]], fmt="D", color=c, ms=7, capsize=4, lw=2)
            ax.annotate(note, (h_, yi), xytext=(6, 0), textcoords="offset points", va="center", fontsize=8)
        else:
            ax.errorbar(e_, yi, xerr=[[e_ - l_], [h_ - e_]], fmt="o", color=c, ms=3.5, capsize=2, lw=1, alpha=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    for tick, (kind, _, _) in zip(ax.get_yticklabels(), styles, strict=True):
        tick.set_fontweight("bold" if kind == "overall" else "normal")
        tick.set_fontstyle("italic" if kind == "header" else "normal")
    metric = a.primary[task]
    ax.set_xlabel(metric.effect_label)
    ax.set_title(f"{task}: paired effect of {a.comparisons.reference} (95% crossed-t CI; decision after Holm, "
                 "or BH for exploratory rows)", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def pareto(a: Analysis, task: str, path: Path) -> Path:
    """Primary metric (with CI) against median time per meta-training step and per adaptation."""
    info = a.primary[task]
    pt = a.phase_times
    # the timing source that covers the most methods (the speed section may hold only a few); ties: speed
    coverage = {src: pt.loc[pt["source"] == src, "method"].nunique() for src in ("speed", "cell")}
    source = max(("speed", "cell"), key=lambda src: coverage[src])
    panels = [p for p in ("meta_train_step", "adapt") if ((pt["phase"] == p) & (pt["source"] == source)).any()]
    fig, axes = plt.subplots(1, max(len(panels), 1), figsize=(5.6 * max(len(panels), 1), 4.4), squeeze=False,
                             layout="constrained")
    for ax, phase in zip(axes[0], panels, strict=False):
        pts = []
        for m in a.design.methods:
            row = pt[(pt["method"] == m) & (pt["phase"] == phase) & (pt["source"] == source)]
            if row.empty or not a.design.scores(m, task):
                continue
            r = row.iloc[0]
            mc = a.mean_of(m, task)
            ax.errorbar(r.median_s, mc.mean, xerr=[[r.median_s - r.ci_lo], [r.ci_hi - r.median_s]],
                        yerr=[[mc.mean - mc.ci[0]], [mc.ci[1] - mc.mean]], fmt="o", ms=7, capsize=3,
                        color=_color(a, m), label=m)
            if len(a.design.methods) <= 5:  # beyond that, labels collide; the legend names the colours
                ax.annotate(m, (r.median_s, mc.mean), xytext=(6, 4), textcoords="offset points", fontsize=8)
            pts.append((r.median_s, float(info.oriented(mc.mean)), mc.mean))
        front = _pareto_front(pts)
        if len(front) > 1:
            ax.plot([p[0] for p in front], [p[2] for p in front], "--", color="0.5", lw=1, label="Pareto front")
        ax.set_xlim(left=0)
        ax.set_xlabel(f"median seconds per {phase} ({source} timings; left is faster)")
        if info.direction == "lower":
            ax.invert_yaxis()  # up is better in every panel
        ax.set_ylabel(f"{info.name} ({'higher is better' if info.direction == 'higher' else 'lower is better, axis inverted'})")
        ax.grid(alpha=0.3, which="both")
    if panels:
        fig.legend(*axes[0][0].get_legend_handles_labels(), fontsize=8, loc="outside right center")
    fig.suptitle(f"{task}: quality against time (95% CIs; dashed = Pareto front, up and left is better)", fontsize=10)
    return _save(fig, path)


def _pareto_front(points: list[tuple[float, float, float]]) -> list[tuple[float, float, float]]:
    """Points not dominated (faster and better); points are (time, oriented quality, raw quality)."""
    front = []
    for p in sorted(points):
        if not front or p[1] > front[-1][1]:
            front.append(p)
    return front


def speed_ratios(a: Analysis, path: Path) -> Path:
    """Every paired speed ratio with its CI on a log axis, the paper's claim as a dashed line."""
    rs = a.speed
    fig, ax = plt.subplots(figsize=(7.5, 1.8 + 0.38 * max(len(rs), 1)), layout="constrained")
    y = np.arange(len(rs))[::-1]
    # an interval over blocks needs two blocks: with one, the CI is NaN and only the point is drawn
    ends = [(lo if np.isfinite(lo) else r.ratio, hi if np.isfinite(hi) else r.ratio) for r in rs
            for lo, hi in [r.ci]]
    for yi, r, (low, high) in zip(y, rs, ends, strict=True):
        ax.errorbar(r.ratio, yi, xerr=[[r.ratio - low], [high - r.ratio]], fmt="o" if r.paired else "s",
                    color=_color(a, r.baseline), capsize=4, ms=6, mfc="white" if not r.paired else None)
        ax.annotate(f"{r.ratio:.2f}x", (high, yi), xytext=(6, 0), textcoords="offset points", va="center",
                    fontsize=8)
    claim = a.comparisons.speed_claim
    ax.axvline(claim, ls="--", color="crimson", lw=1.2, label=f"paper's claim: {claim:g}x")
    ax.axvline(1.0, color="0.3", lw=0.8, label="equal speed")
    ax.set_xscale("log")
    lo = min([low for low, _ in ends] + [0.8]) / 1.15
    hi = max([high for _, high in ends] + [claim * 1.2]) * 1.25
    ax.set_xlim(lo, hi)
    nice = [v for v in (0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 10, 20, 50, 100) if lo <= v <= hi]
    ax.xaxis.set_major_locator(mticker.FixedLocator(nice))
    ax.xaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(mticker.NullFormatter())
    ax.set_yticks(y)
    ax.set_yticklabels([f"{r.method} vs {r.baseline} · {r.phase}" + ("" if r.paired else " (unpaired)")
                        for r in rs], fontsize=8)
    ax.set_xlabel("speed ratio = baseline time / method time (log scale; >1 = method faster)")
    ax.set_title("Paired speed ratios, geometric mean with 95% CI (t over blocks)", fontsize=10)
    ax.grid(axis="x", alpha=0.3, which="both")
    fig.legend(*ax.get_legend_handles_labels(), fontsize=8, loc="outside lower center", ncol=2)
    return _save(fig, path)


def ranking(a: Analysis, path: Path) -> Path:
    """CD-style diagram: mean ranks on an axis; methods not separated by Wilcoxon + Holm are joined by a bar."""
    scope = "all tasks" if "all tasks" in a.rankings else a.design.tasks[0]
    rk = a.rankings[scope]
    ranks = rk.mean_ranks
    k = len(ranks)
    fig, ax = plt.subplots(figsize=(7.5, 1.6 + 0.35 * k))
    ax.set_xlim(0.8 - 0.45 * k, k + 0.2 + 0.45 * k)  # room for the labels on both sides
    ax.set_ylim(-(k + 0.6), 0.8)
    ax.hlines(0, 1, k, color="k", lw=1)
    for r in range(1, k + 1):
        ax.vlines(r, 0, 0.15, color="k", lw=1)
        ax.text(r, 0.3, str(r), ha="center", fontsize=9)
    for i, (m, r) in enumerate(ranks.items()):
        yy = -(i + 1)
        right = r > (k + 1) / 2
        end = k + 0.15 if right else 0.85
        ax.plot([r, r, end], [0, yy, yy], color=_color(a, m), lw=1)
        ax.plot([r], [0], "o", color=_color(a, m))
        ax.text(end + (0.05 if right else -0.05), yy, f"{m} ({r:.2f})", va="center",
                ha="left" if right else "right", fontsize=9)
    # cliques: maximal runs of consecutive (by rank) methods with no Holm-significant pair
    names = list(ranks.index)
    cliques = []
    for i in range(k):
        j = i
        while j + 1 < k and all(not rk.different(names[p], names[j + 1], a.alpha) for p in range(i, j + 1)):
            j += 1
        if j > i and not any(c[0] <= i and j <= c[1] for c in cliques):
            cliques.append((i, j))
    for level, (i, j) in enumerate(cliques):
        yb = -0.35 - 0.25 * level
        ax.hlines(yb, ranks.iloc[i] - 0.03, ranks.iloc[j] + 0.03, color="0.2", lw=4)
    ax.axis("off")
    fr = "" if math.isnan(rk.friedman_p) else f", Friedman p = {rk.friedman_p:.3g}"
    ax.set_title(f"Mean rank over {rk.n_blocks} (task, domain) blocks ({scope}){fr}\n"
                 f"bars join methods with no Holm-significant pairwise Wilcoxon difference (α = {a.alpha:g})",
                 fontsize=9)
    return _save(fig, path)


def training_curves(a: Analysis, path: Path) -> Path:
    """Outer meta-training loss, mean over seeds with min-max band, against steps and against seconds."""
    curves = a.run.curves
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    for m in a.design.methods:
        c = curves[(curves["method"] == m) & curves["seed"].isin(a.design.seeds)]
        if c.empty:
            continue
        by_step = c.groupby("step").agg(loss=("loss", "mean"), lo=("loss", "min"), hi=("loss", "max"),
                                        elapsed=("elapsed", "mean"))
        width = 2.4 if m == a.comparisons.reference else 1.2
        for ax, x in zip(axes, (by_step.index.to_numpy(), by_step["elapsed"].to_numpy()), strict=True):
            ax.plot(x, by_step["loss"], color=_color(a, m), label=m, lw=width)
            if len(a.design.methods) <= MAX_BANDS:
                ax.fill_between(x, by_step["lo"], by_step["hi"], color=_color(a, m), alpha=0.18, lw=0)
    axes[0].set_xlabel("meta-training step")
    axes[1].set_xlabel("meta-training seconds (method phases only)")
    for ax in axes:
        ax.set_ylabel("outer (query) loss")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    band = ", band = min-max over seeds" if len(a.design.methods) <= MAX_BANDS else ""
    fig.suptitle(f"Meta-training curves: mean over {len(a.design.seeds)} seeds{band}; "
                 f"thick line = {a.comparisons.reference}", fontsize=10)
    return _save(fig, path)


def learned(a: Analysis, path: Path) -> Path:
    """Per task: each method's mean after adaptation (filled) and before (hollow) against the constant (line)."""
    tasks = [t for t in a.design.tasks if any(c.task == t for c in a.learned.checks)]
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.6 * len(tasks), 0.34 * len(a.design.methods) + 1.8),
                             squeeze=False, layout="constrained")
    before = {(g.method, g.task): g.before for g in a.learned.gains}
    for ax, task in zip(axes[0], tasks, strict=True):
        checks = [c for c in a.learned.checks if c.task == task]
        info = a.primary[task]
        for y, c in enumerate(checks):
            mc = a.mean_of(c.method, task)
            color = _color(a, c.method)
            ax.errorbar(mc.mean, y, xerr=[[mc.mean - mc.ci[0]], [mc.ci[1] - mc.mean]], fmt="o", color=color,
                        capsize=3, ms=6)
            if (c.method, task) in before:
                ax.plot(before[(c.method, task)], y, "o", mfc="none", mec=color, ms=6)
                ax.annotate("", (mc.mean, y), (before[(c.method, task)], y),
                            arrowprops={"arrowstyle": "->", "color": color, "lw": 0.8, "alpha": 0.6})
            if not c.learned:
                ax.annotate("not learned", (mc.mean, y), xytext=(4, 5), textcoords="offset points", fontsize=7,
                            color="crimson")
        ax.axvline(checks[0].control_value, color="0.2", ls="--", lw=1.2, label="constant")
        ax.set_yticks(range(len(checks)), [c.method + (" (ctrl)" if c.method in a.design.controls else "")
                                           for c in checks], fontsize=8)
        ax.invert_yaxis()
        if info.transform == "log_ratio":  # errors on a ratio scale: one diverged value must not flatten the rest
            ax.set_xscale("log")
        if info.direction == "lower":
            ax.invert_xaxis()  # right is better in every panel
        flag = f"\n{NOT_LEARNED}" if task in a.learned.not_learned else ""
        ax.set_title(f"{task}{flag}", fontsize=9, color="crimson" if flag else "black")
        ax.set_xlabel(f"{info.name} ({'right is better' if info.direction == 'higher' else 'axis inverted, right is better'})",
                      fontsize=8)
        ax.grid(alpha=0.3, axis="x")
    fig.suptitle("Is each task learned? Mean after adaptation (filled, 95% CI) and before it (hollow, arrow = "
                 "adaptation gain) against the constant control (dashed)", fontsize=9)
    return _save(fig, path)


def learning_curves(a: Analysis, task: str, path: Path) -> Path:
    """One task's primary metric on the fixed meta-val episodes against meta-train steps, per method."""
    info = a.primary[task]
    curve = a.run.val_curve
    curve = curve[(curve["task"] == task) & (curve["metric"] == info.name) & curve["seed"].isin(a.design.seeds)]
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    verdicts = {c.method: c for c in a.convergence if c.task == task}
    for m in a.design.methods:
        c = curve[curve["method"] == m]
        if c.empty:
            continue
        per_seed = c.groupby(["step", "seed"])["value"].mean().unstack("seed")
        mean = per_seed.mean(axis=1)
        width = 2.4 if m == a.comparisons.reference else 1.2
        v = verdicts.get(m)
        tag = "" if v is None or v.converged else " (not converged)"
        ax.plot(mean.index, mean.to_numpy(), color=_color(a, m), lw=width, marker=".", label=m + tag,
                ls="-" if v is None or v.converged else "--")
        if len(a.design.compared) <= MAX_BANDS:
            ax.fill_between(mean.index, per_seed.min(axis=1), per_seed.max(axis=1), color=_color(a, m), alpha=0.15,
                            lw=0)
    constant = next((c.control_value for c in a.learned.checks if c.task == task), None)
    if constant is not None:
        ax.axhline(constant, color="0.2", ls=":", lw=1.2, label="constant (held-out)")
    if info.transform == "log_ratio":  # a diverging checkpoint (AbsRel 300) must not flatten every other curve
        ax.set_yscale("log")
    ax.set_xlabel("meta-training steps")
    ax.set_ylabel(f"{info.name} on the fixed meta-val episodes ({info.direction} is better"
                  f"{'; log axis' if info.transform == 'log_ratio' else ''})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    ax.set_title(f"{task}: learning curves, mean over {len(a.design.seeds)} seeds (dashed = not converged)",
                 fontsize=9)
    return _save(fig, path)


def compute_curves(a: Analysis, task: str, path: Path) -> Path:
    """One task's meta-val primary metric against cumulative meta-train seconds and FLOPs (reports/compute.py)."""
    assert a.compute is not None
    info = a.primary[task]
    curves = a.compute.mean_curves()
    curves = curves[curves["task"] == task]
    goal = a.compute.targets.get(task)
    times = {t.method: t for t in a.compute.times if t.task == task}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    for m in a.design.methods:
        c = curves[curves["method"] == m]
        if c.empty:
            continue
        width = 2.4 if m == a.comparisons.reference else 1.2
        t = times.get(m)
        for ax, x, scale in ((axes[0], "seconds", 1.0), (axes[1], "flops", 1e-9)):
            ax.plot(c[x].to_numpy() * scale, c["value"].to_numpy(), color=_color(a, m), lw=width, marker=".",
                    label=m if t is None else f"{m} ({t.n_reached}/{t.n_seeds} reach the target)")
            if t is not None and t.reached and goal is not None:
                median = t.seconds if x == "seconds" else t.flops * scale
                ax.plot([median], [goal.level], marker="o", mfc="none", mec=_color(a, m), ms=9, mew=1.5)
    for ax, xlabel in zip(axes, ("cumulative meta-training seconds (meta_train_step phase)",
                                 "cumulative meta-training GFLOP (steps x FLOPs per step)"), strict=True):
        if goal is not None and goal.defined:
            ax.axhline(goal.level, color="0.2", ls=":", lw=1.2,
                       label=f"target: {goal.fraction:.0%} of {goal.best_method}'s gain")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"{info.name} on the fixed meta-val episodes ({info.direction} is better)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="best")
    fig.suptitle(f"{task}: equal compute, mean over {len(a.design.seeds)} seeds; circles = median time-to-target "
                 "over the seeds that reached it", fontsize=9)
    return _save(fig, path)


def all_figures(a: Analysis, folder: Path) -> dict[str, Path]:
    """Write every figure; returns name -> path in the order the report shows them."""
    out: dict[str, Path] = {}
    if a.learned.checks:
        out["learned"] = learned(a, folder / "learned.png")
    if not a.run.val_curve.empty:
        for task in a.design.tasks:
            out[f"learning_curves_{task}"] = learning_curves(a, task, folder / f"learning_curves_{task}.png")
    for task in a.design.tasks:
        out[f"forest_{task}"] = forest(a, task, folder / f"forest_{task}.png")
    if not a.phase_times.empty:
        for task in a.design.tasks:
            out[f"pareto_{task}"] = pareto(a, task, folder / f"pareto_{task}.png")
    if a.speed:
        out["speed_ratios"] = speed_ratios(a, folder / "speed_ratios.png")
    if a.compute is not None and not a.compute.curves.empty:
        for task in a.design.tasks:
            if task in a.compute.targets:
                out[f"compute_curves_{task}"] = compute_curves(a, task, folder / f"compute_curves_{task}.png")
    if len(a.design.methods) > 1:
        out["ranking"] = ranking(a, folder / "ranking.png")
    if not a.run.curves.empty:
        out["training_curves"] = training_curves(a, folder / "training_curves.png")
    if not a.scaling.empty and a.scaling[["wall_ratio", "flop_ratio"]].notna().all(axis=1).any():
        out["scaling"] = scaling_figure(a.scaling, folder / "scaling.png", a.comparisons.speed_claim)
    return out
