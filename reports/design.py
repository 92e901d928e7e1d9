"""The balanced-design check that runs before any statistic (docs/statistics.md#balanced-design-check).

Every comparison in a report is paired by (seed, domain, episode). A missing
cell would silently unpair it, so a missing cell is an error (exit 3) that
lists what is missing. A *failed* cell (a diverged method, recorded by the
runner with its reason) is a result, not a hole: it is listed in the report's
failures. ``Design.values`` keeps the seeds on which every remaining method
finished (complete cases, which the regression gate compares). The report's
statistics instead use every seed and never reward failure: the failing method
takes the worst value observed for each of that cell's (task, domain, episode,
metric) entries, over every finished cell of every method (``impute_failures``).
Dropping the seed would drop the failing method's worst training runs and make
it look better; the report shows that complete-case result beside it as a
sensitivity table. A method that failed on every seed has no results.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench.spec import ComparisonSpec, Spec
from reports.errors import DesignError, HarnessError, ReportError
from reports.load import RunData
from reports.roles import Role, method_roles

MAX_LISTED = 20


@dataclass
class Design:
    """The balanced part of a run that the statistics use."""

    methods: list[str]
    seeds: list[int]
    tasks: list[str]
    domains: dict[str, list[str]]  # task -> held-out domains
    values: pd.DataFrame  # raw episode values restricted to methods x seeds
    failures: list[dict[str, object]] = field(default_factory=list)
    excluded_methods: list[str] = field(default_factory=list)  # failed on every seed
    excluded_seeds: list[int] = field(default_factory=list)  # some kept method failed on them
    all_seeds: list[int] = field(default_factory=list)  # every seed of the spec
    finished_values: pd.DataFrame | None = None  # episode values of every finished cell of the kept methods
    failed_cells: list[tuple[str, int]] = field(default_factory=list)  # (method, seed) failed, method kept
    roles: dict[str, Role] = field(default_factory=dict)  # method -> control or not, tasks it is scored on

    @property
    def controls(self) -> list[str]:
        return [m for m in self.methods if self.roles.get(m, Role()).control]

    @property
    def compared(self) -> list[str]:
        """The methods that are not controls: the ones rankings and comparisons are about."""
        return [m for m in self.methods if not self.roles.get(m, Role()).control]

    def scores(self, method: str, task: str) -> bool:
        return self.roles.get(method, Role()).scores(task)


def _format_missing(missing: list[dict[str, object]]) -> str:
    shown = ["/".join(f"{k}={v}" for k, v in m.items()) for m in missing[:MAX_LISTED]]
    more = f" and {len(missing) - MAX_LISTED} more" if len(missing) > MAX_LISTED else ""
    return "; ".join(shown) + more


def check_design(run: RunData) -> Design:
    """Check that every (method, seed) cell exists and covers the same (task, domain, episode, metric) grid."""
    cells = run.cells
    values = run.values
    methods, seeds = list(run.spec.method_names), list(run.spec.seeds)
    missing: list[dict[str, object]] = []
    have = {(m, int(s)) for m, s in zip(cells["method"], cells["seed"], strict=True)}
    for m in methods:
        for s in seeds:
            if (m, s) not in have:
                missing.append({"method": m, "seed": s, "what": "cell never ran"})

    done = cells[cells["status"] == "done"]
    done_keys = set(zip(done["method"], done["seed"].astype(int), strict=True))
    vals = values[[(m, int(s)) in done_keys for m, s in zip(values["method"], values["seed"], strict=True)]]
    tasks = list(run.spec.tasks)
    declared = run.manifest.get("test_domains") if isinstance(run.manifest.get("test_domains"), dict) else {}
    for task in tasks:
        if not (vals["task"] == task).any() and done_keys:
            missing.append({"task": task, "what": "no values for this task in any cell"})
            continue
        seen = set(vals.loc[vals["task"] == task, "domain"])
        for domain in declared.get(task, []) if done_keys else []:  # the runner's list of held-out domains
            if domain not in seen:
                missing.append({"task": task, "domain": domain, "what": "held-out domain with no values"})

    # The grid each done cell must cover: the union over all done cells, per task, restricted to the
    # tasks its method is scored on (a classification-only control covers classification alone).
    roles = method_roles(run.manifest, methods)
    full_grid = vals[["task", "domain", "episode", "metric"]].drop_duplicates()
    counts = vals.groupby(["method", "seed"]).size()
    for m, s in sorted(done_keys):
        role = roles.get(m)
        grid = full_grid if role is None or role.tasks is None else full_grid[full_grid["task"].isin(role.tasks)]
        n = int(counts.get((m, s), 0))
        if n == len(grid):
            continue
        got = vals[(vals["method"] == m) & (vals["seed"] == s)][["task", "domain", "episode", "metric"]]
        absent = grid.merge(got, how="left", indicator=True)
        absent = absent[absent["_merge"] == "left_only"]
        for (task, domain, metric), grp in absent.groupby(["task", "domain", "metric"]):
            missing.append({"method": m, "seed": s, "task": task, "domain": domain, "metric": metric,
                            "what": f"{len(grp)} episode value(s) missing"})
    if missing:
        raise DesignError(f"the run is not a balanced design: {len(missing)} missing cell(s): "
                          f"{_format_missing(missing)}. Finish the run first (mtml-bench run --resume {run.run_dir}) "
                          "or report a complete run.", missing)

    bad = vals[~np.isfinite(vals["value"].to_numpy(dtype=float))]
    if len(bad):
        where = bad[["method", "seed", "task", "domain", "metric"]].drop_duplicates().head(MAX_LISTED)
        raise HarnessError(f"{len(bad)} non-finite metric value(s) in the store, e.g. "
                           f"{where.to_dict('records')}. The runner must record such cells as failed.")

    failures = run.failures.to_dict("records")
    failed = {(f["method"], int(f["seed"])) for f in failures}
    excluded_methods = [m for m in methods if all((m, s) in failed for s in seeds)]
    kept = [m for m in methods if m not in excluded_methods]
    kept_seeds = [s for s in seeds if all((m, s) not in failed for m in kept)]
    excluded_seeds = [s for s in seeds if s not in kept_seeds]
    if not kept or not kept_seeds:
        raise HarnessError(f"no seed on which every method finished ({len(failures)} failed cell(s)); "
                           "see the failures in the store's cells table and fix the diverging method.")
    finished = vals[vals["method"].isin(kept)].reset_index(drop=True)
    use = finished[finished["seed"].isin(kept_seeds)].reset_index(drop=True)
    domains = {t: sorted(use.loc[use["task"] == t, "domain"].unique()) for t in tasks}
    return Design(methods=kept, seeds=kept_seeds, tasks=tasks, domains=domains, values=use,
                  failures=[{"method": f["method"], "seed": int(f["seed"]), "reason": f["reason"]} for f in failures],
                  excluded_methods=excluded_methods, excluded_seeds=excluded_seeds, all_seeds=list(seeds),
                  finished_values=finished, failed_cells=sorted((m, s) for m, s in failed if m in kept and s in seeds),
                  roles={m: roles[m] for m in kept})


def impute_failures(design: Design, lower_is_better: dict[str, bool]) -> tuple[pd.DataFrame, list[int]]:
    """(episode values over every seed, those seeds): each failed cell filled with the worst observed value.

    ``lower_is_better`` maps metric name -> direction. The worst is taken over every finished cell of every
    method and seed for the same (task, domain, episode, metric), so a failed training run scores no better
    than the worst run anyone finished. Without failures: the design's own values and seeds.
    """
    if not design.failed_cells or design.finished_values is None:
        return design.values, design.seeds
    values = design.finished_values
    keys = ["task", "domain", "episode", "metric"]
    grouped = values.groupby(keys)["value"]
    worst = pd.concat([grouped.min().rename("min"), grouped.max().rename("max")], axis=1).reset_index()
    lower = worst["metric"].map(lambda name: bool(lower_is_better[name]))
    worst["value"] = np.where(lower, worst["max"], worst["min"])
    fills = [worst[keys + ["value"]].assign(method=m, seed=s) for m, s in design.failed_cells]
    return pd.concat([values, *fills], ignore_index=True)[list(values.columns)], design.all_seeds


def cell_means(values: pd.DataFrame) -> pd.DataFrame:
    """Episode-averaged value per (method, seed, task, domain, metric): the unit every statistic starts from."""
    return (values.groupby(["method", "seed", "task", "domain", "metric"], as_index=False)["value"].mean())


def matrix(means: pd.DataFrame, method: str, task: str, metric: str, seeds: list[int],
           domains: list[str]) -> np.ndarray:
    """The seeds x domains matrix of one method's cell means (rows and columns in the given order)."""
    sub = means[(means["method"] == method) & (means["task"] == task) & (means["metric"] == metric)]
    wide = sub.pivot(index="seed", columns="domain", values="value")
    return wide.reindex(index=seeds, columns=domains).to_numpy(dtype=float)


