"""The regression gate: exit codes, decisions, baseline handling (docs/running.md#gate-a-run-against-a-baseline)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from reports import cli_regress
from reports.synthetic import SyntheticConfig, make_run, write_run, write_store

BASE = dict(methods=("afr", "maml"), domains=4, seeds=3, episodes=3, blocks=3, pairs=10)


def _cfg(**kw: object) -> SyntheticConfig:
    return SyntheticConfig(**{**BASE, **kw})  # type: ignore[arg-type]


def _regress(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    cli_regress.add_arguments(parser)
    return cli_regress.run(parser.parse_args(list(argv)))


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("baseline")
    run_dir = write_run(_cfg(), root / "run")
    path = root / "smoke.json"
    assert _regress(str(run_dir), "--baseline", str(path), "--update-baseline", "--reason", "initial") == 0
    return path


def _statuses(run_dir: Path) -> dict[str, str]:
    data = json.loads((run_dir / "regression.json").read_text())
    return {g["id"]: g["status"] for g in data["gates"]}


def test_baseline_keeps_raw_samples_and_history(baseline: Path):
    doc = json.loads(baseline.read_text())
    assert doc["schema"] == "mtml-bench/1"
    assert len(doc["cells"]) == 2 * 3 * 4 * 4  # methods x seeds x tasks x domains, primary metrics
    # methods x phases x blocks x pairs, plus the yardstick once per pair; warm-up left out
    assert len(doc["timings"]) == 2 * (2 * 4 * 3 * 10 + 3 * 10)  # wall clock and CPU time
    assert len(doc["episodes"]) == 2 * 3 * 4 * 4 * 3  # primary metrics, every episode
    assert set(doc["training"]) == {"afr", "maml"} and set(doc["method_configs"]) == {"afr", "maml"}
    assert doc["history"][0]["why"] == "initial" and doc["history"][0]["old_hash"] is None
    assert "numerics" in doc["gates"] and "speed/afr/meta_train_step" in doc["gates"]
    assert "quality/afr" in doc["gates"] and any(g.startswith("quality/afr/depth/") for g in doc["gates"])
    assert any(g.startswith("flops/") for g in doc["gates"]) and any(g.startswith("time/") for g in doc["gates"])


def test_identical_run_passes_and_leaves_the_baseline_alone(baseline: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]):
    before = baseline.read_bytes()
    run_dir = write_run(_cfg(), tmp_path / "run")
    assert _regress(str(run_dir), "--baseline", str(baseline), "--strict") == 0
    data = json.loads((run_dir / "regression.json").read_text())
    assert {g["status"] for g in data["gates"] if g["gated"]} == {"OK"}
    assert {g["status"] for g in data["gates"]} <= {"OK", "INFO"}
    assert baseline.read_bytes() == before
    assert "no regression (exit 0)" in capsys.readouterr().out


def test_planted_quality_and_speed_regressions_exit_1(baseline: Path, tmp_path: Path):
    # afr 0.1 effect units worse on every task; afr's phases 1.5x slower (baseline: 1/1.8 of maml's time)
    run_dir = write_run(_cfg(effects={"afr": -0.05}, speed={"afr": 1 / 1.2}), tmp_path / "run")
    assert _regress(str(run_dir), "--baseline", str(baseline)) == 1
    s = _statuses(run_dir)
    assert s["quality/afr"] == "REGRESSED"
    assert s["quality/afr/depth/abs_rel"] == "INFO"  # per-task rows are shown, never gated
    assert s["quality/maml"] == "OK"  # untouched method: identical cells
    assert s["speed/afr/meta_train_step"] == "REGRESSED" and s["speed/afr/adapt"] == "REGRESSED"
    assert s["speed/maml/meta_train_step"] == "OK"  # a slower afr is not a faster maml
    assert s["numerics"] == "INFO"


def test_improvement_is_reported_not_failed(baseline: Path, tmp_path: Path):
    run_dir = write_run(_cfg(effects={"afr": 0.15}, speed={"afr": 1 / 2.5}), tmp_path / "run")
    assert _regress(str(run_dir), "--baseline", str(baseline), "--strict") == 0
    s = _statuses(run_dir)
    assert s["quality/afr"] == "IMPROVED" and s["speed/afr/adapt"] == "IMPROVED"


def test_redrawn_training_noise_is_inconclusive_not_regressed(baseline: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]):
    # same domains and episodes, another training trajectory: what a numerics-changing refactor gives
    run_dir = write_run(_cfg(seed=7, world_seed=0), tmp_path / "run")
    assert _regress(str(run_dir), "--baseline", str(baseline)) == 0
    assert "INCONCLUSIVE; passing (use --strict to exit 2)" in capsys.readouterr().err
    s = _statuses(run_dir)
    assert "REGRESSED" not in s.values() and "INCONCLUSIVE" in s.values()
    assert _regress(str(run_dir), "--baseline", str(baseline), "--strict") == 2


def test_more_flops_is_a_regression(baseline: Path, tmp_path: Path):
    run_dir = write_run(_cfg(flops_factor={"afr": 0.6}), tmp_path / "run")  # baseline: afr does 0.5x
    assert _regress(str(run_dir), "--baseline", str(baseline)) == 1
    s = _statuses(run_dir)
    assert s["flops/afr/meta_train_step"] == "REGRESSED" and s["flops/maml/meta_train_step"] == "OK"


def test_absolute_times_are_informational_on_another_machine(baseline: Path, tmp_path: Path):
    run = make_run(_cfg(machine=3.6))  # everything 3.6x slower, the yardstick too
    run.manifest["environment"] = {**run.manifest["environment"], "cpu": "another-cpu"}
    write_store(run, tmp_path / "run" / "results.sqlite")
    code = _regress(str(tmp_path / "run"), "--baseline", str(baseline))
    data = json.loads((tmp_path / "run" / "regression.json").read_text())
    times = [g for g in data["gates"] if g["id"].startswith("time/")]
    assert times and all(g["status"] == "INFO" and not g["gated"] for g in times)
    assert not data["fingerprint_match"]
    assert {g["status"] for g in data["gates"] if g["id"].startswith("speed/")} == {"OK"}
    assert code == 0


def test_absolute_times_gate_only_when_asked_on_the_same_machine(baseline: Path, tmp_path: Path):
    run_dir = write_run(_cfg(speed={"afr": 1.0 / 1.8 * 1.5, "maml": 1.5}), tmp_path / "run")
    assert _regress(str(run_dir), "--baseline", str(baseline), "--partial") == 1  # the speed gates see it too
    s = _statuses(run_dir)
    assert s["time/afr/meta_train_step"] == "INFO"  # default: load on a shared machine moves absolute times
    assert _regress(str(run_dir), "--baseline", str(baseline), "--absolute-times") == 1
    assert _statuses(run_dir)["time/afr/meta_train_step"] == "REGRESSED"


def test_incompatible_or_incomplete_runs_exit_3(baseline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    other = write_run(_cfg(domains=5), tmp_path / "other")  # another split
    assert _regress(str(other), "--baseline", str(baseline)) == 3
    assert "re-create the baseline" in capsys.readouterr().err.lower()
    missing = write_run(_cfg(missing=[("maml", 1)]), tmp_path / "missing")
    assert _regress(str(missing), "--baseline", str(baseline)) == 3
    assert "missing cell" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema": "something-else"}))
    assert _regress(str(write_run(_cfg(), tmp_path / "ok")), "--baseline", str(bad)) == 3
    assert _regress(str(tmp_path / "ok"), "--baseline", str(tmp_path / "absent.json")) == 3
    assert "--update-baseline" in capsys.readouterr().err


def test_failed_cells_and_broken_metrics_are_harness_errors(baseline: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]):
    failed = write_run(_cfg(failed=[("afr", 0, "NaN loss")]), tmp_path / "failed")
    assert _regress(str(failed), "--baseline", str(baseline)) == 4
    assert "NaN loss" in capsys.readouterr().err
    broken = write_run(_cfg(inf_values=[("maml", 2)]), tmp_path / "broken")
    assert _regress(str(broken), "--baseline", str(baseline)) == 4


def test_update_needs_a_reason_and_records_the_old_hash(baseline: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "b.json"
    path.write_bytes(baseline.read_bytes())
    run_dir = write_run(_cfg(effects={"afr": 0.1}), tmp_path / "run")
    assert _regress(str(run_dir), "--baseline", str(path), "--update-baseline") == 2
    assert "--reason" in capsys.readouterr().err
    old = json.loads(path.read_text())
    assert _regress(str(run_dir), "--baseline", str(path), "--update-baseline", "--reason", "AFR got better") == 0
    new = json.loads(path.read_text())
    assert len(new["history"]) == 2
    assert new["history"][-1]["why"] == "AFR got better"
    assert new["history"][-1]["old_hash"] == old["history"][-1]["new_hash"]
    assert _regress(str(run_dir), "--baseline", str(path), "--strict") == 0


def test_partial_runs_and_variants(baseline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    only_afr = write_run(_cfg(methods=("afr",)), tmp_path / "afr")
    assert _regress(str(only_afr), "--baseline", str(baseline)) == 3
    assert "lacks the baseline's method(s) maml" in capsys.readouterr().err
    assert _regress(str(only_afr), "--baseline", str(baseline), "--partial") == 0
    s = _statuses(only_afr)
    # (a synthetic run of fewer methods draws other values: its afr is a redrawn run, never a regression)
    assert s["quality/afr"] in ("OK", "INCONCLUSIVE") and s["quality/maml"] == "SKIPPED"
    assert s["speed/maml/adapt"] == "SKIPPED"
    # a registered variant gated as the method it stands in for (the mutation tests plant regressions so)
    variant = write_run(_cfg(methods=("afr-mutant", "maml"), effects={"afr-mutant": -0.05},
                             speed={"afr-mutant": 1 / 1.8}), tmp_path / "variant")
    assert _regress(str(variant), "--baseline", str(baseline), "--variant", "afr-mutant=afr") == 1
    assert _statuses(variant)["quality/afr"] == "REGRESSED"
    assert _regress(str(variant), "--baseline", str(baseline), "--variant", "afr-mutant") == 2
    assert "--variant 'afr-mutant' must be VARIANT=METHOD" in capsys.readouterr().err


def test_the_table_shows_bound_and_detectable_effect(baseline: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]):
    run_dir = write_run(_cfg(seed=7, world_seed=0), tmp_path / "run")
    _regress(str(run_dir), "--baseline", str(baseline))
    out = capsys.readouterr().out
    head = next(line for line in out.splitlines() if "detectable" in line)
    assert head.split() == ["gate", "estimate", "bound", "detectable", "unit", "verdict"]
    data = json.loads((run_dir / "regression.json").read_text())
    quality = next(g for g in data["gates"] if g["id"] == "quality/afr")
    speed = next(g for g in data["gates"] if g["id"] == "speed/afr/adapt")
    assert quality["detectable"] > 1.0 and quality["unit"] == "margins"  # beyond one margin, in margins
    assert 1.1 < speed["detectable"] < 2.0 and speed["bound"] is not None
