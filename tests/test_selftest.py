"""Statistical self-test: planted effects are found, no difference gives no decision more often than alpha,
and the intervals the report shows cover (a small version of ``python -m reports.selftest --sims 1000``)."""

from __future__ import annotations

import pytest

from reports.selftest import (
    TASKS,
    coverage_table,
    floor_for,
    null_rates,
    planted,
    quality_coverage,
    speed_coverage,
)

SIMS = 150


def test_planted_improvement_and_speed_up_are_found():
    verdicts, speed = planted(alpha=0.05, effect=0.08, seed=1)
    assert verdicts == {t: "better" for t in TASKS}
    assert speed == "at least 1.5x faster"


def test_no_difference_keeps_false_decisions_at_the_nominal_rate():
    single, family, claim = null_rates(n_sims=120, alpha=0.05, seed=0)
    assert single <= 0.08  # per comparison, over 480 comparisons
    # 120 runs: nominal 0.05 plus 2.3 binomial standard errors (0.02); an anti-conservative test fails
    assert family <= 0.10  # Holm over the 4 tasks
    assert claim <= 0.10  # true speed ratio equal to the claimed 1.5x


@pytest.mark.parametrize(("scenario", "seeds"), [("seed-dominated", 3), ("domain-dominated", 5),
                                                 ("residual-dominated", 10)])
def test_quality_intervals_cover(scenario: str, seeds: int):
    rows = quality_coverage(scenario, seeds, SIMS)
    assert {c.interval for c in rows} == {"effect", "method mean", "per-domain effect"}
    assert all(c.covered >= floor_for(SIMS) for c in rows), rows


def test_speed_intervals_cover_when_drift_differs_between_methods():
    rows = speed_coverage(3, SIMS)
    assert all(c.covered >= floor_for(SIMS) for c in rows), rows


def test_the_coverage_check_fails_when_the_intervals_are_narrowed():
    """Shrunk to 60% of their width, the same intervals fall below the pass line: the check can fail."""
    rows = coverage_table(40, narrow=0.6)
    assert any(c.covered < floor_for(40) for c in rows)
    worst = min(quality_coverage("seed-dominated", 3, SIMS, narrow=0.6), key=lambda c: c.covered)
    assert worst.covered < floor_for(SIMS)
