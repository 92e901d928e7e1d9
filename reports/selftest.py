"""Statistical self-test: planted effects give the planted decisions, and every shown interval covers.

Three properties, each measured by simulation:

* power: a planted improvement of the reference method on every task is found
  (decision 'better' after Holm) by the full report pipeline, and a planted
  speed-up beyond the claim is declared;
* size: with no planted difference the crossed-t decision test and the Holm
  family reject at about alpha, and the speed-claim test declares the claim at
  most about alpha when the true ratio equals it;
* coverage: every interval the report shows (the paired effect, a method's
  mean, a per-domain effect, a speed ratio, a phase time) covers its true value
  in at least 93% of simulated runs, in seed-, domain- and residual-dominated
  scenarios at 3, 5 and 10 seeds, and with block-to-block speed drift that
  differs between methods at 3, 5 and 10 blocks. The intervals are computed by
  the report's own functions (``paired_effect``, ``mean_with_ci``,
  ``speed_ratio``, ``phase_times``); ``narrow`` shrinks them around their
  estimates, so a test can show the check fails when an interval is too short.

Run the 1,000-simulation benchmark as ``python -m reports.selftest --sims 1000``.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm import tqdm

from reports.analysis import analyse
from reports.design import cell_means, matrix
from reports.effects import mean_with_ci, paired_effect
from reports.inference import crossed_t, holm
from reports.metricinfo import MetricInfo
from reports.speed_analysis import phase_times, speed_ratio
from reports.synthetic import SYNTHETIC_METRICS, SyntheticConfig, make_run

TASKS = ("classification", "depth", "normals", "vanishing_point")
COVERAGE_FLOOR = 0.93
DOMAINS = 12
SEED_COUNTS = (3, 5, 10)
BLOCK_COUNTS = (3, 5, 10)
# standard deviations of (seed, domain, method x domain interaction, residual) per scenario: one dominates
SCENARIOS: dict[str, tuple[float, float, float, float]] = {
    "seed-dominated": (1.0, 0.2, 0.1, 0.2),
    "domain-dominated": (0.1, 1.0, 1.0, 0.2),
    "residual-dominated": (0.1, 0.2, 0.1, 1.0),
}
DELTA = MetricInfo(name="score", task="synthetic", direction="higher", transform="delta", unit="", rope=0.01,
                   primary=True)
INTERVALS = ("effect", "method mean", "per-domain effect")
SPEED_INTERVALS = ("speed ratio", "phase time")


@dataclass
class Coverage:
    scenario: str
    units: int  # seeds (quality) or blocks (speed)
    interval: str
    covered: float
    n_sims: int


def _narrowed(ci: tuple[float, float], estimate: float, narrow: float) -> tuple[float, float]:
    return estimate - narrow * (estimate - ci[0]), estimate + narrow * (ci[1] - estimate)


def _covers(ci: tuple[float, float], truth: float) -> bool:
    return bool(ci[0] <= truth <= ci[1])


def quality_coverage(scenario: str, seeds: int, n_sims: int, alpha: float = 0.05, seed: int = 0,
                     narrow: float = 1.0) -> list[Coverage]:
    """Coverage of the effect, method-mean and per-domain intervals in one variance scenario."""
    sd_seed, sd_domain, sd_inter, sd_resid = SCENARIOS[scenario]
    g = np.random.default_rng([seed, seeds, list(SCENARIOS).index(scenario)])
    hits = dict.fromkeys(INTERVALS, 0)
    delta, level = 0.3, 1.0
    domains = [f"d{j}" for j in range(DOMAINS)]
    for _ in range(n_sims):
        dom = g.normal(0, sd_domain, DOMAINS)
        inter = g.normal(0, sd_inter, (2, DOMAINS))
        a = level + delta + dom + inter[0] + g.normal(0, sd_seed, (seeds, 1)) + g.normal(0, sd_resid, (seeds, DOMAINS))
        b = level + dom + inter[1] + g.normal(0, sd_seed, (seeds, 1)) + g.normal(0, sd_resid, (seeds, DOMAINS))
        e = paired_effect(a, b, method="a", baseline="b", task="synthetic", metric=DELTA, domains=domains, alpha=alpha)
        hits["effect"] += _covers(_narrowed(e.ci, e.estimate, narrow), delta)
        m = mean_with_ci(a, method="a", task="synthetic", metric="score", alpha=alpha)
        hits["method mean"] += _covers(_narrowed(m.ci, m.mean, narrow), level + delta)
        j = int(g.integers(DOMAINS))  # one domain per run: its effect given the domain, seeds the replicates
        row = e.per_domain.iloc[j]
        hits["per-domain effect"] += _covers(_narrowed((row["ci_lo"], row["ci_hi"]), row["effect"], narrow),
                                             delta + inter[0, j] - inter[1, j])
    return [Coverage(scenario, seeds, k, v / n_sims, n_sims) for k, v in hits.items()]


def speed_timings(g: np.random.Generator, blocks: int, pairs: int, ratio: float, method_drift: float,
                  common_drift: float = 0.2, noise: float = 0.05) -> pd.DataFrame:
    """Interleaved samples of 'afr' and 'maml' in ``blocks`` fresh processes.

    Each block has a drift common to both methods and one that differs between them (sd
    ``method_drift`` on the log scale, for 'afr' only): the latter does not cancel in a pair.
    """
    rows = []
    for b in range(blocks):
        common = g.normal(0, common_drift)
        own = {"afr": g.normal(0, method_drift), "maml": 0.0}
        for p in range(pairs):
            for m, base in (("afr", 1.0 / ratio), ("maml", 1.0)):
                seconds = base * math.exp(common + own[m] + g.normal(0, noise))
                rows.append(("speed", m, 0, "meta_train_step", b, p, p, seconds, False))
    return pd.DataFrame(rows, columns=["source", "method", "seed", "phase", "block", "pair", "idx", "seconds",
                                       "warmup"])


def speed_coverage(blocks: int, n_sims: int, alpha: float = 0.05, seed: int = 0, narrow: float = 1.0,
                   pairs: int = 20, method_drift: float = 0.1) -> list[Coverage]:
    """Coverage of the speed-ratio and phase-time intervals under method-specific block drift."""
    g = np.random.default_rng([seed, blocks, 99])
    ratio = 1.4
    hits = dict.fromkeys(SPEED_INTERVALS, 0)
    for _ in range(n_sims):
        t = speed_timings(g, blocks, pairs, ratio, method_drift)
        r = speed_ratio(t, "afr", "maml", "meta_train_step", alpha)
        assert r is not None
        lo, hi = (math.exp(x) for x in _narrowed((math.log(r.ci[0]), math.log(r.ci[1])), math.log(r.ratio), narrow))
        hits["speed ratio"] += _covers((lo, hi), ratio)
        pt = phase_times(t, alpha)
        row = pt[(pt["source"] == "speed") & (pt["method"] == "maml")].iloc[0]
        lo, hi = (math.exp(x) for x in _narrowed((math.log(row["ci_lo"]), math.log(row["ci_hi"])),
                                                 math.log(row["median_s"]), narrow))
        hits["phase time"] += _covers((lo, hi), 1.0)  # the median of maml's time over processes
    return [Coverage("method-specific block drift", blocks, k, v / n_sims, n_sims) for k, v in hits.items()]


def coverage_table(n_sims: int, alpha: float = 0.05, seed: int = 0, narrow: float = 1.0,
                   progress: bool = False) -> list[Coverage]:
    """Every scenario x seeds (or blocks) x interval."""
    jobs = [(s, n) for s in SCENARIOS for n in SEED_COUNTS] + [("speed", n) for n in BLOCK_COUNTS]
    out: list[Coverage] = []
    for scenario, n in tqdm(jobs, desc="coverage scenarios", disable=not progress):
        if scenario == "speed":
            out += speed_coverage(n, n_sims, alpha, seed, narrow)
        else:
            out += quality_coverage(scenario, n, n_sims, alpha, seed, narrow)
    return out


def _null_config(seed: int, **kw: object) -> SyntheticConfig:
    base = dict(methods=("afr", "maml"), tasks=TASKS, domains=12, seeds=5, episodes=3, effects={},
                speed={"afr": 1 / 1.5}, flops_factor={}, blocks=4, pairs=8, warmup=0, curve_steps=0, seed=seed,
                sd_seed=0.02, sd_interaction=0.02)
    base.update(kw)
    return SyntheticConfig(**base)  # type: ignore[arg-type]


def planted(alpha: float = 0.05, effect: float = 0.08, seed: int = 1) -> tuple[dict, str]:
    """Full pipeline on one run with a planted improvement and a planted 2x speed-up."""
    cfg = _null_config(seed, effects={"afr": effect}, speed={"afr": 0.5},
                       comparisons={"reference": "afr", "baselines": ["maml"], "alpha": alpha, "speed_claim": 1.5})
    a = analyse(make_run(cfg), metrics=SYNTHETIC_METRICS)
    speed = next(r for r in a.speed if r.phase == "meta_train_step")
    return {e.task: e.verdict for e in a.effects}, speed.verdict


def null_rates(n_sims: int = 200, alpha: float = 0.05, seed: int = 0) -> tuple[float, float, float]:
    """Over runs with no planted difference: (single-comparison false 'better'/'worse' rate of the crossed t,
    family-wise rate under Holm over the 4 tasks, speed-claim rate at a true ratio equal to the claim)."""
    single = family = claim = 0
    for i in range(n_sims):
        run = make_run(_null_config(seed * 100_003 + i))
        means = cell_means(run.values)
        seeds = sorted(run.values["seed"].unique())
        p = []
        for task in TASKS:
            info = next(m for m in SYNTHETIC_METRICS.values() if m.task == task)
            domains = sorted(means.loc[means["task"] == task, "domain"].unique())
            d = info.effect(matrix(means, "afr", task, info.name, seeds, domains),
                            matrix(means, "maml", task, info.name, seeds, domains))
            p.append(crossed_t(d).p)
        single += sum(x < alpha for x in p)
        family += int(np.any(holm(p, alpha) < alpha))
        r = speed_ratio(run.timings, "afr", "maml", "meta_train_step", alpha)
        claim += int(r is not None and r.p_at_least(1.5) < alpha)
    return single / (n_sims * len(TASKS)), family / n_sims, claim / n_sims


def coverage_lines(rows: list[Coverage], floor: float = COVERAGE_FLOOR) -> list[str]:
    lines = ["| scenario | seeds or blocks | interval | coverage | simulations |", "| --- | --- | --- | --- | --- |"]
    for c in rows:
        flag = "" if c.covered >= floor else "  < floor"
        lines.append(f"| {c.scenario} | {c.units} | {c.interval} | {c.covered:.3f}{flag} | {c.n_sims} |")
    return lines


def floor_for(n_sims: int, floor: float = COVERAGE_FLOOR) -> float:
    """The pass line: the floor itself from 1,000 simulations up, minus two binomial SEs below that."""
    return floor if n_sims >= 1000 else floor - 2 * math.sqrt(0.95 * 0.05 / n_sims)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sims", type=int, default=1000, help="simulated runs per coverage scenario")
    parser.add_argument("--null-sims", type=int, default=200, help="simulated full runs for the size check")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    verdicts, speed = planted(alpha=args.alpha, seed=args.seed + 1)
    single, family, claim = null_rates(args.null_sims, args.alpha, args.seed)
    rows = coverage_table(args.sims, args.alpha, args.seed, progress=True)
    floor = floor_for(args.sims)
    print(f"planted improvement (afr vs maml): {verdicts}\nplanted 2x speed-up, claim 1.5x: {speed}")
    print(f"null, {args.null_sims} runs: single false decisions {single:.3f}, family-wise (Holm, 4 tasks) "
          f"{family:.3f}, speed claim at a true ratio equal to it {claim:.3f}")
    print(f"coverage of every shown {1 - args.alpha:.0%} interval (pass line {floor:.3f}):")
    print("\n".join(coverage_lines(rows, floor)))
    tol = 0.03
    ok = (all(v == "better" for v in verdicts.values()) and speed.startswith("at least")
          and max(single, family, claim) <= args.alpha + tol and all(c.covered >= floor for c in rows))
    print("self-test " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
