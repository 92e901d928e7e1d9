"""Statistical self-test: synthetic runs with planted effects must give the planted verdicts.

Two properties are checked, on the same generating model the synthetic stores
use (``reports.synthetic``):

* power: a planted improvement of the reference method on every task is found
  (verdict 'better' after Holm) by the full report pipeline, and a planted
  speed-up beyond the claim is declared;
* size: with no planted difference, over many simulated runs, the per-comparison
  Wilcoxon rejection rate and the family-wise (Holm) rejection rate stay near
  alpha, the speed-claim test rejects at most about alpha when the true ratio
  equals the claim, and the crossed-bootstrap CI covers the true effect.

Run it as ``python -m reports.selftest``; the tests run a smaller version.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import numpy as np

from reports import bootstrap
from reports.analysis import analyse
from reports.design import cell_means, matrix
from reports.inference import crossed_t, holm, wilcoxon_p
from reports.speed_analysis import speed_ratio
from reports.synthetic import SYNTHETIC_METRICS, SyntheticConfig, make_run

TASKS = ("classification", "depth", "normals", "vanishing_point")


@dataclass
class SelfTestResult:
    alpha: float
    n_sims: int
    planted_verdicts: dict[str, str]  # task -> verdict of afr vs maml under a planted improvement
    planted_speed_verdict: str
    comparison_rate: float  # null: share of single comparisons the verdict rule calls better/worse
    familywise_rate: float  # null: share of runs where Holm gives a better/worse verdict on any of the 4 tasks
    wilcoxon_only_rate: float  # null: share of single Wilcoxon tests over domains with p < alpha (diagnostic)
    speed_claim_rate: float  # true ratio == claim: share of runs declaring the claim
    coverage: float  # share of crossed-bootstrap 95% CIs covering the true effect

    def passed(self, tolerance: float = 0.03) -> bool:
        return (all(v == "better" for v in self.planted_verdicts.values())
                and self.planted_speed_verdict.startswith("at least")
                and self.comparison_rate <= self.alpha + tolerance
                and self.familywise_rate <= self.alpha + tolerance
                and self.speed_claim_rate <= self.alpha + tolerance
                and self.coverage >= 0.95 - 3 * tolerance)

    def lines(self) -> list[str]:
        return [f"planted improvement (afr vs maml): {self.planted_verdicts}",
                f"planted 2x speed-up, claim 1.5x: {self.planted_speed_verdict}",
                f"null, {self.n_sims} simulated runs, alpha {self.alpha:g}:",
                f"  single-comparison false verdicts (better/worse) {self.comparison_rate:.3f}",
                f"  family-wise false verdicts (Holm over {len(TASKS)} tasks) {self.familywise_rate:.3f}",
                f"  diagnostic: Wilcoxon over domains alone rejects {self.wilcoxon_only_rate:.3f} "
                "(it conditions on the training seeds)",
                f"  speed claim declared when the true ratio equals the claim: {self.speed_claim_rate:.3f}",
                f"  crossed-bootstrap 95% CI coverage of the true effect: {self.coverage:.3f}"]


def _null_config(seed: int, **kw: object) -> SyntheticConfig:
    base = dict(methods=("afr", "maml"), tasks=TASKS, domains=12, seeds=5, episodes=3, effects={},
                speed={"afr": 1 / 1.5}, flops_factor={}, blocks=4, pairs=8, warmup=0, curve_steps=0, seed=seed,
                sd_seed=0.02, sd_interaction=0.02)
    base.update(kw)
    return SyntheticConfig(**base)  # type: ignore[arg-type]


def planted(alpha: float = 0.05, effect: float = 0.08, seed: int = 1, n_resamples: int = 2000) -> tuple[dict, str]:
    """Full pipeline on one run with a planted improvement and a planted 2x speed-up."""
    cfg = _null_config(seed, effects={"afr": effect}, speed={"afr": 0.5},
                       comparisons={"reference": "afr", "baselines": ["maml"], "alpha": alpha, "speed_claim": 1.5})
    a = analyse(make_run(cfg), metrics=SYNTHETIC_METRICS, n_resamples=n_resamples)
    speed = next(r for r in a.speed if r.phase == "meta_train_step")
    return {e.task: e.verdict for e in a.effects}, speed.verdict


def null_rates(n_sims: int = 200, alpha: float = 0.05, seed: int = 0,
               n_resamples: int = 400) -> tuple[float, float, float, float, float]:
    """Over runs with no planted difference: (single-comparison false-verdict rate, family-wise rate,
    Wilcoxon-only rate, speed-claim rate at a true ratio equal to the claim, CI coverage)."""
    gen = bootstrap.rng(seed)
    single = family = wilcoxon_only = claim = covered = 0
    n_single = 0
    for i in range(n_sims):
        single_i, family_i, wilcoxon_i, claim_i, covered_i = _one_null_run(seed * 100_003 + i, alpha, gen, n_resamples)
        single += single_i
        family += family_i
        wilcoxon_only += wilcoxon_i
        claim += claim_i
        covered += covered_i
        n_single += len(TASKS)
    return single / n_single, family / n_sims, wilcoxon_only / n_single, claim / n_sims, covered / n_sims


def _one_null_run(sim_seed: int, alpha: float, gen: np.random.Generator,
                  n_resamples: int) -> tuple[int, int, int, int, int]:
    run = make_run(_null_config(sim_seed))
    means = cell_means(run.values)
    seeds = sorted(run.values["seed"].unique())
    p_w, p_t = [], []
    covered = 0
    for task in TASKS:
        info = next(m for m in SYNTHETIC_METRICS.values() if m.task == task)
        domains = sorted(means.loc[means["task"] == task, "domain"].unique())
        d = info.effect(matrix(means, "afr", task, info.name, seeds, domains),
                        matrix(means, "maml", task, info.name, seeds, domains))
        p_w.append(wilcoxon_p(d.mean(axis=0)))
        p_t.append(crossed_t(d).p)
        if task == "depth":  # coverage on a log-ratio task (delta tasks can clip at 0/1)
            lo, hi = bootstrap.percentile_ci(bootstrap.crossed_means(d, gen, n_resamples))
            covered = int(lo <= 0.0 <= hi)
    single = sum(w < alpha and t < alpha for w, t in zip(p_w, p_t, strict=True))
    wilcoxon_only = sum(w < alpha for w in p_w)
    family = int(np.any((holm(p_w, alpha) < alpha) & (holm(p_t, alpha) < alpha)))
    r = speed_ratio(run.timings, "afr", "maml", "meta_train_step", alpha, gen, n_resamples)
    claim = int(r is not None and r.p_at_least(1.5) < alpha)
    return single, family, wilcoxon_only, claim, covered


def run_selftest(n_sims: int = 200, alpha: float = 0.05, seed: int = 0) -> SelfTestResult:
    verdicts, speed = planted(alpha=alpha, seed=seed + 1)
    rates = null_rates(n_sims=n_sims, alpha=alpha, seed=seed)
    return SelfTestResult(alpha, n_sims, verdicts, speed, *rates)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sims", type=int, default=400)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    result = run_selftest(args.sims, args.alpha, args.seed)
    print("\n".join(result.lines()))
    ok = result.passed()
    print("self-test " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
