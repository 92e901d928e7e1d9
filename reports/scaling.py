"""The scaling study (``docs/scaling.md``): how AFR's speed-up over the baselines changes with size.

A run whose ``[speed]`` section declares a grid (``width_multipliers`` x
``image_sizes`` x ``inner_steps``) ran ``blocks`` interleaved blocks at every
point of it and counted FLOPs and peak memory per phase at each point
(``scaling_costs``). Per point, compared method, baseline and phase this module
gives:

- the paired wall-time ratio (baseline time / method time, geometric mean of the
  pair ratios, ``reports.speed_analysis``) with its interval: the t over blocks
  when the point has two or more, else a t over the pairs of its one block,
  labelled so (pairs of one process share its drift, so that interval is narrower
  than a block-level one would be);
- the exact FLOP ratio (baseline / method) at that size;
- the efficiency, wall ratio / FLOP ratio: 1 when every FLOP saved is time saved,
  below 1 when overhead (Python dispatch, small kernels) eats part of the saving;
- the peak tensor memory of both methods in that phase.

The FLOP ratio is the ceiling the figure draws (y = x), and one sentence per
baseline says at which sizes the paper's speed claim (``[comparisons]
speed_claim``, for ``speed_claim_phases``) holds: where the one-sided lower bound
of the wall ratio reaches it. The plain speed table of such a run uses the point
at the spec's own size only (``plain_timings``), so it means what it means in
any other run.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker as mticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench.spec import SPEED_PHASES, ScalePoint, SpeedSpec  # noqa: E402
from reports.load import RunData  # noqa: E402
from reports.speed_analysis import pair_table, speed_ratio, t_summary  # noqa: E402

COLUMNS = ["point", "width_multiplier", "image_size", "inner_steps", "method", "baseline", "phase", "wall_ratio",
           "ci_low", "ci_high", "lower", "n_pairs", "n_blocks", "interval", "flop_ratio", "efficiency",
           "flops_method", "flops_baseline", "peak_mib_method", "peak_mib_baseline"]
BLOCKS, PAIRS = "t over blocks", "t over pairs of one block"


def grid(run: RunData) -> SpeedSpec | None:
    """The run's speed section when it declares a scaling grid, else None."""
    speed = run.spec.speed
    return speed if speed is not None and speed.scaled else None


def _blocks_of(speed: SpeedSpec, point: int) -> list[int]:
    return list(range(point * speed.blocks, (point + 1) * speed.blocks))


def base_point(run: RunData) -> int | None:
    """The grid point at the spec's own size (width x1, the suite's image side, the spec's inner steps), if any."""
    speed = grid(run)
    if speed is None:
        return None
    side = run.manifest.get("image_size")
    steps = run.spec.training.inner_steps
    for index, p in enumerate(speed.points()):
        if ((p.width_multiplier or 1) == 1 and p.image_size in (None, side)
                and p.inner_steps in (None, steps)):
            return index
    return None


def plain_timings(run: RunData) -> pd.DataFrame:
    """The timings behind the plain speed table and phase times: in a scaling run, the speed samples of
    the point at the spec's own size only (none when the grid lacks it; the cells' own samples stay)."""
    speed = grid(run)
    if speed is None:
        return run.timings
    point = base_point(run)
    keep = run.timings["source"] != "speed"
    if point is not None:
        keep |= run.timings["block"].isin(_blocks_of(speed, point))
    return run.timings[keep]


def compared_methods(run: RunData, reference: str, baselines: tuple[str, ...] | list[str]) -> list[str]:
    """The speed methods set against the baselines: the reference first, then every other non-baseline one."""
    speed = grid(run)
    if speed is None:
        return []
    others = [m for m in speed.methods if m != reference and m not in baselines]
    return ([reference] if reference in speed.methods else []) + others


