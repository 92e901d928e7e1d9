"""Equal compute (reports/compute.py): time-to-target on a planted store, computed by hand; the
'not reached' cases; and the section in the report (HTML, Markdown, summary.json)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from reports.compute import FRACTION, NOT_REACHED, equal_compute
from reports.metricinfo import MetricInfo
from reports.report import build_report
from reports.synthetic import SyntheticConfig, write_run

ACC = MetricInfo("acc", "classification", "higher", "delta", 0.01, primary=True)
STEPS = (0, 10, 20, 30)
# (method, seed) -> meta-val value (mean over episodes) at steps 0, 10, 20, 30
PLANTED = {
    ("a", 0): (0.2, 0.95, 1.0, 1.0),  # reaches 0.92 at step 10
    ("a", 1): (0.2, 0.5, 0.93, 1.0),  # at step 20
    ("b", 0): (0.1, 0.3, 0.6, 0.95),  # at step 30
    ("b", 1): (0.1, 0.2, 0.3, 0.5),  # never
    ("c", 0): (0.1, 0.1, 0.1, 0.1),  # never
    ("c", 1): (0.1, 0.1, 0.1, 0.1),
}
SECONDS_PER_STEP = {"a": 0.5, "b": 0.25, "c": 0.1}
FLOPS_PER_STEP = {"a": 2e9, "b": 1e9, "c": 1e9}


def planted(sign: float = 1.0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """val_curve (two episodes around each value), training_curve (every step, as the runner logs it), phase_costs."""
    val = [(m, s, step, "classification", "val-d0", e, "acc", sign * (v + d))
           for (m, s), values in PLANTED.items() for step, v in zip(STEPS, values, strict=True)
           for e, d in enumerate((-0.01, 0.01))]
    # row 'step' = s holds the meta_train_step seconds of the first s + 1 steps (bench/clock.py)
    clock = [(m, s, step, SECONDS_PER_STEP[m] * (step + 1), 1.0, "{}") for (m, s) in PLANTED for step in range(30)]
    costs = [(m, phase, int(f if phase == "meta_train_step" else 1), 0) for m, f in FLOPS_PER_STEP.items()
             for phase in ("meta_train_step", "adapt", "infer")]
    return (pd.DataFrame(val, columns=["method", "seed", "step", "task", "domain", "episode", "metric", "value"]),
            pd.DataFrame(clock, columns=["method", "seed", "step", "elapsed", "loss", "task_losses"]),
            pd.DataFrame(costs, columns=["method", "phase", "flops", "peak_bytes"]))


@pytest.mark.parametrize("direction", ["higher", "lower"])
def test_time_to_target_by_hand(direction: str) -> None:
    sign = 1.0 if direction == "higher" else -1.0
    info = MetricInfo("acc", "classification", direction, "delta", 0.01, primary=True)
    ec = equal_compute(*planted(sign), {"classification": info}, ["a", "b", "c"], [0, 1])
    goal = ec.targets["classification"]
    # the best final seed mean is a's (1.0); its step-0 mean is 0.2: target 0.2 + 0.9 x 0.8 = 0.92
    assert FRACTION == 0.9 and goal.best_method == "a"
    assert goal.start == pytest.approx(sign * 0.2) and goal.final == pytest.approx(sign * 1.0)
    assert goal.level == pytest.approx(sign * 0.92)
    times = {t.method: t for t in ec.times}
    a, b, c = times["a"], times["b"], times["c"]
    # a: seeds reach it at steps 10 and 20 -> 5 s and 10 s of its clock (0.5 s a step), 20 and 40 GFLOP
    assert (a.n_reached, a.n_seeds) == (2, 2)
    assert (a.step, a.seconds, a.flops) == pytest.approx((15, 7.5, 30e9))
    assert [p["step"] for p in a.per_seed] == [10, 20]
    # b: seed 0 at step 30 (7.5 s, 30 GFLOP); seed 1 never: the median is over the one seed that reached it
    assert (b.n_reached, b.step, b.seconds, b.flops) == (1, 30, pytest.approx(7.5), pytest.approx(30e9))
    assert b.per_seed[1] == {"seed": 1, "step": None, "seconds": None, "flops": None}
    # c: never
    assert not c.reached and c.n_reached == 0 and math.isnan(c.seconds) and math.isnan(c.flops)
    # the figures' lines: seed means of value, seconds and FLOPs per checkpoint
    lines = ec.mean_curves().set_index(["method", "step"])
    assert lines.loc[("a", 0), "seconds"] == 0 and lines.loc[("a", 20), "seconds"] == pytest.approx(10.0)
    assert lines.loc[("b", 30), "flops"] == pytest.approx(30e9)
    assert lines.loc[("b", 30), "value"] == pytest.approx(sign * (0.95 + 0.5) / 2)


def test_no_improvement_sets_no_target_and_nothing_is_reached() -> None:
    val, clock, costs = planted()
    val = val[val["method"] == "c"]
    ec = equal_compute(val, clock, costs, {"classification": ACC}, ["c"], [0, 1])
    assert not ec.targets["classification"].defined
    assert [t.n_reached for t in ec.times] == [0]


def test_a_failed_seed_counts_as_not_reached_and_a_short_clock_is_not_extrapolated() -> None:
    val, clock, costs = planted()
    val = val[~((val["method"] == "a") & (val["seed"] == 1))]  # a's seed 1 failed: no curve
    clock = clock[~((clock["method"] == "b") & (clock["step"] >= 20))]  # b's clock stops after 20 steps
    ec = equal_compute(val, clock, costs, {"classification": ACC}, ["a", "b", "c"], [0, 1])
    times = {t.method: t for t in ec.times}
    assert (times["a"].n_reached, times["a"].n_seeds, times["a"].step) == (1, 2, 10)
    assert times["b"].n_reached == 1 and math.isnan(times["b"].seconds)  # reached at 30, past the clock's end
    assert times["b"].flops == pytest.approx(30e9)


def test_the_report_has_the_equal_compute_section(tmp_path: Path) -> None:
    cfg = SyntheticConfig(methods=("afr", "maml"), domains=3, seeds=2, episodes=2, val_curve_points=5, seed=3)
    index = build_report(write_run(cfg, tmp_path / "run"))
    out = index.parent
    html, md = index.read_text(), (out / "report.md").read_text()
    assert "Equal compute" in html and "## Equal compute" in md
    assert "seeds reaching it" in md and (out / "tables" / "equal_compute.csv").is_file()
    assert {f"compute_curves_{t}.png" for t in cfg.tasks} <= {p.name for p in (out / "figures").glob("*.png")}
    summary = json.loads((out / "summary.json").read_text())["equal_compute"]
    assert summary["fraction"] == FRACTION
    assert {t["task"] for t in summary["targets"]} == set(cfg.tasks)
    rows = summary["time_to_target"]
    assert {(r["method"], r["task"]) for r in rows} == {(m, t) for m in cfg.methods for t in cfg.tasks}
    for r in rows:
        assert r["n_seeds"] == 2 and (r["median_seconds"] is None) == (r["n_reached"] == 0)
    table = pd.read_csv(out / "tables" / "equal_compute.csv")
    assert len(table) == len(rows)
    if (table["n_reached"] == 0).any():
        assert NOT_REACHED in md


def test_a_run_without_learning_curves_has_no_equal_compute_section(tmp_path: Path) -> None:
    cfg = SyntheticConfig(methods=("afr", "maml"), domains=3, seeds=2, episodes=2, seed=3)
    index = build_report(write_run(cfg, tmp_path / "run"))
    assert "Equal compute" not in index.read_text()
    assert json.loads((index.parent / "summary.json").read_text())["equal_compute"] is None
