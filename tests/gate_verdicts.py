"""Where the gate tests leave their verdicts, so that the session ends with one table (see conftest.py).

Tests run in xdist workers; the terminal summary runs in the controller. Each test that evaluates gates
writes one JSON file into a folder under the session's base temp folder, which the controller reads.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

FOLDER = "gate-verdicts"


def folder(factory: pytest.TempPathFactory) -> Path:
    """The session's verdict folder (shared by every xdist worker and the controller)."""
    base = factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    path = root / FOLDER
    path.mkdir(parents=True, exist_ok=True)
    return path


def record(factory: pytest.TempPathFactory, name: str, rows: list[dict[str, Any]]) -> None:
    """rows: {'source', 'gate', 'estimate', 'bound', 'detectable', 'unit', 'verdict', 'exit'} each."""
    (folder(factory) / f"{name}.json").write_text(json.dumps(rows))


def read_all(root: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted((root / FOLDER).glob("*.json")) if (root / FOLDER).is_dir() else []:
        try:
            rows += json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
    return rows


def _fmt(x: Any, unit: str) -> str:
    if not isinstance(x, int | float):
        return "-"
    return f"x{x:.3f}" if unit.startswith("x ") else f"{x:+.3g}"


def table(rows: list[dict[str, Any]]) -> list[str]:
    head = ("run", "gate", "estimate", "bound", "detectable", "unit", "verdict", "exit")
    body = [(str(r.get("source", "")), str(r["gate"]), _fmt(r.get("estimate"), r.get("unit", "")),
             _fmt(r.get("bound"), r.get("unit", "")), _fmt(r.get("detectable"), r.get("unit", "")),
             r.get("unit") or "-", str(r["verdict"]), str(r.get("exit", "")))
            for r in rows]
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(x, widths, strict=True)) for x in [head, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def gate_rows(source: str, gates: list[Any], exit_code: int | str, keep: Any = None) -> list[dict[str, Any]]:
    """Table rows of the decisive gates (numerics, gated quality and speed, and anything not OK/INFO)."""
    out = []
    for g in gates:
        shown = g.kind in ("numerics", "quality", "speed") and (g.gated or g.kind == "numerics")
        if keep is not None:
            shown = keep(g)
        if shown or g.status in ("REGRESSED", "INCONCLUSIVE"):
            out.append({"source": source, "gate": g.id, "estimate": g.estimate, "bound": g.bound,
                        "detectable": g.detectable, "unit": g.unit, "verdict": g.status, "exit": exit_code})
    return out
