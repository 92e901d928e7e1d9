"""``mtml-bench export``: TensorBoard event files read back equal the store's curves and final metrics."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.cli import main
from bench.store import open_store
from reports.tensorboard_export import final_metrics

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

MICRO = Path(__file__).parent / "specs" / "micro.toml"


@pytest.fixture(scope="module")
def micro_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tb") / "run"
    assert main(["run", str(MICRO), "--seeds", "1", "--executor", "inline", "--threads", "1", "--no-progress",
                 "--set", "speed.blocks=1", "--set", "speed.pairs=2", "--out", str(out)]) == 0
    return out


def scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


@pytest.mark.slow
def test_export_reads_back_as_the_store_holds(micro_run: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(micro_run), "--to", str(tmp_path / "tb")]) == 0
    assert "wrote 2 cell(s)" in capsys.readouterr().out
    with open_store(micro_run) as store:
        curves, metrics, cells = store.curve_frame(), store.metric_frame(), store.cells_frame()
    finals = final_metrics(metrics)
    assert len(curves) > 0 and len(finals) > 0
    for cell in cells.itertuples():
        got = scalars(tmp_path / "tb" / cell.method / f"seed{cell.seed}")
        mine = curves[(curves["method"] == cell.method) & (curves["seed"] == cell.seed)].sort_values("step")
        steps, losses = zip(*got["training_curve/loss"])
        assert list(steps) == mine["step"].tolist()
        np.testing.assert_allclose(losses, mine["loss"], rtol=1e-6)  # event files hold float32
        for task, value in json.loads(mine["task_losses"].iloc[-1]).items():
            assert got[f"training_curve/loss/{task}"][-1] == (int(mine["step"].iloc[-1]), pytest.approx(value, 1e-6))
        expected = finals[(finals["method"] == cell.method) & (finals["seed"] == cell.seed)]
        exported = {tag: v for tag, v in got.items() if tag.startswith("final/")}
        assert len(exported) == len(expected)
        for row in expected.itertuples():
            ((step, value),) = exported[f"final/{row.task}/{row.metric}"]
            assert step == int(mine["step"].max()) and value == pytest.approx(row.value, rel=1e-6)
        assert got["cell/failed"][0][1] == 0.0


def test_final_metrics_weight_domains_equally() -> None:
    import pandas as pd

    rows = [("m", 0, "depth", "a", e, "abs_rel", v) for e, v in enumerate([1.0, 3.0])]  # domain a: mean 2
    rows += [("m", 0, "depth", "b", 0, "abs_rel", 6.0)]  # domain b: one episode
    frame = pd.DataFrame(rows, columns=["method", "seed", "task", "domain", "episode", "metric", "value"])
    assert final_metrics(frame)["value"].tolist() == [4.0]  # (2 + 6) / 2, not (1 + 3 + 6) / 3


def test_export_of_a_folder_without_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'results.sqlite'} does not exist. Pass a folder written by "
                          "'mtml-bench run'.") and err.count("\n") == 1


def test_export_without_tensorboard_names_the_extra(micro_run: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as if not installed
    assert main(["export", str(micro_run), "--to", str(tmp_path / "tb")]) == 2
    assert capsys.readouterr().err == ("error: the TensorBoard export needs the 'tensorboard' package: "
                                       "pip install 'mtml-bench[tensorboard]'\n")
