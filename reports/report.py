"""One call from a run folder to its report folder: load, check, analyse, render.

The runner calls ``build_report`` at the end of ``mtml-bench run`` (so that
``tox -e bench`` ends by printing the report's path), and ``mtml-bench report``
calls it on any finished run.
"""

from __future__ import annotations

from pathlib import Path

from reports.analysis import analyse
from reports.load import load_run
from reports.render import write_report


def build_report(run_dir: Path | str, out: Path | str | None = None) -> Path:
    """Write ``RUN_DIR/report/`` (or ``out``) and return the path of its index.html.

    Raises ``reports.errors.ReportError`` (exit-coded) for an unbalanced design, a broken store or a bad spec.
    """
    run = load_run(run_dir)
    folder = Path(out) if out is not None else run.run_dir / "report"
    return write_report(analyse(run), folder)
