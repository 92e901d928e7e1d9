"""Export a run's store to TensorBoard event files: one TensorBoard run per cell (method, seed).

TensorBoard is what most meta-learning code bases log to, so a run exported
here can be browsed beside them (``tensorboard --logdir OUT``). Layout::

    OUT/{method}/seed{seed}/events.out.tfevents...

Per cell:
- every learning-curve table the store holds (``training_curve`` today; any
  table whose name ends in ``_curve`` and has ``method, seed, step`` columns),
  each numeric column a scalar ``{table}/{column}`` against ``step``; the
  per-task losses of ``training_curve.task_losses`` as ``training_curve/loss/{task}``;
- the final metrics: ``final/{task}/{metric}``, the mean over held-out domains of
  each domain's mean over episodes (the same weighting the report uses),
  written at the cell's last training step;
- the cell's status and wall time as ``cell/wall_seconds`` and ``cell/failed``.

Only the store is read (never a method), and the values are written as
stored, so the export is a view of the run, not a second measurement. It needs
the optional extra ``tensorboard`` (``pip install 'mtml-bench[tensorboard]'``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bench.store import TABLES, open_store
from reports.errors import ReportError

KEYS = ("method", "seed", "step")


@dataclass
class ExportSummary:
    out: Path
    cells: int
    curve_points: int  # scalar values written from curve tables
    final_values: int  # final/{task}/{metric} scalars written


def _writer_class() -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ReportError("the TensorBoard export needs the 'tensorboard' package: "
                          "pip install 'mtml-bench[tensorboard]'") from None
    return SummaryWriter


def curve_tables(columns: dict[str, list[str]]) -> list[str]:
    """Tables holding learning curves: ``training_curve`` and any ``*_curve`` table keyed by method, seed, step."""
    return [t for t, cols in columns.items() if t.endswith("_curve") and all(k in cols for k in KEYS)]


def final_metrics(metrics: pd.DataFrame) -> pd.DataFrame:
    """method, seed, task, metric, value: per cell, the mean over domains of each domain's episode mean."""
    if metrics.empty:
        return pd.DataFrame(columns=["method", "seed", "task", "metric", "value"])
    per_domain = metrics.groupby(["method", "seed", "task", "metric", "domain"], as_index=False)["value"].mean()
    return per_domain.groupby(["method", "seed", "task", "metric"], as_index=False)["value"].mean()


def export_run(run_dir: Path, out: Path) -> ExportSummary:
    """Write the event files; returns how many values went out."""
    writer_class = _writer_class()
    with open_store(run_dir) as store:
        cells = store.cells_frame()
        metrics = store.metric_frame()
        present = store.tables()  # a store of an older run lacks the tables added since
        columns = {t: list(store.frame(t).columns) for t in TABLES if t in present}
        curves = {t: store.frame(t) for t in curve_tables(columns)}
    if cells.empty:
        raise ReportError(f"{run_dir} holds no finished cell yet; run or resume it first")
    finals = final_metrics(metrics)
    out.mkdir(parents=True, exist_ok=True)
    points = values = 0
    for cell in cells.itertuples(index=False):
        method, seed = str(cell.method), int(cell.seed)
        writer = writer_class(log_dir=str(out / method / f"seed{seed}"))
        last_step = 0
        try:
            for table, frame in curves.items():
                rows = frame[(frame["method"] == method) & (frame["seed"] == seed)].sort_values("step")
                numeric = [c for c in rows.columns if c not in KEYS and pd.api.types.is_numeric_dtype(rows[c])]
                for row in rows.itertuples(index=False):
                    step = int(row.step)
                    last_step = max(last_step, step)
                    for column in numeric:
                        writer.add_scalar(f"{table}/{column}", float(getattr(row, column)), step)
                        points += 1
                    for task, loss in _task_losses(getattr(row, "task_losses", None)).items():
                        writer.add_scalar(f"{table}/loss/{task}", loss, step)
                        points += 1
            mine = finals[(finals["method"] == method) & (finals["seed"] == seed)]
            for row in mine.itertuples(index=False):
                writer.add_scalar(f"final/{row.task}/{row.metric}", float(row.value), last_step)
                values += 1
            writer.add_scalar("cell/wall_seconds", float(cell.wall_seconds or math.nan), last_step)
            writer.add_scalar("cell/failed", float(cell.status != "done"), last_step)
        finally:
            writer.close()
    return ExportSummary(out, len(cells), points, values)


def _task_losses(text: Any) -> dict[str, float]:
    if not isinstance(text, str) or not text:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return {str(k): float(v) for k, v in data.items() if isinstance(v, int | float)} if isinstance(data, dict) else {}
