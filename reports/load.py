"""Read a run's SQLite store into pandas DataFrames (schema: ``bench/schema.sql``).

Reports are always recomputed from the raw rows, so this module does no
summarising at all: it returns every episode value and every timer reading.
It opens the store read-only, so a report can never modify a run.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from reports.errors import HarnessError, ReportError

STORE_CANDIDATES = ("results.sqlite", "store.sqlite", "results.db", "store.db")
TABLES = ("manifest", "cells", "metric_values", "timing_samples", "phase_costs", "training_curve")
OPTIONAL_TABLES = ("speed_blocks", "unadapted_values", "val_curve")  # absent in stores of older runs
VALUE_COLUMNS = ("method", "seed", "task", "domain", "episode", "metric", "value")
CURVE_COLUMNS = ("method", "seed", "step", "task", "domain", "episode", "metric", "value")


@dataclass
class RunData:
    """One run's raw results."""

    path: Path  # the store file
    manifest: dict[str, Any]
    cells: pd.DataFrame  # method, seed, status, reason, parameters, wall_seconds, finished_at
    values: pd.DataFrame  # method, seed, task, domain, episode, metric, value
    timings: pd.DataFrame  # source, method, seed, phase, block, pair, idx, seconds, warmup
    costs: pd.DataFrame  # method, phase, flops, peak_bytes
    curves: pd.DataFrame  # method, seed, step, elapsed, loss, task_losses
    speed_blocks: pd.DataFrame = field(  # block, status, reason: the interleaved speed section's processes
        default_factory=lambda: pd.DataFrame(columns=["block", "status", "reason"]))
    unadapted: pd.DataFrame = field(  # as values, the same episodes scored before adaptation (zero steps)
        default_factory=lambda: pd.DataFrame(columns=list(VALUE_COLUMNS)))
    val_curve: pd.DataFrame = field(  # learning curves: fixed meta-val episodes scored every K meta-train steps
        default_factory=lambda: pd.DataFrame(columns=list(CURVE_COLUMNS)))

    @property
    def run_dir(self) -> Path:
        return self.path.parent

    @property
    def spec(self) -> dict[str, Any]:
        spec = self.manifest.get("spec", {})
        return spec if isinstance(spec, dict) else {}

    @property
    def failures(self) -> pd.DataFrame:
        return self.cells[self.cells["status"] == "failed"][["method", "seed", "reason"]].reset_index(drop=True)

    @property
    def speed_failures(self) -> list[dict[str, Any]]:
        """Speed-section blocks that failed: their pairs are missing, so speed CIs rest on fewer blocks."""
        failed = self.speed_blocks[self.speed_blocks["status"] != "done"]
        return [{"block": int(r.block), "reason": r.reason} for r in failed.itertuples()]


def _store_name_from_runner() -> tuple[str, ...]:
    """The runner's own file name first, when ``bench.store`` declares one."""
    try:
        from bench import store  # optional: the runner owns the file name
    except Exception:  # noqa: BLE001 - any import problem just means "use the documented candidates"
        return ()
    names = [getattr(store, attr) for attr in ("STORE_NAME", "STORE_FILENAME", "STORE_FILE") if hasattr(store, attr)]
    return tuple(str(n) for n in names if isinstance(n, str | Path))


def find_store(run: Path | str) -> Path:
    """The store of a run folder (or the file itself); a clear error when there is none."""
    path = Path(run)
    if path.is_file():
        return path
    if not path.is_dir():
        raise ReportError(f"run folder {path} does not exist. Pass the folder a 'mtml-bench run' wrote.")
    for name in (*_store_name_from_runner(), *STORE_CANDIDATES):
        if (path / name).is_file():
            return path / name
    found = sorted([*path.glob("*.sqlite"), *path.glob("*.db")])
    if len(found) == 1:
        return found[0]
    if not found:
        raise ReportError(f"{path} holds no result store (*.sqlite). Pass the folder a 'mtml-bench run' wrote.")
    raise ReportError(f"{path} holds several stores ({', '.join(p.name for p in found)}). Pass the store file itself.")


def _decode(value: str) -> Any:
    try:
        return json.loads(value)
    except (TypeError, json.JSONDecodeError):
        return value


def load_run(run: Path | str) -> RunData:
    """Every raw row of a run, as DataFrames with stable dtypes and column order."""
    store = find_store(run)
    uri = f"file:{store.resolve()}?mode=ro"
    try:
        con = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise HarnessError(f"cannot open the store {store}: {exc}. Check the file is a mtml-bench SQLite store.") from exc
    try:
        present = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        missing = [t for t in TABLES if t not in present]
        if missing:
            raise HarnessError(f"the store {store} lacks the tables {', '.join(missing)}. "
                               "It was not written by mtml-bench (bench/schema.sql); re-run the benchmark.")
        manifest = {k: _decode(v) for k, v in con.execute("SELECT key, value FROM manifest")}
        frames = {t: pd.read_sql_query(f"SELECT * FROM {t}", con) for t in TABLES[1:]}  # noqa: S608 - fixed names
        empty = {"speed_blocks": ["block", "status", "reason"], "unadapted_values": list(VALUE_COLUMNS),
                 "val_curve": list(CURVE_COLUMNS)}
        optional = {t: (pd.read_sql_query(f"SELECT * FROM {t}", con) if t in present  # noqa: S608 - fixed names
                        else pd.DataFrame(columns=empty[t])) for t in OPTIONAL_TABLES}
    except sqlite3.DatabaseError as exc:
        raise HarnessError(f"cannot read the store {store}: {exc}. The file is damaged; re-run the benchmark.") from exc
    finally:
        con.close()
    values = frames["metric_values"]
    values["value"] = values["value"].astype(float)
    timings = frames["timing_samples"]
    timings["seconds"] = timings["seconds"].astype(float)
    timings["warmup"] = timings["warmup"].astype(bool)
    for table in ("unadapted_values", "val_curve"):
        optional[table]["value"] = optional[table]["value"].astype(float)
    return RunData(path=store, manifest=manifest, cells=frames["cells"], values=values, timings=timings,
                   costs=frames["phase_costs"], curves=frames["training_curve"], speed_blocks=optional["speed_blocks"],
                   unadapted=optional["unadapted_values"], val_curve=optional["val_curve"])
