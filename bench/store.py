"""The result store: one SQLite file per run (schema ``bench/schema.sql``), written only by the orchestrator.

Why SQLite: one file that a report can read while the run is still writing
(WAL mode), with transactions, so a finished cell is either wholly in the
store or not at all. That is what makes ``--resume`` exact after Ctrl-C or
SIGKILL: the cells that are in the store are finished and are never redone,
the ones that are not left no trace and are run again from their seeds.

Everything stored is raw (every episode's metric values, every timer reading);
the read helpers return it as pandas DataFrames for the reports.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from bench.errors import UserError

STORE_NAME = "results.sqlite"
SCHEMA_VERSION = 1
TABLES = ("manifest", "cells", "metric_values", "timing_samples", "phase_costs", "training_curve", "speed_blocks",
          "unadapted_values", "val_curve", "scaling_costs")


def schema_sql() -> str:
    return (resources.files("bench") / "schema.sql").read_text(encoding="utf-8")


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class CellResult:
    """Everything one (method, seed) cell produced; picklable so that workers can return it."""

    method: str
    seed: int
    status: str  # 'done' | 'failed'
    reason: str | None = None
    parameters: int | None = None
    wall_seconds: float = 0.0
    metrics: list[tuple[str, str, int, str, float]] = field(default_factory=list)  # task, domain, episode, metric, value
    timings: list[tuple[str, int, float, bool]] = field(default_factory=list)  # phase, idx, seconds, warmup
    curve: list[tuple[int, float, float, str]] = field(default_factory=list)  # step, elapsed, loss, task_losses json
    costs: list[tuple[str, int | None, int | None]] = field(default_factory=list)  # phase, flops, peak_bytes
    before: list[tuple[str, str, int, str, float]] = field(default_factory=list)  # as metrics, before adaptation
    val_curve: list[tuple[int, str, str, int, str, float]] = field(default_factory=list)
    # steps done, task, domain (meta-val), episode, metric, value

    @property
    def key(self) -> tuple[str, int]:
        return self.method, self.seed

    def method_seconds(self) -> float:
        """Time spent inside the method's own phases (everything but harness overhead and data)."""
        return sum(s for phase, _, s, _ in self.timings if phase != "data")


@dataclass
class SpeedBlockResult:
    """One block of the interleaved speed section (one fresh process)."""

    block: int
    status: str
    reason: str | None = None
    timings: list[tuple[str, int, str, int, int, float, bool]] = field(default_factory=list)
    # method, seed, phase, pair, idx, seconds, warmup
    costs: list[tuple[str, str, int | None, int | None]] = field(default_factory=list)
    # scaling study, first block of a grid point: method, phase, flops, peak_bytes at that point's size
    point: int | None = None  # the grid point this block ran at (None: the section has no grid)