def scaling_rows(run: RunData, reference: str, baselines: tuple[str, ...] | list[str],
                 alpha: float) -> pd.DataFrame:
    """One row per (point, method, baseline, phase) with the columns ``COLUMNS``; empty without a grid."""
    speed = grid(run)
    if speed is None:
        return pd.DataFrame(columns=COLUMNS)
    methods = compared_methods(run, reference, baselines)
    bases = [b for b in baselines if b in speed.methods]
    timed = run.timings[run.timings["source"] == "speed"]
    rows: list[dict[str, Any]] = []
    for index, point in enumerate(speed.points()):
        timings = timed[timed["block"].isin(_blocks_of(speed, index))]
        costs = run.scaling_costs[run.scaling_costs["point"] == index]
        for method in methods:
            for base in bases:
                for phase in SPEED_PHASES:
                    wall = _wall(timings, method, base, phase, alpha)
                    f_m, f_b = _cost(costs, method, phase, "flops"), _cost(costs, base, phase, "flops")
                    flop_ratio = f_b / f_m if f_m > 0 and f_b > 0 else math.nan
                    rows.append({"point": index, **_axes(point), "method": method, "baseline": base, "phase": phase,
                                 **wall, "flop_ratio": flop_ratio,
                                 "efficiency": wall["wall_ratio"] / flop_ratio if flop_ratio > 0 else math.nan,
                                 "flops_method": f_m, "flops_baseline": f_b,
                                 "peak_mib_method": _cost(costs, method, phase, "peak_bytes") / 2**20,
                                 "peak_mib_baseline": _cost(costs, base, phase, "peak_bytes") / 2**20})
    return pd.DataFrame(rows, columns=COLUMNS)


def _wall(timings: pd.DataFrame, method: str, baseline: str, phase: str, alpha: float) -> dict[str, Any]:
    none = {"wall_ratio": math.nan, "ci_low": math.nan, "ci_high": math.nan, "lower": math.nan, "n_pairs": 0,
            "n_blocks": 0, "interval": ""}
    if timings.empty:
        return none
    r = speed_ratio(timings, method, baseline, phase, alpha)
    if r is None or not r.paired:
        return none
    out = {"wall_ratio": r.ratio, "ci_low": r.ci[0], "ci_high": r.ci[1], "lower": r.lower, "n_pairs": r.n_pairs,
           "n_blocks": r.n_blocks, "interval": BLOCKS}
    if r.n_blocks < 2:  # one block at this point: the pairs of that process are the only replicates
        pairs = pair_table(timings, method, baseline, phase)
        pairs = pairs[(pairs["seconds_method"] > 0) & (pairs["seconds_baseline"] > 0)]
        logs = np.log(pairs["seconds_baseline"].to_numpy()) - np.log(pairs["seconds_method"].to_numpy())
        _, _, _, (lo, hi), lower = t_summary(logs, alpha)
        out.update(ci_low=_exp(lo), ci_high=_exp(hi), lower=_exp(lower), interval=PAIRS if len(logs) > 1 else "")
    return out


def _exp(x: float) -> float:
    return math.nan if math.isnan(x) else math.exp(x)


def _axes(point: ScalePoint) -> dict[str, Any]:
    return {"width_multiplier": point.width_multiplier or 1, "image_size": point.image_size,
            "inner_steps": point.inner_steps}


def _cost(costs: pd.DataFrame, method: str, phase: str, column: str) -> float:
    row = costs[(costs["method"] == method) & (costs["phase"] == phase)]
    if row.empty or pd.isna(row[column].iloc[0]):
        return math.nan
    return float(row[column].iloc[0])


def size_label(row: Any) -> str:
    """'x2 width, 64 px, 5 steps' for a row of the scaling table (or anything with its three axis fields)."""
    size = "suite px" if pd.isna(row.image_size) else f"{int(row.image_size)} px"
    steps = "spec steps" if pd.isna(row.inner_steps) else f"{int(row.inner_steps)} step{'s' * (row.inner_steps != 1)}"
    return f"x{int(row.width_multiplier)} width, {size}, {steps}"


