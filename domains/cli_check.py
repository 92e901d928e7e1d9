"""``mtml-bench check SUITE --root DIR``: scan a dataset folder before a long run.

    mtml-bench check taskonomy --root /data/taskonomy
    mtml-bench check nyuv2 --root /data/nyuv2 --max-per-domain 20

Prints counts per domain and task, stored dtypes, value ranges in the
benchmark's units and every file the loader cannot read or would skip. Exit
0 when nothing is wrong, 2 with the list of problems otherwise.
"""

from __future__ import annotations

import argparse

from domains.cli_options import USER_ERRORS, CliError, add_suite_arguments, build_suite, fail
from domains.tasks import TASK_NAMES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_suite_arguments(parser)
    parser.add_argument("--tasks", metavar="LIST", help=f"comma-separated tasks to check (default: every task on "
                                                         f"disk; known: {', '.join(TASK_NAMES)})")
    parser.add_argument("--max-per-domain", type=int, metavar="N",
                        help="decode at most N evenly spaced samples per domain (default: all)")


def run(args: argparse.Namespace) -> int:
    from domains.check import check_suite, format_report
    from domains.realdata import RealSuite

    try:
        if args.max_per_domain is not None and args.max_per_domain < 1:
            raise CliError(f"--max-per-domain {args.max_per_domain} must be at least 1")
        tasks = tuple(t.strip() for t in (args.tasks or "").split(",") if t.strip())
        unknown = [t for t in tasks if t not in TASK_NAMES]
        if unknown:
            raise CliError(f"--tasks: unknown task(s) {', '.join(unknown)}; known: {', '.join(TASK_NAMES)}")
        suite = build_suite(args.suite, args.root, args.option)
        if not isinstance(suite, RealSuite):
            raise CliError(f"suite '{args.suite}' is not read from a dataset folder, so there is nothing to check; "
                           f"check reads the real-data suites (taskonomy, diode, nyuv2, scannet_vp)")
        report = check_suite(suite, tasks or None, args.max_per_domain)
    except USER_ERRORS as err:
        return fail(err)
    print(format_report(report))
    problems = report.all_problems()
    if problems:
        return fail(CliError(f"{len(problems)} problem(s) in {report.root}, listed above"))
    return 0
