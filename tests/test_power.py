"""Power: the detectable effect the report states is the one a direct simulation detects 80% of the time,
and ``mtml-bench plan`` turns it into designs."""

from __future__ import annotations

import numpy as np
import pytest

from bench.cli import main
from reports.analysis import analyse
from reports.inference import crossed_t
from reports.power import Components, components, detectable_effect
from reports.synthetic import SYNTHETIC_METRICS, SyntheticConfig, make_run, write_run

ALPHA, FAMILY = 0.05, 5  # the confirmatory family: 4 tasks + the speed claim
SEEDS, DOMAINS, EPISODES = 12, 20, 4
SD = {"sd_seed": 0.03, "sd_interaction": 0.03, "sd_noise": 0.06}


def _true_components() -> Components:
    """What the synthetic model plants for a paired effect: each method draws its own seed shift, domain
    interaction and episode noise, so every component of the difference is twice the per-method one."""
    return Components(seed=2 * SD["sd_seed"] ** 2, domain=2 * SD["sd_interaction"] ** 2, interaction=0.0,
                      episode=2 * SD["sd_noise"] ** 2, episodes=EPISODES)


def _simulated_power(effect: float, c: Components, n_sims: int, seed: int) -> float:
    g = np.random.default_rng(seed)
    hits = 0
    for _ in range(n_sims):
        d = (effect + g.normal(0, np.sqrt(c.seed), (SEEDS, 1)) + g.normal(0, np.sqrt(c.domain), (1, DOMAINS))
             + g.normal(0, np.sqrt(c.residual()), (SEEDS, DOMAINS)))
        hits += crossed_t(d).p < ALPHA / FAMILY
    return hits / n_sims


def test_the_detectable_effect_is_detected_80_percent_of_the_time():
    c = _true_components()
    mde = detectable_effect(c, SEEDS, DOMAINS, EPISODES, ALPHA, FAMILY)
    assert 0.75 <= _simulated_power(mde, c, 600, seed=1) <= 0.86
    assert _simulated_power(mde / 2, c, 300, seed=2) < 0.45  # half of it is not: the check can fail


def test_a_planted_store_reports_the_detectable_effect_of_its_components():
    """The report estimates the components from one run; over a few planted runs its stated detectable
    effect centres on the one the planted components give (one run's estimate varies by about 25%)."""
    stated = []
    for seed in range(5):
        cfg = SyntheticConfig(methods=("afr", "maml"), tasks=("depth",), domains=DOMAINS, seeds=SEEDS,
                              episodes=EPISODES, seed=seed, **SD)
        a = analyse(make_run(cfg), metrics=SYNTHETIC_METRICS)
        assert a.family_size == 2  # one task + its speed claim
        e = a.confirmatory[0]
        assert e.components.episodes == EPISODES
        stated.append(e.mde)
    truth = detectable_effect(_true_components(), SEEDS, DOMAINS, EPISODES, ALPHA, 2)
    assert float(np.mean(stated)) == pytest.approx(truth, rel=0.15)


def test_components_recover_planted_variances():
    g = np.random.default_rng(3)
    fits = [components(g.normal(0, 0.5, (10, 1)) + g.normal(0, 0.2, (1, 20)) + g.normal(0, 0.1, (10, 20)))
            for _ in range(40)]
    assert np.mean([c.seed for c in fits]) == pytest.approx(0.25, rel=0.15)
    assert np.mean([c.domain for c in fits]) == pytest.approx(0.04, rel=0.15)
    assert np.mean([c.residual() for c in fits]) == pytest.approx(0.01, rel=0.05)


def test_plan_of_a_run_lists_designs_and_the_cheapest_one(tmp_path, capsys):
    run = write_run(SyntheticConfig(methods=("afr", "maml"), domains=6, seeds=3, seed=4), tmp_path / "run")
    assert main(["plan", str(run), "--target", "20"]) == 0
    out = capsys.readouterr().out
    assert "seed" in out and "3 seeds x 6 domains x 4 episodes" in out
    assert "cheapest listed design reaching the target" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["plan", "smoke", "--target", "0"], "--target 0.0 must be a positive multiple"),
    (["plan", "no-such-spec"], "no-such-spec"),
])
def test_plan_bad_input_is_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
