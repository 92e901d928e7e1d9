""""Is each task learned?" and the convergence check, on planted stores in the real schema."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reports.analysis import analyse
from reports.convergence import WARNING, check_convergence, last_quarter
from reports.learned import NOT_LEARNED, UNINTERPRETABLE
from reports.load import load_run
from reports.metricinfo import registry_metrics
from reports.render import not_learned_flags
from reports.report import build_report
from reports.summary import build_summary
from reports.synthetic import SCALE, SyntheticConfig, make_run, write_run

TASKS = ("classification", "depth", "normals", "vanishing_point")
PRIMARY = {m.task: m for m in registry_metrics(["accuracy", "abs_rel", "normals_mean_angle", "vp_mean_angle"]).values()}


def _config(afr_depth: float, improving: tuple[str, ...] = ()) -> SyntheticConfig:
    # constant is the control (no planted effect); maml beats it everywhere; afr beats it on every task
    # but depth, where it plants ``afr_depth``
    # (0.3 on classification keeps the planted accuracies below 1, where the synthetic model clips)
    effects = {"afr": {t: (afr_depth if t == "depth" else 0.3 if t == "classification" else 0.6) for t in TASKS},
               "maml": {t: 0.3 if t == "classification" else 0.6 for t in TASKS}, "constant": 0.0}
    return SyntheticConfig(methods=("afr", "maml", "constant"), domains=12, seeds=3, episodes=2, effects=effects,
                           controls=("constant",), comparisons={"reference": "afr", "baselines": ["maml"]},
                           val_curve_points=9, improving=improving, seed=11)


@pytest.fixture(scope="module")
def flagged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_report(write_run(_config(afr_depth=0.0), tmp_path_factory.mktemp("flagged")))


def test_not_learned_flag_opens_every_report_when_a_method_equals_constant(flagged: Path) -> None:
    out = flagged.parent
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary)[:2] == ["schema", "not_learned"]
    assert [f["task"] for f in summary["not_learned"]] == ["depth"]
    assert "afr" in summary["not_learned"][0]["reason"]
    html = (out / "index.html").read_text()
    assert html.index(f"{NOT_LEARNED}: depth") < html.index("<dl class=\"meta\">")  # above everything else
    md = (out / "report.md").read_text().splitlines()
    assert md[2].startswith(f"**{NOT_LEARNED}: depth")
    depth = [c for c in summary["comparisons"] if c["task"] == "depth"]
    assert depth and all(c["verdict"] == UNINTERPRETABLE for c in depth)
    assert all(c["verdict"] != UNINTERPRETABLE for c in summary["comparisons"] if c["task"] != "depth")
    checks = {(c["method"], c["task"]): c for c in summary["learned"]["checks"]}
    assert not checks[("afr", "depth")]["learned"] and checks[("maml", "depth")]["learned"]
    assert ("constant", "depth") not in checks


def test_no_flag_when_every_declared_method_beats_constant() -> None:
    a = analyse(make_run(_config(afr_depth=0.6)))
    assert a.learned.not_learned == [] and not_learned_flags(a) == []
    assert build_summary(a)["not_learned"] == []
    assert all(c.learned for c in a.learned.checks)
    assert all(e.verdict != UNINTERPRETABLE for e in a.effects)
    # the relative reduction is what the planted effect gives: 1 - exp(-0.6) for log-ratio errors
    depth = a.learned.check("maml", "depth")
    assert depth is not None and depth.relative_reduction == pytest.approx(1 - np.exp(-0.6), abs=0.08)


@pytest.mark.parametrize("domains", [3, 8])
def test_few_held_out_domains_can_still_show_a_task_learned(domains: int) -> None:
    # smoke holds out 3 domains per task, standard 8 for classification: an exact signed-rank test on so few
    # domains cannot reach alpha after Holm, so it must not decide; the crossed t-test can, with a large effect
    config = dataclasses.replace(_config(afr_depth=0.6), domains=domains, seeds=5)
    a = analyse(make_run(config))
    assert a.learned.not_learned == []
    assert all(c.learned for c in a.learned.checks)
    assert all(c.p_holm == c.effect.p_crossed_adjusted < 0.05 for c in a.learned.checks)
    if domains == 3:
        assert all(c.effect.p_adjusted >= 0.05 for c in a.learned.checks)  # the Wilcoxon alone never could


def test_adaptation_gains_recover_the_planted_gain(flagged: Path) -> None:
    summary = json.loads((flagged.parent / "summary.json").read_text())
    gains = summary["learned"]["adaptation_gains"]
    assert {(g["method"], g["task"]) for g in gains} == {(m, t) for m in ("afr", "maml", "constant") for t in TASKS}
    for g in gains:  # SyntheticConfig.adaptation_gain = 0.1 model units, before is worse (x SCALE for deltas)
        expected = 0.1 * SCALE.get(g["metric"], 1.0)
        assert g["effect"] == pytest.approx(expected, rel=0.3)


def test_learned_section_and_curves_are_in_the_report(flagged: Path) -> None:
    out = flagged.parent
    figures = {p.name for p in (out / "figures").glob("*.png")}
    assert "learned.png" in figures and {f"learning_curves_{t}.png" for t in TASKS} <= figures
    tables = {p.stem for p in (out / "tables").glob("*.csv")}
    assert {"learned", "adaptation_gain", "convergence"} <= tables
    md = (out / "report.md").read_text()
    assert md.index("## Is each task learned?") < md.index("## Main results")


def test_convergence_flags_a_planted_still_improving_curve() -> None:
    a = analyse(make_run(_config(afr_depth=0.6, improving=("afr",))))
    verdicts = {(c.method, c.task): c for c in a.convergence}
    assert all(not verdicts[("afr", t)].converged for t in TASKS)
    assert all(verdicts[("maml", t)].converged for t in TASKS)
    assert all(verdicts[("afr", t)].verdict == WARNING for t in TASKS)
    assert any(WARNING in note for note in a.notes)


def test_convergence_check_has_power_and_a_controlled_false_alarm_rate() -> None:
    """Over planted stores: the still-improving curve is caught almost always, a flat one rarely."""
    caught = false_alarm = 0
    trials = 20
    for seed in range(trials):
        cfg = _config(afr_depth=0.6, improving=("afr",))
        cfg.seed = 100 + seed
        verdicts = {(c.method, c.task): c.converged
                    for c in check_convergence(make_run(cfg).val_curve, PRIMARY, 0.05, lambda info: info.margin)}
        caught += not verdicts[("afr", "depth")]
        false_alarm += not verdicts[("maml", "depth")]
    assert caught >= 0.9 * trials
    assert false_alarm <= 0.2 * trials


def test_last_quarter_uses_the_checkpoint_at_three_quarters() -> None:
    assert last_quarter([0, 25, 50, 75, 100]) == (75, 100)
    assert last_quarter([0, 40, 80, 120]) == (80, 120)
    assert last_quarter([0]) is None
    empty = pd.DataFrame(columns=["method", "seed", "step", "task", "domain", "episode", "metric", "value"])
    assert check_convergence(empty, {}, 0.05, lambda info: 0.0) == []


def test_a_run_without_constant_says_so(tmp_path: Path) -> None:
    cfg = SyntheticConfig(methods=("afr", "maml"), domains=5, seeds=2, episodes=2, seed=3)
    a = analyse(load_run(write_run(cfg, tmp_path)))
    assert not a.learned.available and a.learned.checks == []
    assert any("no 'constant' control" in note for note in a.notes)
    assert registry_metrics(["accuracy"])  # the registry the synthetic store uses is importable


def test_an_uninterpretable_task_is_not_counted_as_decided() -> None:
    from reports.tables import claim_rows

    a = analyse(make_run(_config(afr_depth=0.0)))
    depth = [e for e in a.confirmatory if e.task == "depth"]
    assert depth and all(e.verdict == UNINTERPRETABLE for e in depth)
    quality = [r for r in claim_rows(a) if r["claim"].startswith("better than")]
    assert quality and quality[0]["decided"] == a.decided() <= len(a.confirmatory) - len(depth)
    assert quality[0]["verdict"] != "supported"  # a task that was not learned cannot support the claim


def test_a_run_without_comparisons_never_compares_against_a_control() -> None:
    config = dataclasses.replace(_config(afr_depth=0.6), comparisons=None)
    a = analyse(make_run(config))
    assert a.comparisons.reference == "afr" and a.comparisons.baselines == ("maml",)
    assert all(e.baseline != "constant" for e in a.effects + a.secondary)
    assert a.learned.check("afr", "depth") is not None  # the control is still used where it belongs


def test_learned_gain_and_convergence_tables_keep_one_column_per_quantity() -> None:
    # the metric differs per task: it is a column of its own, never part of a column name (which split the
    # value over four half-empty columns, one per task)
    from reports.tables import convergence_table, gain_table, learned_table

    a = analyse(make_run(_config(afr_depth=0.6, improving=("maml",))))
    for table in (learned_table(a), gain_table(a), convergence_table(a)):
        shown = table.display
        assert "metric" in shown.columns and not shown.isna().any().any(), table.name
