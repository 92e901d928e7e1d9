"""One run contract: the reports read a run's spec and rows exactly as the harness wrote them.

The runner's workers parse the spec from their ``Plan`` (``bench/cell.py``); the
reports parse the spec stored in the run's manifest (``reports/load.py``). Both
must go through ``bench.spec.parse_spec`` and arrive at the same ``Spec``, or a
report could test other comparisons than the run declared.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cell import Plan
from bench.spec import SHIPPED, load_spec
from bench.store import STORE_NAME, Store
from reports.errors import HarnessError
from reports.load import load_run
from reports.synthetic import SyntheticConfig, make_run, write_run


@pytest.mark.parametrize("name", SHIPPED)
def test_reports_and_runner_see_the_same_spec(name: str, tmp_path: Path) -> None:
    spec = load_spec(name)
    plan = Plan(spec=spec.to_dict(), image_size=32, split_hash="0" * 64, test_domains={}, device="cpu", threads=1,
                warmup=0, cost_seed=0)
    Store.create(tmp_path / STORE_NAME, {"spec": spec.to_dict(), "spec_hash": spec.hash}).close()
    seen_by_reports = load_run(tmp_path).spec
    assert seen_by_reports == plan.parsed()
    assert seen_by_reports.hash == spec.hash
    assert seen_by_reports.comparisons == spec.comparisons and seen_by_reports.comparisons is not None


def test_synthetic_runs_store_a_spec_the_harness_parses(tmp_path: Path) -> None:
    cfg = SyntheticConfig(methods=("afr", "maml"), domains=3, seeds=2, episodes=2)
    run = load_run(write_run(cfg, tmp_path / "run"))
    assert run.spec.method_names == ("afr", "maml") and run.spec.seeds == (0, 1)
    assert run.spec.episodes.test_episodes == 2 and run.spec.comparisons is not None
    assert run.spec == make_run(cfg).spec  # in memory and through the store: one spec


def test_a_stored_spec_that_does_not_parse_is_one_clear_error(tmp_path: Path) -> None:
    Store.create(tmp_path / STORE_NAME, {"spec": {"name": "old", "methods": ["afr"]}}).close()
    with pytest.raises(HarnessError, match=r"the spec stored in .* does not parse \(spec field 'seeds' is missing"):
        _ = load_run(tmp_path).spec
