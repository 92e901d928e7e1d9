"""The scaling study (docs/scaling.md): the [speed] grid in the spec, methods and episodes at a point,
one block per point with its costs in the store, and the report's Scaling section."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from bench.cli import main
from bench.scaling import point_changes, resize_episode
from bench.spec import ScalePoint, load_spec, parse_spec, tomllib
from bench.store import STORE_NAME, open_store
from domains.episodes import Batch, Episode
from reports.load import RunData
from reports.scaling import (
    BLOCKS,
    PAIRS,
    base_point,
    claim_sentences,
    plain_timings,
    scaling_figure,
    scaling_rows,
)

MICRO = Path(__file__).parent / "specs" / "micro_scaling.toml"


def micro_data() -> dict:
    return tomllib.loads(MICRO.read_text())


# ---- the grid in the spec ---------------------------------------------------------------------------
def test_grid_expands_as_declared_in_block_order() -> None:
    speed = load_spec(MICRO).speed
    assert speed is not None and speed.scaled and speed.total_blocks == 4
    assert speed.points() == [ScalePoint(1, 16, 1), ScalePoint(1, 32, 1), ScalePoint(2, 16, 1), ScalePoint(2, 32, 1)]
    assert speed.point_of(3) == (3, ScalePoint(2, 32, 1))
    data = micro_data()
    data["speed"].update(blocks=2)
    del data["speed"]["image_sizes"]  # an axis left out keeps the spec's own value
    two = parse_spec(data).speed
    assert two is not None and two.points() == [ScalePoint(1, None, 1), ScalePoint(2, None, 1)]
    assert two.total_blocks == 4 and two.point_of(1) == (0, ScalePoint(1, None, 1)) and two.point_of(2)[0] == 1

    shipped = load_spec("scaling")
    assert shipped.speed is not None and len(shipped.speed.points()) == 18 == shipped.speed.total_blocks
    assert shipped.speed.width_multipliers == (1, 2, 4) and shipped.speed.image_sizes == (32, 64)
    assert shipped.speed.inner_steps == (1, 3, 5) and shipped.speed.methods == ("afr", "maml", "fomaml", "anil")
    assert parse_spec(shipped.to_dict()).speed == shipped.speed  # the grid survives the manifest round trip


def test_a_spec_without_grid_keeps_its_dict_and_hash() -> None:
    for name in ("smoke", "standard"):
        spec = load_spec(name)
        assert spec.speed is not None and not spec.speed.scaled and spec.speed.points() == [ScalePoint()]
        assert spec.speed.total_blocks == spec.speed.blocks
        assert set(spec.to_dict()["speed"]) == {"methods", "pairs", "blocks", "warmup", "threads"}


@pytest.mark.parametrize(("key", "value", "rule"), [
    ("image_sizes", [32, 40], "positive multiples of 16"),
    ("image_sizes", [0], "positive multiples of 16"),
    ("width_multipliers", [], "integers >= 1"),
    ("width_multipliers", [1, 1.5], "integers >= 1"),
    ("inner_steps", [1, 1], "integers >= 1"),
    ("inner_steps", 3, "integers >= 1"),
])
def test_a_bad_grid_value_is_one_line_and_exit_2(key: str, value: object, rule: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    text, n = re.subn(rf"^{key} = \[.*\]$", f"{key} = {json.dumps(value)}", MICRO.read_text(), flags=re.MULTILINE)
    assert n == 1
    spec = tmp_path / "bad.toml"
    spec.write_text(text)
    assert main(["run", str(spec), "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"'speed.{key}' = {json.dumps(value)}: must be a non-empty list of distinct {rule}" in err[0]
    assert not (tmp_path / "run").exists()


# ---- methods and episodes at a point --------------------------------------------------------------------
def test_a_point_builds_wider_networks_with_its_steps() -> None:
    spec = load_spec(MICRO)
    changes = point_changes(spec, "afr", ScalePoint(2, 32, 5), 16)
    assert changes["network"].widths == (8, 8, 16, 16) and changes["network"].image_size == 32
    assert changes["network"].decoder_width == 4  # the heads keep the spec's width
    assert changes["inner_steps"] == 5 and changes["test_inner_steps"] == 5
    assert point_changes(spec, "afr", ScalePoint(), 16) == {}


def test_resized_episode_keeps_labels_and_masks_aligned() -> None:
    images = torch.rand(2, 3, 16, 16)
    mask = torch.zeros(2, 1, 16, 16, dtype=torch.bool)
    mask[:, :, :8] = True
    dense = Batch(images, torch.rand(2, 1, 16, 16), mask)
    key = ("test", "depth", "d", 0, 0)
    big = resize_episode(Episode(key, dense, dense), 32)  # type: ignore[arg-type]
    assert big.support.images.shape == (2, 3, 32, 32) and big.query.targets.shape == (2, 1, 32, 32)
    assert big.support.mask is not None and big.support.mask.dtype == torch.bool
    assert big.support.mask[:, :, :16].all() and not big.support.mask[:, :, 16:].any()
    labels = Batch(images, torch.tensor([0, 1]), None)
    vps = Batch(images, torch.eye(3).expand(2, 3, 3), None)
    assert torch.equal(resize_episode(Episode(key, labels, labels, 2), 32).query.targets, torch.tensor([0, 1]))  # type: ignore[arg-type]
    assert resize_episode(Episode(key, vps, vps), 32).support.targets.shape == (2, 3, 3)  # type: ignore[arg-type]
    assert resize_episode(Episode(key, dense, dense), 16).support is dense  # type: ignore[arg-type]


# ---- a micro run end to end ---------------------------------------------------------------------------
@pytest.mark.slow
def test_micro_scaling_run_stores_a_block_per_point_and_reports_it(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["run", str(MICRO), "--out", str(out), "--no-progress"]) == 0
    with open_store(out / STORE_NAME) as store:
        blocks = store.frame("speed_blocks")
        timings = store.timing_frame()
        costs = store.scaling_costs_frame()
    assert sorted(blocks["block"]) == [0, 1, 2, 3] and set(blocks["status"]) == {"done"}
    speed = timings[timings["source"] == "speed"]
    assert sorted(speed["block"].unique()) == [0, 1, 2, 3]
    assert set(speed["method"]) == {"afr", "maml", "yardstick"}
    assert sorted(costs["point"].unique()) == [0, 1, 2, 3] and len(costs) == 4 * 2 * 3
    assert (costs["flops"] > 0).all() and (costs["peak_bytes"] > 0).all()
    step = costs[(costs["method"] == "maml") & (costs["phase"] == "meta_train_step")].set_index("point")["flops"]
    assert step[1] > 3 * step[0] and step[2] > 1.5 * step[0] and step[3] > step[1]  # 4x the pixels, 2x the widths

    assert main(["report", str(out)]) == 0
    md = (out / "report" / "report.md").read_text()
    assert "## Scaling" in md and "the paper's 1.5x claim for meta_train_step (afr against maml" in md
    assert "x2 width, 32 px, 1 step" in md and (out / "report" / "figures" / "scaling.png").stat().st_size > 1000
    table = pd.read_csv(out / "report" / "tables" / "scaling.csv")
    assert len(table) == 4 * 3 and table["flop_ratio"].notna().all() and table["wall_ratio"].notna().all()
    assert np.allclose(table["efficiency"], table["wall_ratio"] / table["flop_ratio"])
    summary = json.loads((out / "report" / "summary.json").read_text())
    assert len(summary["scaling"]["rows"]) == 12 and summary["scaling"]["claims"]


# ---- the analysis on planted numbers --------------------------------------------------------------------
def planted_run(speedup: dict[int, float], flops: dict[int, float], blocks: int = 4) -> RunData:
    """Two points (width x1, x2); maml's phases take ``speedup[point]`` times afr's; FLOP ratios planted too."""
    data = micro_data()
    data["speed"].update(width_multipliers=[1, 2], image_sizes=[32], inner_steps=[1], blocks=blocks)
    rng = np.random.default_rng(0)
    rows, costs = [], []
    for point in (0, 1):
        for block in range(point * blocks, (point + 1) * blocks):
            for pair in range(6):
                base = 0.1 * math.exp(rng.normal(0, 0.05))
                for method, seconds in (("afr", base), ("maml", base * speedup[point] * math.exp(rng.normal(0, 0.02)))):
                    for phase in ("meta_train_step", "adapt", "infer"):
                        rows.append(("speed", method, 0, phase, block, pair, pair, seconds, False))
        for method, f in (("afr", 1e9), ("maml", 1e9 * flops[point])):
            costs += [(point, method, phase, f, 2**20 * (1 + point)) for phase in ("meta_train_step", "adapt", "infer")]
    timings = pd.DataFrame(rows, columns=["source", "method", "seed", "phase", "block", "pair", "idx", "seconds",
                                          "warmup"])
    empty = pd.DataFrame()
    return RunData(path=Path("/nonexistent") / STORE_NAME, manifest={"spec": data, "image_size": 32}, cells=empty,
                   values=empty, timings=timings, costs=empty, curves=empty,
                   scaling_costs=pd.DataFrame(costs, columns=["point", "method", "phase", "flops", "peak_bytes"]))


def test_planted_ratios_give_efficiency_and_the_claim_sentence(tmp_path: Path) -> None:
    table = scaling_rows(planted_run({0: 1.2, 1: 2.0}, {0: 1.5, 1: 2.5}), "afr", ["maml"], 0.05)
    step = table[table["phase"] == "meta_train_step"].set_index("point")
    assert step.loc[0, "wall_ratio"] == pytest.approx(1.2, rel=0.02)
    assert step.loc[1, "flop_ratio"] == pytest.approx(2.5)
    assert step.loc[1, "efficiency"] == pytest.approx(2.0 / 2.5, rel=0.02)
    assert step.loc[1, "peak_mib_method"] == pytest.approx(2.0) and step.loc[1, "interval"] == BLOCKS
    assert step.loc[1, "ci_low"] < 2.0 < step.loc[1, "ci_high"] and step.loc[1, "n_blocks"] == 4
    [sentence] = claim_sentences(table, "afr", 1.5, ["meta_train_step"], 0.05)
    assert "holds at x2 width, 32 px, 1 step (1 of 2 sizes)" in sentence and "FLOP ratio reaches 1.5x at 2 of 2" in sentence
    slower = scaling_rows(planted_run({0: 1.2, 1: 1.3}, {0: 1.5, 1: 2.5}), "afr", ["maml"], 0.05)
    assert "holds at no size (0 of 2 sizes)" in claim_sentences(slower, "afr", 1.5, ["meta_train_step"], 0.05)[0]
    assert scaling_figure(table, tmp_path / "scaling.png", 1.5).stat().st_size > 1000


def test_one_block_per_point_uses_its_pairs_and_the_plain_table_its_own_size() -> None:
    run = planted_run({0: 1.2, 1: 2.0}, {0: 1.5, 1: 2.5}, blocks=1)
    table = scaling_rows(run, "afr", ["maml"], 0.05)
    assert set(table["interval"]) == {PAIRS} and table["ci_low"].notna().all()
    assert base_point(run) == 0  # width x1, the suite's 32 px, the spec's one inner step
    assert set(plain_timings(run)["block"]) == {0}


def test_the_duration_estimate_counts_every_point_by_its_size() -> None:
    from bench.sizes import estimate_seconds

    spec = load_spec(MICRO)
    assert spec.speed is not None
    plain = dataclasses.replace(spec, speed=dataclasses.replace(spec.speed, width_multipliers=None, image_sizes=None,
                                                                inner_steps=None))
    domains = {task: ["d"] for task in spec.tasks}
    cells = estimate_seconds(dataclasses.replace(spec, speed=None), domains, 1e-3, 1, 32)
    one_point = estimate_seconds(plain, domains, 1e-3, 1, 32) - cells
    grid = estimate_seconds(spec, domains, 1e-3, 1, 32) - cells
    # points x1/16, x1/32, x2/16, x2/32 px: 1/4 + 1 + 1 + 4 times the unscaled point's pairs, plus the costs pass
    pairs = spec.speed.pairs + spec.speed.warmup
    assert grid == pytest.approx(one_point * 6.25 * (pairs + 3) / pairs)