def claim_sentences(table: pd.DataFrame, method: str, claim: float, phases: tuple[str, ...] | list[str],
                    alpha: float) -> list[str]:
    """Per baseline and claimed phase: at which sizes ``method`` is at least ``claim`` times faster.

    The claim holds at a size when the one-sided (1 - alpha) lower bound of the wall ratio reaches it;
    the sentence also says where the FLOP ratio (the ceiling) reaches it, and which interval was used.
    """
    out = []
    for base in dict.fromkeys(table["baseline"]):
        for phase in phases:
            rows = table[(table["method"] == method) & (table["baseline"] == base) & (table["phase"] == phase)]
            if rows.empty:
                continue
            bounded = rows.dropna(subset=["lower"])
            if bounded.empty:
                out.append(f"Scaling: no interval for {method} against {base} ({phase}) at any size (a point needs "
                           f"two timed pairs); whether the paper's {claim:g}x claim holds is not known.")
                continue
            holds = bounded[bounded["lower"] >= claim]
            where = "; ".join(size_label(r) for r in holds.itertuples()) if not holds.empty else "no size"
            flop = rows[rows["flop_ratio"] >= claim]
            kinds = sorted(set(bounded["interval"]) - {""})
            out.append(f"Scaling: the paper's {claim:g}x claim for {phase} ({method} against {base}, one-sided "
                       f"{1 - alpha:.0%} lower bound of the wall-time ratio, {' / '.join(kinds)}) holds at {where} "
                       f"({len(holds)} of {len(rows)} sizes); the FLOP ratio reaches {claim:g}x at {len(flop)} of "
                       f"{len(rows)}.")
    return out


def scaling_figure(table: pd.DataFrame, path: Path, claim: float | None = None) -> Path:
    """Wall ratio against FLOP ratio, one panel per phase (log-log): the ceiling y = x, parity, the claim."""
    rows = table.dropna(subset=["wall_ratio", "flop_ratio"])
    phases = [p for p in SPEED_PHASES if (rows["phase"] == p).any()] or list(SPEED_PHASES[:1])
    fig, axes = plt.subplots(1, len(phases), figsize=(4.4 * len(phases), 4.2), squeeze=False)
    colours = dict(zip(dict.fromkeys(table["baseline"]), plt.rcParams["axes.prop_cycle"].by_key()["color"],
                       strict=False))
    markers = dict(zip(dict.fromkeys(table["method"]), "os^Dv<>", strict=False))
    for ax, phase in zip(axes[0], phases, strict=True):
        part = rows[rows["phase"] == phase]
        # limits from the estimates (an interval from two pairs can span decades; its bar is clipped)
        values = [0.5, 2.0, *part["flop_ratio"], *part["wall_ratio"]]
        lo, hi = min(values) / 1.3, max(values) * 1.3
        line = np.geomspace(lo, hi, 50)
        ax.plot(line, line, "k--", lw=1, label="ceiling: wall ratio = FLOP ratio")
        ax.axhline(1.0, color="grey", lw=0.6)
        if claim is not None:
            ax.axhline(claim, color="tab:red", lw=0.8, ls=":", label=f"paper's claim ({claim:g}x)")
        for (method, base), g in part.groupby(["method", "baseline"], sort=False):
            low = (g["wall_ratio"] - g["ci_low"]).where(g["ci_low"].notna(), 0.0)
            high = (g["ci_high"] - g["wall_ratio"]).where(g["ci_high"].notna(), 0.0)
            ax.errorbar(g["flop_ratio"], g["wall_ratio"], yerr=np.vstack([low, high]).clip(min=0),
                        fmt=markers.get(method, "o"), ms=4, lw=0.8, color=colours.get(base), alpha=0.85,
                        label=f"{method} vs {base}")
        ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), title=phase,
               xlabel="FLOP ratio (baseline / method)", ylabel="wall-time ratio (baseline / method)")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_locator(mticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(mticker.FormatStrFormatter("%g"))
            axis.set_minor_formatter(mticker.NullFormatter())
    axes[0][0].legend(fontsize=6, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
