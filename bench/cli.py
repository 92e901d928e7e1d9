"""``mtml-bench``: the command line (console script ``mtml-bench = bench.cli:main``).

``list`` and ``run`` live here; the other subcommands belong to other packages
and are wired through their ``cli_<name>`` modules (``add_arguments(parser)``
and ``run(args) -> int``). Only the chosen subcommand's module is imported, so
a missing or slow one costs the others nothing, and a subcommand whose module
is not there yet says so and exits 2.

Exit codes: 0 success; 1 ``run`` finished but every cell it ran failed
(each reason is printed and stored); 2 a user error (one line on stderr,
never a traceback); 130 interrupted (the run can be resumed); others as each
subcommand documents.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from bench.errors import UserError

if TYPE_CHECKING:
    from bench.orchestrator import Outcome

# subcommand -> (module, one-line help)
DELEGATED: dict[str, tuple[str, str]] = {
    "report": ("reports.cli_report", "write a run's statistical report (HTML, Markdown, tables, figures)"),
    "regress": ("reports.cli_regress", "regression gate of a run against a stored baseline"),
    "preview": ("domains.cli_preview", "a grid of a suite's images and labels, to check it by eye"),
    "split": ("domains.cli_split", "write or verify a suite's hashed split manifest"),
    "check": ("domains.cli_check", "scan a real dataset folder: counts, dtypes, value ranges, unreadable files"),
    "tune": ("bench.cli_tune", "choose hyper-parameters on meta-val domains, same budget for every method"),
    "plan": ("reports.cli_plan", "which seeds x domains x episodes detect a target effect (power of the design)"),
    "specs": ("bench.cli_specs", "list the shipped specs, or print one (a starting point for your own)"),
    "download": ("domains.cli_download", "fetch a real suite's public release into the layout its loader reads"),
    "export": ("reports.cli_export", "export a run's training curves and final metrics to TensorBoard"),
    "install-learn2learn": ("bench.cli_learn2learn", "build learn2learn 0.2.0 (the MAML-family baselines) and "
                            "install it into this environment"),
}


def _delegate(name: str) -> ModuleType | None:
    module_name = DELEGATED[name][0]
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name == module_name:
            return None
        raise


def build_parser(chosen: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mtml-bench", description="A benchmark harness for multi-task "
                                     "meta-learning: AFR against the MAML family on identical domain splits.")
    parser.add_argument("--version", action="version", version=f"mtml-bench {package_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    sub.add_parser("list", help="registered methods, suites, tasks and metrics",
                   description="Print the registered methods, suites, tasks and metrics, a table each.")

    run = sub.add_parser("run", help="run a benchmark spec (or resume a killed run)",
                         description="Run every (method, seed) cell of a spec and store raw results in "
                                     "OUT/results.sqlite.")
    run.add_argument("spec", nargs="?", metavar="SPEC",
                     help="a shipped spec (see 'mtml-bench specs') or a TOML file; optional with --resume")
    run.add_argument("--out", type=Path, help="run folder (default: runs/<UTC timestamp>-<spec name>/)")
    run.add_argument("--resume", type=Path, metavar="DIR", help="continue the run in DIR (its spec is in its store)")
    run.add_argument("--overwrite", action="store_true", help="replace an existing store in --out")
    run.add_argument("--set", dest="assignments", action="append", default=[], metavar="SECTION.KEY=VALUE",
                     help="override any spec field, validated like the file, e.g. --set training.budget_steps=50 "
                          "or --set network.widths=[8,16,16,32] (repeatable)")
    run.add_argument("--root", metavar="DIR", help="data folder of a real suite (sets suite.root)")
    run.add_argument("--methods", help="comma-separated methods to run instead of the spec's")
    run.add_argument("--seeds", help="seed count N (indices 0..N-1) or a comma list of seed indices")
    run.add_argument("--device", help="cpu, cuda, cuda:N or auto")
    run.add_argument("--executor", choices=("inline", "process", "ray"), help="where cells run")
    run.add_argument("--address", help="Ray cluster address (with --executor ray)")
    run.add_argument("--workers", type=int, help="process-pool size (default: the cores)")
    run.add_argument("--threads", type=int, help="torch threads per worker (default: cores / workers)")
    run.add_argument("--report", action="store_true", help="write the report when the run finishes")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")

    for name, (_, text) in DELEGATED.items():
        p = sub.add_parser(name, help=text, description=text)
        if name == chosen:
            module = _delegate(name)
            if module is not None:
                module.add_arguments(p)
            else:  # accept anything, so that the 'not available' message is what the user sees
                p.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def package_version() -> str:
    """The installed distribution's version (what pip reports), or 'unknown' when run from a bare checkout."""
    from importlib import metadata

    try:
        return metadata.version("mtml-bench")
    except metadata.PackageNotFoundError:
        return "unknown (not installed; run 'pip install .' in the repository)"


