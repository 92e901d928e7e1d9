"""``mtml-bench report RUN_DIR [--out DIR]``: write a run's statistical report.

Exit codes: 0 written; 2 user error (no such run); 3 unbalanced design (the
missing cells are listed); 4 broken run (unreadable store, non-finite metrics).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reports.errors import DesignError, ReportError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="a folder written by 'mtml-bench run'")
    parser.add_argument("--out", type=Path, default=None, help="report folder (default: RUN_DIR/report)")


def run(args: argparse.Namespace) -> int:
    from reports.report import build_report  # deferred: matplotlib import is slow and only needed here

    try:
        index = build_report(args.run_dir, args.out)
    except DesignError as exc:
        print(f"error: {exc}", file=sys.stderr)
        for cell in exc.missing:
            print("missing: " + " ".join(f"{k}={v}" for k, v in cell.items()), file=sys.stderr)
        return exc.exit_code
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"report: {index}")
    return 0
