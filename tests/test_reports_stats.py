"""Unit tests of the report's statistics: design check, effects, bootstrap, tests, speed ratios."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from reports import bootstrap
from reports.analysis import analyse
from reports.design import check_design, impute_failures
from reports.effects import paired_effect
from reports.errors import DesignError, HarnessError
from reports.inference import crossed_t, decide, decision_p, holm, min_wilcoxon_p, rank_methods, wilcoxon_p
from reports.metricinfo import MetricInfo
from reports.speed_analysis import speed_ratio
from reports.synthetic import SYNTHETIC_METRICS, SyntheticConfig, make_run

ACC = SYNTHETIC_METRICS["accuracy"]
ABS_REL = SYNTHETIC_METRICS["abs_rel"]


def test_effect_is_positive_when_the_method_is_better_for_both_directions():
    # accuracy: higher is better, plain difference
    assert ACC.effect([0.7], [0.6])[0] == pytest.approx(0.1)
    # abs_rel: lower is better, log-ratio: error 0.2 vs 0.25 is log(1.25) better
    assert ABS_REL.effect([0.2], [0.25])[0] == pytest.approx(math.log(1.25))
    assert ABS_REL.effect([0.25], [0.2])[0] < 0
    assert ABS_REL.margin == pytest.approx(math.log1p(0.01))
    assert ACC.margin == pytest.approx(0.005)


def test_bad_metric_description_is_rejected():
    with pytest.raises(ValueError, match="direction"):
        MetricInfo("x", "depth", "up", "delta", 0.1)


def test_crossed_bootstrap_resamples_whole_seeds_and_domains():
    gen = bootstrap.rng(1)
    # a constant row offset: resampling cells independently would shrink its variance, whole rows keep it
    m = np.array([[0.0] * 10, [1.0] * 10, [2.0] * 10])
    boots = bootstrap.crossed_means(m, gen, 4000)
    row_means = m.mean(axis=1)
    expected_sd = np.std(row_means) / math.sqrt(3)  # bootstrap sd of a mean of 3 resampled rows
    assert np.std(boots) == pytest.approx(expected_sd, rel=0.08)
    # with no between-row spread the row resampling adds nothing
    flat = np.tile(np.arange(10.0), (3, 1))
    assert np.std(bootstrap.crossed_means(flat, gen, 4000)) == pytest.approx(np.std(np.arange(10.0)) / math.sqrt(10),
                                                                              rel=0.08)


def test_bootstrap_is_reproducible_from_its_seed():
    m = np.random.default_rng(0).normal(size=(4, 7))
    a = bootstrap.crossed_means(m, bootstrap.rng(5), 500)
    b = bootstrap.crossed_means(m, bootstrap.rng(5), 500)
    assert np.array_equal(a, b)


def test_nested_bootstrap_resamples_blocks_first():
    gen = bootstrap.rng(2)
    blocks = [np.full(20, 0.0), np.full(20, 1.0)]  # all variation is between blocks
    boots = bootstrap.nested_means(blocks, gen, 4000)
    assert set(np.round(np.unique(boots), 6)) == {0.0, 0.5, 1.0}


def test_wilcoxon_matches_scipy_with_pratt_and_handles_all_zero():
    d = np.array([0.3, -0.1, 0.2, 0.0, 0.5, 0.4, -0.05])
    assert wilcoxon_p(d) == pytest.approx(stats.wilcoxon(d, zero_method="pratt").pvalue)
    assert wilcoxon_p(np.zeros(6)) == 1.0
    assert math.isnan(wilcoxon_p([0.1]))
    assert min_wilcoxon_p(5) == pytest.approx(0.0625)
    assert wilcoxon_p(np.arange(1, 6)) == pytest.approx(0.0625)


def test_holm_keeps_nan_out_of_the_family():
    adj = holm([0.01, float("nan"), 0.04], alpha=0.05)
    assert adj[0] == pytest.approx(0.02) and adj[2] == pytest.approx(0.04)
    assert math.isnan(adj[1])


@pytest.mark.parametrize(("sd_seed", "n_seeds", "n_domains"), [(0.02, 5, 12), (0.05, 3, 6)])
def test_crossed_t_keeps_its_size_when_seeds_shift_every_domain(sd_seed, n_seeds, n_domains):
    g = np.random.default_rng(3)
    rejections = wilcoxon_rejections = 0
    n = 600
    for _ in range(n):
        d = (g.normal(0, sd_seed, (n_seeds, 1)) + g.normal(0, 0.02, (1, n_domains))
             + g.normal(0, 0.02, (n_seeds, n_domains)))
        rejections += crossed_t(d).p < 0.05
        wilcoxon_rejections += wilcoxon_p(d.mean(axis=0)) < 0.05
    assert rejections / n <= 0.08
    assert wilcoxon_rejections / n > 0.10  # the reason the crossed test exists: Wilcoxon conditions on seeds


def test_crossed_t_detects_a_real_effect():
    g = np.random.default_rng(4)
    d = 0.05 + g.normal(0, 0.01, (5, 1)) + g.normal(0, 0.02, (5, 12))
    res = crossed_t(d)
    assert res.p < 0.01 and res.lower(0.05) > 0 and res.df > 1


@pytest.mark.parametrize(("estimate", "p_diff", "p_equiv", "p_adjusted", "expected"), [
    (0.1, 0.001, 0.9, 0.004, "better"),
    (-0.1, 0.001, 0.9, 0.004, "worse"),
    (0.001, 0.6, 0.002, 0.008, "equivalent"),  # TOST inside the family
    (0.1, 0.001, 0.9, 0.06, "undecided"),  # rejected alone, not after the family's adjustment
    (0.0, 0.9, 0.3, 0.9, "undecided"),
])
def test_decisions(estimate, p_diff, p_equiv, p_adjusted, expected):
    assert decide(estimate, p_diff, p_equiv, p_adjusted, 0.05) == expected
    assert decision_p(p_diff, p_equiv) == min(p_diff, p_equiv)


def test_tost_declares_equivalence_only_inside_the_margin():
    g = np.random.default_rng(2)
    d = 0.001 + g.normal(0, 0.002, (5, 1)) + g.normal(0, 0.002, (5, 12))
    assert crossed_t(d).p_equivalent(0.01) < 0.01  # tight around zero, margin 0.01
    assert crossed_t(d + 0.02).p_equivalent(0.01) > 0.5  # the same spread beyond the margin


def test_paired_effect_recovers_a_planted_improvement():
    run = make_run(SyntheticConfig(methods=("afr", "maml"), tasks=("depth",), domains=12, seeds=5,
                                   effects={"afr": 0.08}, seed=3))
    means = run.values.groupby(["method", "seed", "domain"])["value"].mean().unstack("domain")
    eff = paired_effect(means.loc["afr"].to_numpy(), means.loc["maml"].to_numpy(), method="afr", baseline="maml",
                        task="depth", metric=ABS_REL, domains=list(means.columns), alpha=0.05)
    assert eff.ci[0] < 0.08 < eff.ci[1]
    assert eff.estimate == pytest.approx(0.08, abs=0.03)
    assert eff.p < 0.001 and eff.wins >= 10
    assert len(eff.per_domain) == 12 and eff.n_seeds == 5


def test_design_check_lists_missing_cells():
    run = make_run(SyntheticConfig(methods=("afr", "maml"), domains=3, seeds=3, missing=[("maml", 1)]))
    with pytest.raises(DesignError) as err:
        check_design(run)
    assert err.value.exit_code == 3
    assert {"method": "maml", "seed": 1, "what": "cell never ran"} in err.value.missing
    assert "maml" in str(err.value) and "seed=1" in str(err.value)


def test_design_check_lists_missing_episode_values():
    run = make_run(SyntheticConfig(methods=("afr", "maml"), domains=3, seeds=2))
    drop = run.values[(run.values["method"] == "afr") & (run.values["seed"] == 0)
                      & (run.values["domain"] == "dep-d01")].index
    run.values = run.values.drop(drop).reset_index(drop=True)
    with pytest.raises(DesignError) as err:
        check_design(run)
    assert any(m.get("domain") == "dep-d01" and m.get("method") == "afr" for m in err.value.missing)


def test_failed_cells_are_listed_and_their_seed_left_out_of_the_complete_cases():
    run = make_run(SyntheticConfig(methods=("afr", "maml"), domains=3, seeds=3,
                                   failed=[("maml", 2, "NaN loss at step 7")]))
    design = check_design(run)
    assert design.failures == [{"method": "maml", "seed": 2, "reason": "NaN loss at step 7"}]
    assert design.seeds == [0, 1] and design.excluded_seeds == [2]
    assert set(design.values["seed"]) == {0, 1}
    assert design.failed_cells == [("maml", 2)] and design.all_seeds == [0, 1, 2]


def test_a_failing_method_is_not_rewarded():
    """maml fails on the seed where it would have done worst. Dropping that seed (the old rule) makes maml look
    better than its completed run; the worst-observed-value rule scores the failure below every run maml finished."""
    cfg = dict(methods=("afr", "maml"), tasks=("depth",), domains=8, seeds=5, sd_seed=0.3, seed=5)
    full = make_run(SyntheticConfig(**cfg))
    maml = full.values[(full.values["method"] == "maml")].groupby("seed")["value"].mean()
    worst_seed = int(maml.idxmax())  # abs_rel: lower is better, so the largest mean error
    failed = make_run(SyntheticConfig(**cfg, failed=[("maml", worst_seed, "diverged")]))
    a = analyse(failed, metrics=SYNTHETIC_METRICS)
    imputed, dropped = a.confirmatory[0], a.sensitivity[0]  # positive effect = afr better than maml
    assert dropped.family == "sensitivity" and imputed.n_seeds == 5 and dropped.n_seeds == 4
    assert dropped.estimate < analyse(full, metrics=SYNTHETIC_METRICS).confirmatory[0].estimate  # old rule rewards

    def finished_instead_with(seed: int) -> float:  # maml's failed seed replaced by one of its finished runs
        copy = failed.values[(failed.values["method"] == "maml") & (failed.values["seed"] == seed)]
        run = make_run(SyntheticConfig(**cfg, failed=[("maml", worst_seed, "diverged")]))
        run.values = pd.concat([run.values, copy.assign(seed=worst_seed)], ignore_index=True)
        run.cells = run.cells.assign(status="done", reason=None)
        return analyse(run, metrics=SYNTHETIC_METRICS).confirmatory[0].estimate

    assert imputed.estimate >= max(finished_instead_with(s) for s in range(5) if s != worst_seed)
    filled = impute_failures(a.design, {"abs_rel": True})[0]
    cell = filled[(filled["method"] == "maml") & (filled["seed"] == worst_seed)]
    observed = failed.values.groupby(["domain", "episode"])["value"].max()
    assert cell.set_index(["domain", "episode"])["value"].sort_index().equals(observed.sort_index().rename("value"))


def test_non_finite_metric_values_are_a_harness_error():
    run = make_run(SyntheticConfig(methods=("afr", "maml"), domains=3, seeds=2, inf_values=[("afr", 0)]))
    with pytest.raises(HarnessError) as err:
        check_design(run)
    assert err.value.exit_code == 4


def test_speed_ratio_is_paired_and_ignores_warmup():
    run = make_run(SyntheticConfig(methods=("afr", "maml"), speed={"afr": 1 / 1.8}, blocks=4, pairs=12, warmup=3))
    t = run.timings.copy()
    # make warm-up samples absurd: if they leaked in, the ratio would move far from 1.8
    t.loc[t["warmup"] & (t["method"] == "afr"), "seconds"] *= 100
    r = speed_ratio(t, "afr", "maml", "meta_train_step", 0.05)
    assert r is not None and r.paired
    assert r.ratio == pytest.approx(1.8, rel=0.03)
    assert r.ci[0] < 1.8 < r.ci[1]
    assert r.n_pairs == 4 * 12 and r.n_blocks == 4
    assert r.p_at_least(1.5) < 0.01 and r.p_at_least(2.2) > 0.5


def test_speed_ratio_falls_back_to_unpaired_cell_timings():
    run = make_run(SyntheticConfig(methods=("afr", "maml"), speed={"afr": 0.5}, speed_section=False))
    r = speed_ratio(run.timings, "afr", "maml", "adapt", 0.05)
    assert r is not None and not r.paired
    assert r.ratio == pytest.approx(2.0, rel=0.1)


def test_ranking_uses_friedman_and_holm_adjusted_pairwise_wilcoxon():
    g = np.random.default_rng(0)
    scores = pd.DataFrame({"a": g.normal(1.0, 0.1, 20), "b": g.normal(0.0, 0.1, 20), "c": g.normal(0.0, 0.1, 20)})
    rk = rank_methods(scores, 0.05)
    assert list(rk.mean_ranks.index)[0] == "a"
    assert rk.friedman_p < 0.001
    assert rk.different("a", "b", 0.05) and not rk.different("b", "c", 0.05)
    raw = stats.wilcoxon(scores["a"] - scores["b"], zero_method="pratt").pvalue
    assert rk.pairwise_p.loc["a", "b"] == pytest.approx(raw)
    assert rk.pairwise_holm.loc["a", "b"] >= rk.pairwise_p.loc["a", "b"]


def test_analysis_declared_family_and_verdicts():
    cfg = SyntheticConfig(methods=("afr", "maml", "fomaml"), domains=12, seeds=5, effects={"afr": 0.06},
                          speed={"afr": 0.5, "fomaml": 0.9}, seed=11)
    a = analyse(make_run(cfg), metrics=SYNTHETIC_METRICS)
    assert len(a.effects) == 2 * 4  # 2 baselines x 4 tasks, primary metrics only
    assert {e.baseline for e in a.confirmatory} == {"maml"} and {e.baseline for e in a.exploratory} == {"fomaml"}
    assert a.family_size == 5 and a.decided() == 4  # 4 quality comparisons + the speed claim against maml
    assert {e.verdict for e in a.effects} == {"better"}
    assert all(e.mde > 0 for e in a.effects)
    claims = [r for r in a.speed if r.claim is not None]
    assert {(r.baseline, r.phase) for r in claims} == {("maml", "meta_train_step")}
    assert all(r.verdict == "at least 1.5x faster" for r in claims)
    ratios = {(r.baseline, r.phase): r.ratio for r in a.speed}
    assert ratios[("fomaml", "adapt")] == pytest.approx(0.9 / 0.5, rel=0.05)
    flops = {(f["baseline"], f["phase"]): f["flop_ratio"] for f in a.flops}
    assert flops[("maml", "meta_train_step")] == pytest.approx(2.0)
    assert a.rankings["all tasks"].mean_ranks.index[0] == "afr"


def test_the_family_size_comes_from_the_spec():
    comps = {"reference": "afr", "baselines": ["maml", "fomaml"], "confirmatory": ["maml", "fomaml"]}
    cfg = SyntheticConfig(methods=("afr", "maml", "fomaml"), domains=6, seeds=3, comparisons=comps, seed=2)
    a = analyse(make_run(cfg), metrics=SYNTHETIC_METRICS)
    assert a.family_size == 2 * 4 + 2 and not a.exploratory
    small = analyse(make_run(SyntheticConfig(methods=("afr", "maml", "fomaml"), domains=6, seeds=3, seed=2,
                                             comparisons={**comps, "confirmatory": ["fomaml"]})),
                    metrics=SYNTHETIC_METRICS)
    assert small.family_size == 5 and {e.baseline for e in small.confirmatory} == {"fomaml"}


def test_design_check_knows_the_declared_held_out_domains():
    run = make_run(SyntheticConfig(methods=("afr", "maml"), tasks=("depth",), domains=3, seeds=2))
    run.manifest["test_domains"] = {"depth": ["dep-d00", "dep-d01", "dep-d02", "dep-d03"]}
    with pytest.raises(DesignError) as err:
        check_design(run)
    assert err.value.missing == [{"task": "depth", "domain": "dep-d03", "what": "held-out domain with no values"}]


def test_one_speed_block_never_declares_a_speed_claim():
    run = make_run(SyntheticConfig(methods=("afr", "maml"), speed={"afr": 1 / 1.8}, blocks=1, pairs=12, warmup=3))
    r = speed_ratio(run.timings, "afr", "maml", "meta_train_step", 0.05)
    assert r is not None and r.n_blocks == 1 and r.ratio > 1.5
    assert r.p_at_least(1.5) == 1.0  # a point estimate alone proves nothing
