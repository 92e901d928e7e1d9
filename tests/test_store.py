"""The result store: manifest round trip, one all-or-nothing transaction per cell, resume queries, readers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bench.errors import UserError
from bench.store import STORE_NAME, CellResult, SpeedBlockResult, Store, open_store

MANIFEST = {"schema": 1, "spec": {"name": "t", "methods": {"a": {}}, "seeds": [0, 1]}, "spec_hash": "abc",
            "split_hash": "def", "suite": "toy", "environment": {"cpu": "x", "threads": {"torch": 1}}}


def cell(method: str = "a", seed: int = 0, status: str = "done", episodes: int = 2) -> CellResult:
    return CellResult(
        method, seed, status, reason=None if status == "done" else "diverged: loss became nan", parameters=10,
        wall_seconds=1.5,
        metrics=[("depth", "d0", e, m, 0.1 * e + i) for e in range(episodes) for i, m in enumerate(("abs_rel", "rmse"))],
        timings=[("meta_train_step", i, 0.01 * (i + 1), i < 1) for i in range(3)] + [("adapt", 0, 0.002, True)],
        curve=[(0, 0.01, 1.0, '{"depth": 1.0}'), (1, 0.03, 0.9, '{"depth": 0.9}')],
        costs=[("adapt", 1000, 4096), ("infer", 100, 0), ("meta_train_step", 9000, 8192)])


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.create(tmp_path / STORE_NAME, MANIFEST)
    yield s
    s.close()


def test_manifest_round_trips_as_json(store: Store) -> None:
    assert store.manifest() == MANIFEST
    store.set_manifest(finished={"sessions": 1})
    assert store.manifest()["finished"] == {"sessions": 1} and store.manifest()["spec_hash"] == "abc"


def test_wal_mode_for_concurrent_readers(store: Store) -> None:
    assert store.con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_finished_cell_is_stored_whole(store: Store) -> None:
    store.commit_cell(cell())
    assert store.finished_cells() == {("a", 0)}
    values = store.metric_frame()
    assert list(values.columns) == ["method", "seed", "task", "domain", "episode", "metric", "value"]
    assert len(values) == 4 and set(values["metric"]) == {"abs_rel", "rmse"}
    timings = store.timing_frame()
    assert set(timings["source"]) == {"cell"} and timings["warmup"].dtype == bool
    assert timings[timings["phase"] == "meta_train_step"]["warmup"].tolist() == [True, False, False]
    assert len(store.curve_frame()) == 2 and len(store.costs_frame()) == 3
    row = store.cells_frame().iloc[0]
    assert row["status"] == "done" and row["parameters"] == 10 and row["finished_at"].endswith("Z")


def test_a_cell_that_cannot_be_written_leaves_nothing(store: Store) -> None:
    bad = cell()
    bad.metrics.append(bad.metrics[0])  # duplicate primary key: the insert fails half-way through the cell
    with pytest.raises(sqlite3.IntegrityError):
        store.commit_cell(bad)
    assert store.finished_cells() == set()
    assert store.metric_frame().empty and store.timing_frame().empty and store.curve_frame().empty
    store.commit_cell(cell())  # the same cell can then be committed cleanly
    assert store.finished_cells() == {("a", 0)}


def test_a_failed_cell_keeps_its_reason_and_no_partial_rows(store: Store) -> None:
    store.commit_cell(cell(status="failed"))
    cells = store.cells_frame()
    assert cells.loc[0, "status"] == "failed" and "loss became nan" in cells.loc[0, "reason"]
    assert store.metric_frame().empty and store.timing_frame().empty
    assert store.finished_cells() == {("a", 0)}  # failed cells count as finished: resume does not redo them


def test_a_cell_cannot_be_stored_twice(store: Store) -> None:
    store.commit_cell(cell())
    with pytest.raises(sqlite3.IntegrityError):
        store.commit_cell(cell())
    assert len(store.metric_frame()) == 4


def test_speed_blocks(store: Store) -> None:
    rows = [(m, 0, "adapt", pair, pair, 0.01 + pair, pair == 0) for pair in range(3) for m in ("a", "b")]
    store.commit_speed_block(SpeedBlockResult(0, "done", timings=rows))
    store.commit_speed_block(SpeedBlockResult(1, "failed", reason="diverged"))
    assert store.finished_blocks() == {0, 1}
    speed = store.timing_frame()
    assert len(speed) == 6 and set(speed["block"]) == {0} and speed["warmup"].sum() == 2


def test_create_refuses_an_existing_store(tmp_path: Path, store: Store) -> None:
    with pytest.raises(UserError, match="already exists"):
        Store.create(tmp_path / STORE_NAME, MANIFEST)


def test_readers_see_committed_cells_only_and_cannot_write(tmp_path: Path, store: Store) -> None:
    store.commit_cell(cell("a", 0))
    reader = open_store(tmp_path, readonly=True)
    store.con.execute("BEGIN IMMEDIATE")
    store.con.execute("INSERT INTO cells(method, seed, status, finished_at) VALUES ('b', 0, 'done', 'now')")
    assert reader.finished_cells() == {("a", 0)}  # the open transaction is invisible
    store.con.execute("COMMIT")
    assert reader.finished_cells() == {("a", 0), ("b", 0)}
    with pytest.raises(sqlite3.OperationalError):
        reader.con.execute("DELETE FROM cells")
    reader.close()


def test_open_store_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        open_store(tmp_path / "nothing")
    (tmp_path / STORE_NAME).write_bytes(b"not a database at all, just bytes" * 10)
    with pytest.raises(UserError, match="is not"):
        open_store(tmp_path).manifest()


def test_the_reports_loader_reads_the_store(tmp_path: Path, store: Store) -> None:
    from reports.load import find_store, load_run

    store.commit_cell(cell("a", 0))
    store.commit_cell(cell("a", 1))
    assert find_store(tmp_path) == tmp_path / STORE_NAME
    run = load_run(tmp_path)
    assert run.manifest["spec_hash"] == "abc" and len(run.values) == 8 and len(run.cells) == 2
