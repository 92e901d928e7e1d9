"""End to end on every real suite: ``mtml-bench run`` then ``mtml-bench report`` on a fixture written in the
suite's real on-disk format, so the real-data path is exercised by the runner and the reports, not only by
the loaders."""

from __future__ import annotations

import types
from pathlib import Path

import pytest
from fixtures.diode_writer import write_diode
from fixtures.nyuv2_writer import write_nyuv2
from fixtures.scannet_vp_writer import write_scannet_vp
from fixtures.taskonomy_writer import write_taskonomy

from bench.cli import main
from bench.store import open_store
from domains.taskonomy import TaskonomySuite
from domains.taskonomy.classes import LABEL_SPACES

pytestmark = pytest.mark.slow

SPEC = """name = "micro-{suite}"
seeds = 1
tasks = {tasks}

[methods.fomaml]
[methods.afr]
inner_lr = 0.05

[suite]
name = "{suite}"
root = "{root}"
image_size = 16
cache_dir = "off"
progress = false
workers = 1
{options}

[episodes]
shots = 1
queries = 2
ways = 2
test_episodes = 1

[network]
widths = [4, 4, 8, 8]
decoder_width = 4

[training]
meta_batch_size = 2
inner_steps = 1
pretrain_steps = 1
budget_steps = 2

[comparisons]
reference = "afr"
baselines = ["fomaml"]

[runtime]
executor = "inline"
threads = 1
"""


def taskonomy_fixture(root: Path) -> dict[str, str]:
    """Five buildings; each has 3 views of two meta-train and two meta-test scene classes."""
    parts = TaskonomySuite._class_parts(types.SimpleNamespace(class_seed=0, space=LABEL_SPACES["scene"]))
    train, test = parts["meta_train"][:2], parts["meta_test"][:2]
    scenes = [c for c in train + test for _ in range(3)]
    write_taskonomy(root, buildings=("a", "b", "c", "d", "e"), points=4, views=3, size=24, scenes=scenes)
    return {}


def nyuv2_fixture(root: Path) -> dict[str, str]:
    write_nyuv2(root)
    return {"chunk_size": "4"}  # two train chunks (one held out as meta-val), one val chunk (meta-test)


def diode_fixture(root: Path) -> dict[str, str]:
    write_diode(root, images_per_scan=3)
    return {}


def scannet_vp_fixture(root: Path) -> dict[str, str]:
    write_scannet_vp(root)
    return {}


# suite -> (fixture writer returning extra suite options, tasks it has labels for)
FIXTURES = {
    "taskonomy": (taskonomy_fixture, ["classification", "depth", "normals", "vanishing_point"]),
    "nyuv2": (nyuv2_fixture, ["depth", "normals"]),
    "diode": (diode_fixture, ["depth", "normals"]),
    "scannet_vp": (scannet_vp_fixture, ["vanishing_point"]),
}


@pytest.mark.parametrize("suite", sorted(FIXTURES))
def test_run_and_report_on_a_real_format_fixture(suite: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    write, tasks = FIXTURES[suite]
    root = tmp_path / "data"
    options = write(root)
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(suite=suite, root=root, tasks=tasks,
                                options="\n".join(f"{k} = {v}" for k, v in options.items())))
    out = tmp_path / "run"
    check_options = [arg for k, v in options.items() for arg in ("-o", f"{k}={v}")]
    assert main(["check", suite, "--root", str(root), "-o", "cache_dir=off", "-o", "progress=false",
                 *check_options]) == 0
    code = main(["run", str(spec), "--out", str(out), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Traceback" not in captured.err and "warning" not in captured.err
    with open_store(out) as store:
        cells = store.cells_frame()
        values = store.metric_frame()
    assert sorted(cells["method"]) == ["afr", "fomaml"] and (cells["status"] == "done").all()
    assert sorted(values["task"].unique()) == sorted(tasks)
    assert values["value"].notna().all()
    assert main(["report", str(out)]) == 0
    report = capsys.readouterr().out
    assert report.startswith("report: ")
    index = Path(report.split("report: ", 1)[1].strip())
    assert index.is_file() and index.stat().st_size > 0