def comparisons(spec: Spec, methods: Sequence[str], controls: Sequence[str] = ()) -> ComparisonSpec:
    """The spec's declared confirmatory family; without a ``[comparisons]`` table, the
    reference (``afr`` when it has results, else the first method) against every other method with results.

    Controls are never compared as baselines (they are checked against ``constant`` in "Is each task
    learned?" instead): a classification-only control has no values to pair on the other tasks, and a
    control must never become the confirmatory baseline. A spec that lists one is cut back to the rest.
    """
    if not methods:
        raise ReportError("the run has no methods with results. Run the benchmark before reporting.")
    compared = [m for m in methods if m not in controls]
    if spec.comparisons is not None:
        comp = spec.comparisons
        if comp.reference in controls:
            raise ReportError(f"[comparisons] reference = '{comp.reference}' is a control; name a method "
                              f"(one of {', '.join(compared)}) as the reference.")
        baselines = tuple(b for b in comp.baselines if b not in controls)
        confirmatory = tuple(b for b in comp.confirmatory if b not in controls)
        if (baselines, confirmatory) == (comp.baselines, comp.confirmatory):
            return comp
        return dataclasses.replace(comp, baselines=baselines, confirmatory=confirmatory)
    if not compared:
        raise ReportError("the run holds controls only; run at least one method beside them.")
    reference = "afr" if "afr" in compared else compared[0]
    return ComparisonSpec(reference=reference, baselines=tuple(m for m in compared if m != reference))
