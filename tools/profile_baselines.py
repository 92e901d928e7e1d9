"""Per-method phase times and peak memory of the baselines, each in a fresh process.

    python tools/profile_baselines.py --suite synthrooms --suite-profile smoke --steps 20
    python tools/profile_baselines.py --methods maml,anil -- --inner-steps 3

Reuses ``tools/profile_method.py`` (its arguments, network and wall clock) and
adds what the closing note needs: every method runs in its own process, so the
peak memory is that method's alone (CPU: the process's max RSS, which is never
reset; also shown as the growth over the RSS after setup, which is imports and
data; CUDA: ``torch.cuda.max_memory_allocated`` during meta-training). Methods
run one after another, not interleaved: fine for orders of magnitude, not for
the speed ratios the runner measures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

BASELINES = ("maml", "fomaml", "anil", "metasgd", "maml-higher", "multitask")
PHASES = ("meta_train_step", "adapt", "infer", "data")


def _child(method_name: str, passthrough: list[str]) -> dict[str, object]:
    """Meta-train and meta-test one method; return raw phase samples and memory figures."""
    import profile_method as pm
    import torch

    from domains.catalog import SUITES
    from domains.episodes import EpisodeSampler, EpisodeShape
    from methods.base import Budget
    from methods.device import peak_memory_bytes, reset_peak_memory, resolve_device

    args = pm.parse_args([method_name, *passthrough])
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    suite = SUITES.get(args.suite)(profile=args.suite_profile)
    sampler = EpisodeSampler(suite, suite.split(), EpisodeShape(args.shots, args.queries, args.ways))
    for task in sampler.tasks:  # load every domain now, so that data loading is not in the peak
        for stream in ("train", "test"):
            for domain in sampler.domains(task, stream):
                sampler.domain_data(task, domain)
    method = pm.build(args, sampler.tasks, device)
    rss_ready = peak_memory_bytes(torch.device("cpu"))
    reset_peak_memory(device)
    clock = pm.WallClock(device)
    log = method.meta_train(sampler, Budget(steps=args.steps), clock)
    train_peak = peak_memory_bytes(device)
    reset_peak_memory(device)
    for task in sampler.tasks:
        for domain in sampler.domains(task, "test"):
            for index in range(args.episodes):
                episode = sampler.episode("test", task, domain, args.seed, index).to(device)
                with clock.phase("adapt"):
                    learner = method.adapt(episode)
                with clock.phase("infer"):
                    learner.predict(episode.query.images)
    return {"method": method_name, "parameters": method.parameter_count(), "device": str(device),
            "samples": dict(clock.samples), "rss_ready": rss_ready, "train_peak": train_peak,
            "test_peak": peak_memory_bytes(device), "first_loss": log.losses[0], "last_loss": log.losses[-1],
            "warmup": args.warmup}


def _median_ms(samples: list[float], warmup: int) -> str:
    kept = samples[warmup:] if len(samples) > warmup else samples
    return f"{1e3 * statistics.median(kept):.1f}" if kept else "-"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        print(json.dumps(_child(argv[1], argv[2:])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="Arguments after -- go to tools/profile_method.py (see its --help).")
    parser.add_argument("--methods", default=",".join(BASELINES), help="comma-separated (default: all baselines)")
    cut = argv.index("--") if "--" in argv else len(argv)
    ours, rest = argv[:cut], argv[cut + 1:]
    known, extra = parser.parse_known_args(ours)
    passthrough = [*extra, *rest]
    rows = []
    for name in known.methods.split(","):
        print(f"profiling {name} ...", file=sys.stderr)
        done = subprocess.run([sys.executable, __file__, "--child", name, *passthrough],
                              capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            print(f"error: {name} failed:\n{done.stderr.strip()[-2000:]}", file=sys.stderr)
            return done.returncode
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    mib = 2 ** 20
    header = ("method", "params", "meta_train_step ms", "adapt ms", "infer ms", "data ms", "peak train MiB",
              "growth MiB", "loss first->last")
    lines = [header]
    for r in rows:
        s, w = r["samples"], r["warmup"]
        cpu = r["device"] == "cpu"
        lines.append((r["method"], f"{r['parameters']:,}", *(_median_ms(s.get(p, []), w) for p in PHASES),
                      f"{r['train_peak'] / mib:.0f}",
                      f"{(r['train_peak'] - r['rss_ready']) / mib:.0f}" if cpu else "-",
                      f"{r['first_loss']:.3f}->{r['last_loss']:.3f}"))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip())
    print(f"\nmedians of wall-clock samples after {rows[0]['warmup']} warm-up samples; device {rows[0]['device']}; "
          "peak = max RSS of the method's process on CPU (growth = over the RSS after imports and data), "
          "max allocated on CUDA", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