class Store:
    """A run's SQLite file. Open read-only for reports; the orchestrator is the only writer."""

    def __init__(self, path: Path | str, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        try:
            if readonly:
                self.con = sqlite3.connect(f"file:{self.path.resolve()}?mode=ro", uri=True, isolation_level=None)
            else:
                self.con = sqlite3.connect(self.path, isolation_level=None, timeout=30)
                self.con.execute("PRAGMA journal_mode=WAL")
                self.con.execute("PRAGMA synchronous=FULL")
            present = {r[0] for r in self.con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as err:
            raise UserError(f"{self.path} is not a readable mtml-bench store ({err}). "
                            "Pass a folder written by 'mtml-bench run'.") from None
        if not readonly:
            self.con.executescript(schema_sql())  # additive tables of newer schemas appear in old stores
        elif "manifest" not in present:
            raise UserError(f"{self.path} is not an mtml-bench store (no manifest table). "
                            "Pass a folder written by 'mtml-bench run'.")

    # ---- creation ------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path | str, manifest: dict[str, Any]) -> Store:
        """A new store with its manifest. Values keep their key order (JSON, not sorted): the stored spec's
        method order is the spec's, so a report lists methods as the runner ran them."""
        path = Path(path)
        if path.exists():
            raise UserError(f"{path} already exists; resume it with --resume {path.parent} or pass --overwrite")
        store = cls(path)
        with store.transaction():
            store.con.executemany("INSERT INTO manifest(key, value) VALUES (?, ?)",
                                  [(k, json.dumps(v)) for k, v in manifest.items()])
        return store

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT: all or nothing, even if the process is killed inside."""
        self.con.execute("BEGIN IMMEDIATE")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def set_manifest(self, **values: Any) -> None:
        with self.transaction():
            self.con.executemany("INSERT OR REPLACE INTO manifest(key, value) VALUES (?, ?)",
                                 [(k, json.dumps(v)) for k, v in values.items()])

    # ---- writing results ---------------------------------------------------------------------
    def commit_cell(self, r: CellResult) -> None:
        """One transaction per finished cell. A failed cell keeps only its reason (no partial rows)."""
        with self.transaction() as con:
            con.execute("INSERT INTO cells(method, seed, status, reason, parameters, wall_seconds, finished_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (r.method, r.seed, r.status, r.reason, r.parameters, r.wall_seconds, utc_now()))
            if r.status != "done":
                return
            con.executemany("INSERT INTO metric_values(method, seed, task, domain, episode, metric, value) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?)", [(r.method, r.seed, *row) for row in r.metrics])
            con.executemany("INSERT INTO timing_samples(source, method, seed, phase, block, pair, idx, seconds, warmup) "
                            "VALUES ('cell', ?, ?, ?, 0, 0, ?, ?, ?)",
                            [(r.method, r.seed, ph, idx, s, int(w)) for ph, idx, s, w in r.timings])
            con.executemany("INSERT INTO training_curve(method, seed, step, elapsed, loss, task_losses) "
                            "VALUES (?, ?, ?, ?, ?, ?)", [(r.method, r.seed, *row) for row in r.curve])
            con.executemany("INSERT OR REPLACE INTO phase_costs(method, phase, flops, peak_bytes) VALUES (?, ?, ?, ?)",
                            [(r.method, *row) for row in r.costs])
            con.executemany("INSERT INTO unadapted_values(method, seed, task, domain, episode, metric, value) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?)", [(r.method, r.seed, *row) for row in r.before])
            con.executemany("INSERT INTO val_curve(method, seed, step, task, domain, episode, metric, value) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [(r.method, r.seed, *row) for row in r.val_curve])

    def commit_speed_block(self, r: SpeedBlockResult) -> None:
        with self.transaction() as con:
            con.execute("INSERT INTO speed_blocks(block, status, reason, finished_at) VALUES (?, ?, ?, ?)",
                        (r.block, r.status, r.reason, utc_now()))
            if r.status != "done":
                return
            con.executemany("INSERT INTO timing_samples(source, method, seed, phase, block, pair, idx, seconds, warmup) "
                            "VALUES ('speed', ?, ?, ?, ?, ?, ?, ?, ?)",
                            [(m, seed, ph, r.block, pair, idx, s, int(w)) for m, seed, ph, pair, idx, s, w in r.timings])
            if r.costs:
                con.executemany("INSERT OR REPLACE INTO scaling_costs(point, method, phase, flops, peak_bytes) "
                                "VALUES (?, ?, ?, ?, ?)", [(r.point, *row) for row in r.costs])

    def write_rows(self, table: str, frame: pd.DataFrame) -> None:
        """Raw rows of one table in one transaction: for runs made elsewhere (the reports' synthetic runs),
        so that every store is written here, against this schema. Columns must be the table's own."""
        if table not in TABLES or table == "manifest":
            raise ValueError(f"write_rows takes a result table, not {table!r}; tables: {', '.join(TABLES[1:])}")
        if frame.empty:
            return
        cols = list(frame.columns)
        records = [tuple(v.item() if hasattr(v, "item") else v for v in row)
                   for row in frame.itertuples(index=False, name=None)]
        with self.transaction() as con:
            con.executemany(f"INSERT INTO {table}({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                            records)  # noqa: S608 - fixed table names, the frame's own columns

    def tables(self) -> set[str]:
        """The tables this store has (an older store may lack tables added since)."""
        return {r[0] for r in self.con.execute("SELECT name FROM sqlite_master WHERE type='table'")}

    # ---- resume queries ----------------------------------------------------------------------
    def finished_cells(self) -> set[tuple[str, int]]:
        """Cells with a committed row, done or failed: neither is run again on resume."""
        return {(m, int(s)) for m, s in self.con.execute("SELECT method, seed FROM cells")}

    def finished_blocks(self) -> set[int]:
        return {int(b) for (b,) in self.con.execute("SELECT block FROM speed_blocks")}

    # ---- reading -----------------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self.con.execute("SELECT key, value FROM manifest")}

    def frame(self, table: str) -> pd.DataFrame:
        if table not in TABLES:
            raise ValueError(f"unknown store table {table!r}; tables: {', '.join(TABLES)}")
        return pd.read_sql_query(f"SELECT * FROM {table}", self.con)  # noqa: S608 - fixed names

    def cells_frame(self) -> pd.DataFrame:
        return self.frame("cells")

    def metric_frame(self) -> pd.DataFrame:
        """method, seed, task, domain, episode, metric, value: one row per held-out episode and metric."""
        return self.frame("metric_values")

    def timing_frame(self) -> pd.DataFrame:
        """source, method, seed, phase, block, pair, idx, seconds, warmup (bool): every raw timer reading."""
        frame = self.frame("timing_samples")
        frame["warmup"] = frame["warmup"].astype(bool)
        return frame

    def costs_frame(self) -> pd.DataFrame:
        return self.frame("phase_costs")

    def curve_frame(self) -> pd.DataFrame:
        return self.frame("training_curve")

    def unadapted_frame(self) -> pd.DataFrame:
        """As ``metric_frame``, for the same held-out episodes scored before adaptation (zero steps)."""
        return self.frame("unadapted_values")

    def scaling_costs_frame(self) -> pd.DataFrame:
        """point, method, phase, flops, peak_bytes: a scaling study's costs at each point of its grid."""
        return self.frame("scaling_costs")

    def val_curve_frame(self) -> pd.DataFrame:
        """method, seed, step (meta-train steps done), task, domain, episode, metric, value: the learning curves."""
        return self.frame("val_curve")

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def store_path(run_dir: Path | str) -> Path:
    path = Path(run_dir)
    return path if path.suffix == ".sqlite" else path / STORE_NAME


def open_store(run: Path | str, readonly: bool = True) -> Store:
    """The store of a run folder (or the file itself); a one-line error if there is none."""
    path = store_path(run)
    if not path.is_file():
        raise UserError(f"{path} does not exist. Pass a folder written by 'mtml-bench run'.")
    return Store(path, readonly=readonly)