def _chosen(argv: Sequence[str]) -> str | None:
    for arg in argv:
        if not arg.startswith("-"):
            return arg
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        chosen = _chosen(argv)
        args = build_parser(chosen if chosen in DELEGATED else None).parse_args(argv)
        if args.command == "list":
            from bench.cli_list import print_lists

            return print_lists()
        if args.command == "run":
            return cmd_run(args)
        module = _delegate(args.command)
        if module is None:
            raise UserError(f"`mtml-bench {args.command}` is not available yet (its issue is still open: "
                            f"{DELEGATED[args.command][0]} is not in this installation). Update mtml-bench.")
        return int(module.run(args))
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("error: interrupted.", file=sys.stderr)
        return 130


def cmd_run(args: argparse.Namespace) -> int:
    from bench import orchestrator
    from bench.overrides import apply_overrides
    from bench.spec import load_spec, parse_seeds

    for flag in ("workers", "threads"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise UserError(f"--{flag} {value}: must be at least 1")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
    seeds = parse_seeds(args.seeds) if args.seeds else None
    runtime = {"device": args.device, "executor": args.executor, "address": args.address,
               "workers": args.workers, "threads": args.threads}
    progress = not args.no_progress
    if args.resume is not None:
        if methods is not None or seeds is not None or args.assignments or args.root is not None:
            raise UserError("--methods, --seeds, --set and --root cannot change a resumed run (its spec is in its "
                            "store). Drop them, or start a new run with --out.")
        if args.out is not None and args.out.resolve() != args.resume.resolve():
            raise UserError("--out and --resume name different folders; a resumed run stays in its folder. Drop --out.")
        given = load_spec(args.spec).with_overrides() if args.spec else None
        outcome = orchestrator.resume(args.resume, given, runtime, progress)
    else:
        if not args.spec:
            raise UserError("run needs a SPEC (a shipped one, see 'mtml-bench specs', or a TOML file), "
                            "or --resume DIR")
        spec = apply_overrides(load_spec(args.spec), args.assignments, args.root)
        spec = spec.with_overrides(methods=methods, seeds=seeds, **runtime)
        outcome = orchestrator.start(spec, args.out, args.overwrite, progress)
    _closing(outcome)
    code = all_failed(outcome)
    if args.report and code == 0:
        code = _report(outcome.run_dir)
    return code


def _closing(o: Outcome) -> None:
    for method, seed, reason in o.failed:
        what = f"speed block {seed}" if method == "speed" else f"cell {method} seed {seed}"
        print(f"warning: {what} failed: {reason}", file=sys.stderr)
    line = f"ran {o.ran} of {o.cells} cells in {o.wall_seconds:.1f} s ({o.workers} worker(s))"
    if o.ran:
        line += (f"; time outside method phases: {100 * o.cell_overhead:.1f}% of cell time, "
                 f"{100 * o.total_overhead:.1f}% of worker capacity")
    print(line, file=sys.stderr)
    print(f"run folder: {o.run_dir}")
    print(f"report: mtml-bench report {o.run_dir}")


ALL_FAILED = 1


def all_failed(o: Outcome) -> int:
    """Exit 1 when every cell this session ran failed: there are no results, whatever the closing line says."""
    cell_failures = [reason for method, _, reason in o.failed if method != "speed"]
    if o.ran == 0 or len(cell_failures) < o.ran:
        return 0
    reasons = sorted(set(cell_failures))
    shown = reasons[0] if len(reasons) == 1 else f"{len(reasons)} different reasons, first: {reasons[0]}"
    print(f"error: all {o.ran} cells failed ({shown}); the run has no results to report. Fix the cause and "
          f"start again (the failures are stored in {o.run_dir}).", file=sys.stderr)
    return ALL_FAILED


def _report(run_dir: Path) -> int:
    module = _delegate("report")
    if module is None:
        print("warning: --report: `mtml-bench report` is not available yet; the run is stored.", file=sys.stderr)
        return 0
    parser = argparse.ArgumentParser(prog="mtml-bench report")
    module.add_arguments(parser)
    return int(module.run(parser.parse_args([str(run_dir)])))


if __name__ == "__main__":
    sys.exit(main())
