"""``mtml-bench plan SPEC|RUN_DIR``: which seeds x domains x episodes reach a target effect.

    mtml-bench plan standard                   # the spec's design, smoke baseline as the pilot
    mtml-bench plan standard --pilot runs/std  # components measured by an earlier run
    mtml-bench plan runs/std --target 0.5      # a finished run: can it detect half its ROPE?

Prints, for each confirmatory comparison, the variance components, the detectable
effect at 80% power of the current design and of a grid of designs, and the cheapest
listed design that reaches the target (``reports/plan.py``). Exit 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.errors import UserError
from reports.errors import ReportError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target_of", metavar="SPEC|RUN_DIR",
                        help="a shipped spec (smoke, standard, paper), a spec file, or a run folder")
    parser.add_argument("--pilot", type=Path, metavar="RUN_DIR",
                        help="take the variance components from this run (default for a spec: the smoke baseline)")
    parser.add_argument("--target", type=float, default=1.0,
                        help="target effect as a multiple of each task's ROPE (default 1)")


def run(args: argparse.Namespace) -> int:
    from reports.plan import pilot_from_baseline, pilot_from_run, plan_lines, shipped_pilot, spec_design

    if not args.target > 0:
        print(f"error: --target {args.target} must be a positive multiple of the ROPE, e.g. --target 1",
              file=sys.stderr)
        return 2
    try:
        if Path(args.target_of).is_dir():
            pilot, design = pilot_from_run(args.target_of)
        else:
            from bench.spec import check_names, load_spec

            spec = load_spec(args.target_of)
            check_names(spec)
            design = spec_design(spec)
            comp = spec.comparisons
            assert comp is not None  # spec_design refused a spec without [comparisons]
            if args.pilot is not None:
                pilot = pilot_from_run(args.pilot)[0]
            else:
                pilot = pilot_from_baseline(shipped_pilot(), comp.reference, comp.family_baselines[0])
    except (UserError, ReportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    print("\n".join(plan_lines(pilot, design, args.target)))
    return 0
