"""Statistical self-test: planted effects are found, no difference gives no verdict more often than alpha."""

from __future__ import annotations

from reports.selftest import TASKS, null_rates, planted


def test_planted_improvement_and_speed_up_are_found():
    verdicts, speed = planted(alpha=0.05, effect=0.08, seed=1, n_resamples=1000)
    assert verdicts == {t: "better" for t in TASKS}
    assert speed == "at least 1.5x faster"


def test_no_difference_keeps_false_verdicts_at_the_nominal_rate():
    single, family, wilcoxon_only, claim, coverage = null_rates(n_sims=200, alpha=0.05, seed=0, n_resamples=300)
    assert single <= 0.08  # per comparison, over 800 comparisons
    assert family <= 0.08  # Holm over the 4 tasks, over 200 runs
    assert claim <= 0.08  # true speed ratio equal to the claimed 1.5x
    assert coverage >= 0.85  # nominal 95%, 5 seeds: percentile bootstrap undercovers slightly
    # the model has real seed-level training noise: a test that ignores it must show it
    assert wilcoxon_only > 0.1
