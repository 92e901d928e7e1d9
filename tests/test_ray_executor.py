"""The Ray executor on a local Ray instance: cells run as Ray tasks, the driver alone writes the store,
and the results equal the inline executor's."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main
from bench.store import open_store

ray = pytest.importorskip("ray")
MICRO = Path(__file__).parent / "specs" / "micro.toml"
NO_SPEED = {'[speed]\nmethods = ["afr", "fomaml"]\npairs = 3\nblocks = 2\nwarmup = 1\n': ""}
pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture
def local_ray():
    ray.init(num_cpus=1, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_executor_matches_inline(tmp_path: Path, local_ray: None) -> None:
    text = MICRO.read_text()
    for old, new in NO_SPEED.items():
        text = text.replace(old, new)
    spec = tmp_path / "micro.toml"
    spec.write_text(text)
    # fomaml and maml: methods whose results do not depend on Python's string hashing (AFR's currently do,
    # so it is only reproducible across processes under a fixed PYTHONHASHSEED, as tox sets)
    args = ["run", str(spec), "--seeds", "1", "--methods", "fomaml,maml", "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "ray"), "--executor", "ray"]) == 0
    assert main([*args, "--out", str(tmp_path / "inline"), "--executor", "inline"]) == 0
    with open_store(tmp_path / "ray") as a, open_store(tmp_path / "inline") as b:
        assert a.manifest()["runtime"]["executor"] == "ray"
        assert (a.cells_frame()["status"] == "done").all() and len(a.cells_frame()) == 2
        key = ["method", "seed", "task", "domain", "episode", "metric"]
        va = a.metric_frame().sort_values(key).reset_index(drop=True)
        vb = b.metric_frame().sort_values(key).reset_index(drop=True)
    assert len(va) > 0 and va.equals(vb)
