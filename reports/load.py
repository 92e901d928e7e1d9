"""A run's raw rows for the reports, read through ``bench.store`` (schema: ``bench/schema.sql``).

Reports are always recomputed from the raw rows, so this module does no
summarising at all: it returns every episode value and every timer reading.
The store is opened read-only through the harness's own ``Store`` (one reader
and writer of the schema), and the run's spec is the harness's own parse of the
stored spec (``bench.spec.parse_spec``), so a report tests exactly the
comparisons the run declared.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from bench.errors import UserError
from bench.spec import Spec, parse_spec
from bench.store import STORE_NAME, TABLES, Store
from reports.errors import HarnessError, ReportError

REQUIRED = ("cells", "metric_values", "timing_samples", "phase_costs", "training_curve")
OPTIONAL_TABLES = ("speed_blocks", "unadapted_values", "val_curve", "scaling_costs")  # absent in older stores
SCALING_COST_COLUMNS = ("point", "method", "phase", "flops", "peak_bytes")
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
    scaling_costs: pd.DataFrame = field(  # scaling study: FLOPs and peak memory per phase at each grid point
        default_factory=lambda: pd.DataFrame(columns=list(SCALING_COST_COLUMNS)))

    @property
    def run_dir(self) -> Path:
        return self.path.parent

    @cached_property
    def spec(self) -> Spec:
        """The run's spec, parsed by the harness's own parser (the one the runner used)."""
        stored = self.manifest.get("spec")
        try:
            return parse_spec(stored if isinstance(stored, dict) else {})
        except UserError as err:
            raise HarnessError(f"the spec stored in {self.path} does not parse ({err}); it was written by another "
                               "version of mtml-bench. Re-run the benchmark with this version.") from None

    @property
    def failures(self) -> pd.DataFrame:
        return self.cells[self.cells["status"] == "failed"][["method", "seed", "reason"]].reset_index(drop=True)

    @property
    def speed_failures(self) -> list[dict[str, Any]]:
        """Speed-section blocks that failed: their pairs are missing, so speed CIs rest on fewer blocks."""
        failed = self.speed_blocks[self.speed_blocks["status"] != "done"]
        return [{"block": int(r.block), "reason": r.reason} for r in failed.itertuples()]


def find_store(run: Path | str) -> Path:
    """The store of a run folder (``bench.store.STORE_NAME``), or the file itself; a clear error when there is none."""
    path = Path(run)
    if path.is_file():
        return path
    if not path.is_dir():
        raise ReportError(f"run folder {path} does not exist. Pass the folder a 'mtml-bench run' wrote.")
    if not (path / STORE_NAME).is_file():
        raise ReportError(f"{path} holds no result store ({STORE_NAME}). Pass the folder a 'mtml-bench run' wrote.")
    return path / STORE_NAME


def load_run(run: Path | str) -> RunData:
    """Every raw row of a run, as DataFrames with stable dtypes and column order."""
    path = find_store(run)
    try:
        with Store(path, readonly=True) as store:
            present = store.tables()
            missing = [t for t in REQUIRED if t not in present]
            if missing:
                raise HarnessError(f"the store {path} lacks the tables {', '.join(missing)}. "
                                   "It was not written by mtml-bench (bench/schema.sql); re-run the benchmark.")
            manifest = store.manifest()
            frames = {t: store.frame(t) for t in TABLES[1:] if t in present}
    except UserError as err:
        raise HarnessError(f"cannot open the store {path}: {err}") from None
    except (sqlite3.DatabaseError, pd.errors.DatabaseError) as exc:
        raise HarnessError(f"cannot read the store {path}: {exc}. The file is damaged; re-run the benchmark.") from exc
    empty = {"speed_blocks": ["block", "status", "reason"], "unadapted_values": list(VALUE_COLUMNS),
             "val_curve": list(CURVE_COLUMNS), "scaling_costs": list(SCALING_COST_COLUMNS)}
    optional = {t: frames[t] if t in frames else pd.DataFrame(columns=empty[t]) for t in OPTIONAL_TABLES}
    values = frames["metric_values"]
    values["value"] = values["value"].astype(float)
    timings = frames["timing_samples"]
    timings["seconds"] = timings["seconds"].astype(float)
    timings["warmup"] = timings["warmup"].astype(bool)
    for table in ("unadapted_values", "val_curve"):
        optional[table]["value"] = optional[table]["value"].astype(float)
    return RunData(path=path, manifest=manifest, cells=frames["cells"], values=values, timings=timings,
                   costs=frames["phase_costs"], curves=frames["training_curve"], speed_blocks=optional["speed_blocks"],
                   unadapted=optional["unadapted_values"], val_curve=optional["val_curve"],
                   scaling_costs=optional["scaling_costs"])
