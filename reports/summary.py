"""summary.json: the machine-readable face of a report (the issue's contract).

Per method and task the primary metric's mean with its CI; per declared
comparison the paired effect, its CI, the Wilcoxon p, the Holm-adjusted p and
the verdict; per phase the speed ratio against each baseline with its CI
(baseline time over method time, above 1 = faster); FLOP ratios; rankings;
the failures. NaN becomes null so that any JSON reader accepts the file.

The comparison, secondary and speed entries are written from the fields that
``Effect`` and ``SpeedRatio`` declare (``reports/records.py``), the same
declarations the tables' CSV and displayed columns come from.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from reports.analysis import Analysis
from reports.learned import CONTROL, NOT_LEARNED, UNINTERPRETABLE
from reports.records import json_entries
from reports.tables import claim_rows

SCHEMA = "mtml-bench-report/1"


def _clean(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def build_summary(a: Analysis) -> dict[str, Any]:
    run = a.run
    rankings = {scope: {"mean_ranks": {m: float(v) for m, v in rk.mean_ranks.items()}, "n_blocks": rk.n_blocks,
                        "friedman_statistic": rk.friedman_stat, "friedman_p": rk.friedman_p,
                        "pairwise_wilcoxon_holm": {a_: {b: rk.pairwise_holm.loc[a_, b]
                                                        for b in rk.pairwise_holm.columns if b != a_}
                                                   for a_ in rk.pairwise_holm.index}}
                for scope, rk in a.rankings.items()}
    learned = a.learned
    summary = {
        "schema": SCHEMA,
        "not_learned": [{"task": t, "flag": NOT_LEARNED, "reason": learned.reasons[t],
                         "comparisons": UNINTERPRETABLE} for t in learned.not_learned],
        "claims": claim_rows(a),
        "confirmatory": {"decided": a.decided(), "of": len(a.confirmatory), "family_size": a.family_size},
        "learned": {"control": CONTROL, "available": learned.available,
                    "checks": [{"method": c.method, "task": c.task, "metric": c.metric,
                                "control": c.method in a.design.controls, "constant": c.control_value,
                                "value": c.method_value, "relative_reduction": c.relative_reduction,
                                "points_above": c.points_above, "effect": c.effect.estimate,
                                "ci": list(c.effect.ci), "margin": c.effect.margin, "p_wilcoxon": c.effect.p,
                                "p_holm": c.effect.p_adjusted, "p_crossed_t_holm": c.effect.p_crossed_adjusted,
                                "learned": c.learned} for c in learned.checks],
                    "adaptation_gains": [{"method": g.method, "task": g.task, "metric": g.metric,
                                          "before": g.before, "after": g.after, "effect": g.effect.estimate,
                                          "ci": list(g.effect.ci), "p_wilcoxon": g.effect.p}
                                         for g in learned.gains]},
        "convergence": [{"method": c.method, "task": c.task, "metric": c.metric, "start_step": c.start_step,
                         "end_step": c.end_step, "start": c.start_value, "end": c.end_value,
                         "improvement": c.improvement, "margin": c.margin, "n_pairs": c.n_pairs, "p": c.p,
                         "p_holm": c.p_holm, "verdict": c.verdict} for c in a.convergence],
        "equal_compute": _equal_compute(a),
        "run": {"store": str(run.path), "suite": run.manifest.get("suite"), "spec_hash": run.manifest.get("spec_hash"),
                "split_hash": run.manifest.get("split_hash"), "environment": run.manifest.get("environment")},
        "protocol": {"alpha": a.alpha, "reference": a.comparisons.reference,
                     "baselines": list(a.comparisons.baselines), "speed_claim": a.comparisons.speed_claim,
                     "speed_claim_phases": list(a.comparisons.speed_claim_phases),
                     "confirmatory_baselines": list(a.comparisons.family_baselines),
                     "family_size": a.family_size, "decided": a.decided(), "of": len(a.confirmatory),
                     "ci": "crossed seed x domain t (Satterthwaite df); speed: t over blocks",
                     "power": "detectable effect at 80% power, alpha / family size (Holm's first step)"},
        "design": {"methods": a.design.methods, "controls": a.design.controls, "seeds": a.design.seeds,
                   "tasks": a.design.tasks,
                   "domains": a.design.domains, "excluded_methods": a.design.excluded_methods,
                   "excluded_seeds": a.design.excluded_seeds},
        "means": [{"method": m.method, "task": m.task, "metric": m.metric, "mean": m.mean, "ci": list(m.ci),
                   "se": m.se, "n_seeds": m.n_seeds, "n_domains": m.n_domains} for m in a.method_means],
        "comparisons": json_entries(a.effects),
        "secondary": json_entries(a.secondary),
        "sensitivity": json_entries(a.sensitivity),
        "speed": json_entries(a.speed),
        "flops": a.flops,
        "rankings": rankings,
        "failures": [{"kind": "cell", **f} for f in a.design.failures]
        + [{"kind": "speed_block", **f} for f in run.speed_failures],
        "notes": a.notes,
    }
    if not a.scaling.empty:  # a scaling study (reports/scaling.py): its rows and where the speed claim holds
        summary["scaling"] = {"rows": a.scaling.to_dict("records"),
                              "claims": a.scaling_claims}
    return _clean(summary)


def _equal_compute(a: Analysis) -> dict[str, Any] | None:
    """Time-to-target per task and method (reports/compute.py); None when the run has no learning curves."""
    ec = a.compute
    if ec is None:
        return None
    return {"fraction": ec.fraction,
            "definition": "target = step-0 value + fraction x (final - step-0 value) of the method whose seed-mean "
                          "meta-val curve ends best; per seed, the first checkpoint at or past it; medians over the "
                          "seeds that reached it (null when none did); seconds = cumulative meta_train_step phase "
                          "time, flops = steps x FLOPs of one meta-train step",
            "targets": [{"task": g.task, "metric": g.metric, "direction": g.direction, "best_method": g.best_method,
                         "start": g.start, "final": g.final, "level": g.level} for g in ec.targets.values()],
            "time_to_target": [{"method": t.method, "task": t.task, "metric": t.metric, "final": t.final,
                                "n_seeds": t.n_seeds, "n_reached": t.n_reached, "reached": t.reached,
                                "median_step": t.step, "median_seconds": t.seconds, "median_flops": t.flops,
                                "per_seed": t.per_seed} for t in ec.times]}


def write_summary(a: Analysis, path: Path) -> Path:
    path.write_text(json.dumps(build_summary(a), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return path
