"""Benchmark of the regression gate itself: verdict rates over repeated runs of one tree.

    python tools/gate_false_alarms.py --runs 20 --out /tmp/gate-fa
    python tools/gate_false_alarms.py --runs 20 --out /tmp/gate-slow --mutant test-afr-slowadapt=afr:maml

Each repetition is a short partial smoke run (by default the speed section's methods, one seed, and
the speed section), gated against the shipped baseline with ``--partial``. The first repetition runs
everything; later ones (unless ``--full-runs``) copy its store and redo only the speed section, each
block again in a fresh process: on the machine that ran it, a rerun of the same cells gives the same
values (runs are reproducible from the seed), so the quality gates of an unchanged tree are decided
exactly by the first run and repeating the cells would measure nothing; the speed gates are the
stochastic part, and halving the cost of a repetition lets 20 of them fit in half an hour. Unchanged, every
REGRESSED is a false alarm: the command prints how many runs had one, with an exact (Clopper-Pearson)
95% upper bound on the rate, and how often each gate ended OK. With ``--mutant VARIANT=METHOD:PARTNER``
(a variant of ``tests/mutants.py``) it measures the opposite: how often a planted slowdown is caught.
This is a benchmark, not a test: it takes minutes and measures the machine it runs on (run it under
the heavy lock on a shared machine).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

from scipy import stats
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reports.baseline import DEFAULT_BASELINE, read_baseline  # noqa: E402
from reports.load import load_run  # noqa: E402
from reports.regress import compare  # noqa: E402


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("mtml-bench")
    return [str(script)] if script.is_file() else [sys.executable, "-c",
                                                   "import sys; from bench.cli import main; sys.exit(main())"]


def _env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def one_run(spec: str, methods: str, seeds: str, out: Path, workers: int) -> None:
    cmd = [*_cli(), "run", spec, "--out", str(out), "--overwrite", "--methods", methods, "--seeds", seeds,
           "--no-progress", "--workers", str(workers), "--threads", "1"]
    proc = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"error: '{' '.join(cmd)}' exited {proc.returncode}: {proc.stderr.strip()[-500:]}")


def speed_again(first: Path, out: Path, workers: int) -> None:
    """A new repetition from the first run's cells: its speed section deleted, then redone by ``--resume``."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    shutil.copy2(first / "results.sqlite", out / "results.sqlite")
    with sqlite3.connect(out / "results.sqlite") as con:
        con.execute("DELETE FROM speed_blocks")
        con.execute("DELETE FROM timing_samples WHERE source = 'speed'")
    cmd = [*_cli(), "run", "--resume", str(out), "--no-progress", "--workers", str(workers)]
    proc = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"error: '{' '.join(cmd)}' exited {proc.returncode}: {proc.stderr.strip()[-500:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="repetitions (default 20)")
    parser.add_argument("--out", type=Path, default=None, help="folder for the runs and summary.json")
    parser.add_argument("--methods", default="afr,maml,fomaml", help="methods of each run (default: the speed section's)")
    parser.add_argument("--seeds", default="1", help="seed count per run (default 1)")
    parser.add_argument("--workers", type=int, default=1, help="process-pool size of each run (default 1)")
    parser.add_argument("--mutant", default=None, metavar="VARIANT=METHOD:PARTNER",
                        help="plant a tests/mutants.py variant in METHOD's place, timed beside PARTNER")
    parser.add_argument("--baseline", type=Path, default=DEFAULT_BASELINE)
    parser.add_argument("--full-runs", action="store_true",
                        help="rerun the cells in every repetition too (default: the first run's cells are reused)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    out = args.out or Path(tempfile.mkdtemp(prefix="gate-fa-"))
    out.mkdir(parents=True, exist_ok=True)
    base = read_baseline(args.baseline)
    spec, methods, variants = "smoke", args.methods, {}
    if args.mutant:
        sys.path.insert(0, str(ROOT / "tests"))
        from mutants import mutant_spec

        variant, _, rest = args.mutant.partition("=")
        original, _, partner = rest.partition(":")
        if not (variant and original and partner):
            parser.error("--mutant must be VARIANT=METHOD:PARTNER, e.g. test-afr-slowadapt=afr:maml")
        spec = str(mutant_spec(out, variant, original, partner))
        methods, variants = f"{variant},{partner}", {variant: original}

    verdicts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    alarms, speed_all_ok, per_run = 0, 0, []
    for i in tqdm(range(args.runs), desc="unchanged runs" if not args.mutant else "planted runs", unit="run"):
        run_dir = out / f"run-{i:02d}"
        if i == 0 or args.full_runs:
            one_run(spec, methods, args.seeds, run_dir, args.workers)
        else:
            speed_again(out / "run-00", run_dir, args.workers)
        report = compare(load_run(run_dir), base, partial=True, variants=variants)
        gated = [g for g in report.gates if g.gated]
        for g in gated:
            verdicts[g.id][g.status] += 1
        regressed = [g.id for g in gated if g.status == "REGRESSED"]
        alarms += bool(regressed)
        speed = [g for g in gated if g.kind == "speed"]
        speed_all_ok += bool(speed) and all(g.status == "OK" for g in speed)
        per_run.append({"run": i, "regressed": regressed, "exit": report.exit_code(),
                        "gates": {g.id: [g.status, g.estimate] for g in gated}})
    n = args.runs
    upper = stats.binomtest(alarms, n).proportion_ci(0.95, method="exact").high
    print(f"{n} runs ({'planted ' + args.mutant if args.mutant else 'unchanged tree'}), methods {methods}, "
          f"seeds {args.seeds}, against {args.baseline}"
          + ("" if args.full_runs else "; cells of run 0 reused, speed section redone in every run"))
    print(f"runs with a REGRESSED gate: {alarms}/{n} (rate {alarms / n:.3f}, exact 95% upper bound {upper:.3f})")
    print(f"runs whose speed gates all ended OK: {speed_all_ok}/{n}")
    width = max(len(g) for g in verdicts) if verdicts else 10
    print(f"{'gate':<{width}}  " + "  ".join(f"{s:>12}" for s in ("OK", "IMPROVED", "INCONCLUSIVE", "REGRESSED")))
    for gid, counts in sorted(verdicts.items()):
        print(f"{gid:<{width}}  " + "  ".join(f"{counts[s]:>12}" for s in ("OK", "IMPROVED", "INCONCLUSIVE",
                                                                               "REGRESSED")))
    summary = {"runs": n, "mutant": args.mutant, "full_runs": args.full_runs, "methods": methods, "seeds": args.seeds, "alarms": alarms,
               "alarm_upper_95": upper, "speed_all_ok": speed_all_ok,
               "verdicts": {k: dict(v) for k, v in verdicts.items()}, "per_run": per_run}
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"summary: {out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
