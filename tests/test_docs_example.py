"""The example method of docs/adding-a-method.md runs as a plugin, exactly as the page tells a user to run it.

``mtml-bench run`` in a subprocess, with ``docs/examples`` on ``PYTHONPATH`` and the module named in
``[runtime] plugins``, on the default (process-pool) executor, so that the plugin is imported in the
driver and in every worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.store import open_store

ROOT = Path(__file__).resolve().parent.parent
MICRO = ROOT / "tests" / "specs" / "micro.toml"
EXAMPLES = ROOT / "docs" / "examples"
pytestmark = pytest.mark.slow


def _spec(folder: Path, method_table: str) -> Path:
    text = MICRO.read_text()
    for old, new in {"[methods.fomaml]": method_table,
                     '"fomaml"': '"head-finetune"',
                     "pairs = 3\nblocks = 2": "pairs = 2\nblocks = 1",
                     "threads = 1": 'threads = 1\nplugins = ["head_finetune"]'}.items():
        assert old in text, old
        text = text.replace(old, new)
    path = folder / "spec.toml"
    path.write_text(text)
    return path


def _run(spec: Path, out: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(EXAMPLES), env.get("PYTHONPATH", "")) if p)
    return subprocess.run([sys.executable, "-m", "bench.cli", "run", str(spec), "--out", str(out), "--seeds", "1",
                           "--workers", "2", "--no-progress"], capture_output=True, text=True, env=env, cwd=spec.parent, timeout=900)


def test_the_example_method_runs_as_a_plugin(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "[methods.head-finetune.extra]\nhead_lr = 0.05")
    result = _run(spec, tmp_path / "run")
    assert result.returncode == 0, result.stderr[-3000:]
    with open_store(tmp_path / "run") as store:
        cells = store.cells_frame()
        values = store.metric_frame()
        timings = store.timing_frame()
    assert set(cells["method"]) == {"afr", "head-finetune"} and (cells["status"] == "done").all()
    mine = values[values["method"] == "head-finetune"]
    assert set(mine["task"]) == {"classification", "depth", "normals", "vanishing_point"}
    assert mine["value"].notna().all()
    # the interleaved speed section ran it against afr in a fresh process
    speed = timings[(timings["source"] == "speed") & (timings["method"] == "head-finetune")]
    assert set(speed["phase"]) >= {"meta_train_step", "adapt", "infer"}


def test_an_unknown_option_of_the_example_is_one_line(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "[methods.head-finetune.extra]\nhead_rate = 0.05")
    result = _run(spec, tmp_path / "run")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown head-finetune option(s) ['head_rate']; known: head_lr" in lines[0], lines
