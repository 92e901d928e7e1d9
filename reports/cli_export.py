"""``mtml-bench export RUN --to DIR``: a run's learning curves and final metrics as TensorBoard event files.

Then ``tensorboard --logdir DIR`` shows one run per (method, seed). Needs the
optional extra: ``pip install 'mtml-bench[tensorboard]'``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reports.errors import ReportError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, metavar="RUN", help="a run folder written by 'mtml-bench run'")
    parser.add_argument("--to", type=Path, metavar="DIR",
                        help="folder for the event files (default: RUN/tensorboard)")


def run(args: argparse.Namespace) -> int:
    from reports.tensorboard_export import export_run

    out = args.to if args.to is not None else args.run_dir / "tensorboard"
    if out.exists() and not out.is_dir():
        print(f"error: --to {out} is a file; name a folder", file=sys.stderr)
        return 2
    try:
        summary = export_run(args.run_dir, out)
    except ReportError as err:
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return err.exit_code
    print(f"wrote {summary.cells} cell(s) to {summary.out}: {summary.curve_points} curve values, "
          f"{summary.final_values} final metrics. View: tensorboard --logdir {summary.out}")
    return 0
