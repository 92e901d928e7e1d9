"""End to end: a run with controls stores before-adaptation rows for every method, learning curves for the
meta-learners, classification alone for protonet, and its report opens with the learned section."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from bench.cli import main
from bench.store import open_store

MICRO = Path(__file__).parent / "specs" / "micro.toml"
pytestmark = pytest.mark.slow


def _spec(folder: Path) -> Path:
    text = MICRO.read_text()
    text = text.replace("[methods.fomaml]\n", "[methods.fomaml]\n[methods.constant]\n[methods.scratch]\n"
                                            "[methods.protonet]\n")
    text = text.replace("budget_steps = 3\n", "budget_steps = 3\ncurve_every = 2\ncurve_episodes = 2\n")
    text = text.replace('[speed]\nmethods = ["afr", "fomaml"]\npairs = 3\nblocks = 2\nwarmup = 1\n', "")
    text = text.replace('executor = "process"', 'executor = "inline"')
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spec.toml").write_text(text)
    return folder / "spec.toml"


def test_controls_before_adaptation_and_curves_are_stored(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with redirect_stdout(io.StringIO()):
        assert main(["run", str(_spec(tmp_path)), "--out", str(out), "--no-progress"]) == 0
    with open_store(out) as store:
        manifest = store.manifest()
        after, before, curve = store.metric_frame(), store.unadapted_frame(), store.val_curve_frame()
    keys = ["method", "seed", "task", "domain", "episode", "metric"]
    # the same held-out episodes and metrics, before and after adaptation, for every method
    assert sorted(map(tuple, after[keys].values.tolist())) == sorted(map(tuple, before[keys].values.tolist()))
    assert set(before["method"]) == {"fomaml", "afr", "constant", "scratch", "protonet"}
    # a constant prediction needs no adaptation: before and after are the same numbers
    const = after[after["method"] == "constant"].merge(before, on=keys, suffixes=("", "_before"))
    assert (const["value"] == const["value_before"]).all()
    assert set(after.loc[after["method"] == "protonet", "task"]) == {"classification"}
    assert manifest["method_roles"]["protonet"] == {"control": True, "tasks": ["classification"]}
    assert manifest["method_roles"]["afr"] == {"control": False, "tasks": None}
    # learning curves: checkpoints 0, 2 and the last step 3, for the meta-learners only, on meta-val domains
    assert set(curve["method"]) == {"fomaml", "afr"}
    assert sorted(curve["step"].unique()) == [0, 2, 3]
    val = set(manifest["split"]["domains"]["depth"]["meta_val"])
    assert set(curve.loc[curve["task"] == "depth", "domain"]) <= val
    # the fixed episodes are identical for both methods (same seed, same episode ids, same metric grid)
    grid = curve.groupby("method")[["seed", "step", "task", "domain", "episode", "metric"]].apply(
        lambda f: sorted(map(tuple, f.values.tolist())))
    assert grid["afr"] == grid["fomaml"]

    with redirect_stdout(io.StringIO()):
        assert main(["report", str(out)]) == 0
    summary = json.loads((out / "report" / "summary.json").read_text())
    assert {c["method"] for c in summary["learned"]["checks"]} == {"fomaml", "afr", "scratch", "protonet"}
    assert sorted(summary["design"]["controls"]) == ["constant", "protonet", "scratch"]
    assert {c["method"] for c in summary["convergence"]} == {"fomaml", "afr"}
