"""``mtml-bench regress RUN_DIR [--baseline FILE] [--update-baseline --reason TEXT] [--strict] [--partial]``.

Exit codes: 0 every gate OK or IMPROVED; 1 at least one
REGRESSED; 2 INCONCLUSIVE gates under ``--strict`` (without it they are
printed as warnings and CI passes, so that CI is not failed by noise it cannot resolve); 3 incompatible
baseline or incomplete design; 4 harness error (failed cells, non-finite
metrics, a crash). The gate results are also written to
``RUN_DIR/regression.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from reports.baseline import DEFAULT_BASELINE
from reports.errors import EXIT_HARNESS, EXIT_OK, EXIT_USER, DesignError, ReportError
from reports.gates import INCONCLUSIVE, INFO, REGRESSED, SKIPPED, Gate
from reports.regress import GATE_ALPHA, TIME_TOLERANCE, GateReport


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="a folder written by 'mtml-bench run'")
    parser.add_argument("--baseline", type=Path, default=DEFAULT_BASELINE,
                        help=f"stored baseline JSON (default: {DEFAULT_BASELINE})")
    parser.add_argument("--update-baseline", action="store_true",
                        help="write this run as the new baseline (needs --reason); the only way a baseline changes")
    parser.add_argument("--reason", default=None, help="why the baseline changes (recorded in its history)")
    parser.add_argument("--strict", action="store_true", help="exit 2 when any gate is INCONCLUSIVE")
    parser.add_argument("--alpha", type=float, default=GATE_ALPHA, help=f"family-wise alpha (default {GATE_ALPHA})")
    parser.add_argument("--tolerance", type=float, default=TIME_TOLERANCE,
                        help=f"speed-ratio tolerance (default {TIME_TOLERANCE:.0%})")
    parser.add_argument("--partial", action="store_true",
                        help="gate only the methods this run holds (the others are listed as SKIPPED)")
    parser.add_argument("--variant", action="append", default=[], metavar="VARIANT=METHOD",
                        help="gate the run's registered variant VARIANT as METHOD (planted regressions); repeatable")
    parser.add_argument("--absolute-times", action="store_true",
                        help="also gate absolute per-cell times when the machine fingerprint matches (dedicated "
                             "machines only: on a shared machine load moves them)")


def run(args: argparse.Namespace) -> int:
    if args.update_baseline and not (args.reason or "").strip():
        print("error: --update-baseline needs --reason TEXT. Say why the baseline changes; it is recorded.",
              file=sys.stderr)
        return EXIT_USER
    if not 0 < args.alpha < 1 or not 0 < args.tolerance < 1:
        print("error: --alpha and --tolerance must lie in (0, 1). Pass e.g. --alpha 0.01 --tolerance 0.1.",
              file=sys.stderr)
        return EXIT_USER
    variants = {}
    for item in args.variant:
        variant, _, method = item.partition("=")
        if not variant or not method:
            print(f"error: --variant {item!r} must be VARIANT=METHOD, e.g. --variant test-afr-noadapt=afr.",
                  file=sys.stderr)
            return EXIT_USER
        variants[variant] = method
    args.variants = variants
    try:
        return _run(args)
    except DesignError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - the contract: a crash is exit 4 with one line, not a traceback
        print(f"error: harness error in the regression check: {type(exc).__name__}: {exc}. "
              "Report this with the run folder.", file=sys.stderr)
        return EXIT_HARNESS


def _run(args: argparse.Namespace) -> int:
    from reports.baseline import build_baseline, read_baseline, write_baseline
    from reports.load import load_run
    from reports.regress import compare, gate_ids, prepare

    run = load_run(args.run_dir)
    if args.update_baseline:
        ctx = prepare(run)
        if args.baseline.is_file():
            try:
                report = compare(run, read_baseline(args.baseline), alpha=args.alpha, tolerance=args.tolerance)
                _print(report, "against the old baseline (informational)")
            except ReportError as exc:
                print(f"note: the old baseline is not comparable ({exc})", file=sys.stderr)
        doc = build_baseline(run, ctx.design, ctx.metrics, ctx.primary, gate_ids(ctx))
        doc = write_baseline(doc, args.baseline, args.reason.strip())
        entry = doc["history"][-1]
        print(f"baseline written: {args.baseline} ({len(doc['gates'])} gates, {len(doc['cells'])} cells; "
              f"by {entry['who']}: {entry['why']}; replaced {entry['old_hash'] or 'nothing'})")
        return EXIT_OK
    report = compare(run, read_baseline(args.baseline), alpha=args.alpha, tolerance=args.tolerance,
                     absolute_times=args.absolute_times, partial=args.partial, variants=args.variants)
    _print(report, f"against {args.baseline}")
    out = run.run_dir / "regression.json"
    try:
        out.write_text(json.dumps({"baseline": str(args.baseline), **report.as_json()}, indent=1) + "\n")
    except OSError as exc:
        print(f"note: could not write {out}: {exc}", file=sys.stderr)
    code = report.exit_code(strict=args.strict)
    inconclusive = [g for g in report.gates if g.gated and g.status == INCONCLUSIVE]
    if inconclusive and not args.strict:
        print(f"warning: {len(inconclusive)} gate(s) INCONCLUSIVE; passing (use --strict to exit 2)",
              file=sys.stderr)
    regressed = [g.id for g in report.gates if g.status == REGRESSED]
    print(f"regress: {'REGRESSED: ' + ', '.join(regressed) if regressed else 'no regression'} (exit {code})")
    return code


def _print(report: GateReport, title: str) -> None:
    gates = report.gates
    print(f"{len(gates)} gates {title}:")
    for note in report.notes:
        print(f"  note: {note}")
    print(verdict_table(report.gates))
    details = [g for g in gates if g.gated or g.status not in (INFO, SKIPPED)]
    for g in details:
        print(f"  {g.status:<12} {g.id}: {g.detail}")


def _fmt(x: float | None, unit: str) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return f"x{x:.3f}" if unit.startswith("x ") else f"{x:+.3g}"


def verdict_table(gates: list[Gate], gated_only: bool = True) -> str:
    """One line per decision: gate, estimate, bound, detectable effect, verdict (units in a column)."""
    rows = [g for g in gates if g.gated or not gated_only or g.kind == "numerics"]
    head = ("gate", "estimate", "bound", "detectable", "unit", "verdict")
    body = [(g.id, _fmt(g.estimate, g.unit), _fmt(g.bound, g.unit), _fmt(g.detectable, g.unit), g.unit or "-",
             g.status) for g in rows]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    lines = ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in [head, *body]]
    lines.insert(1, "  " + "  ".join("-" * w for w in widths))
    return "\n".join(lines)
