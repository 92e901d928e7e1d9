"""Per-method phase times and peak memory, each method in a fresh process, on a benchmark spec.

    python tools/profile_baselines.py                      # the baselines on the smoke spec
    python tools/profile_baselines.py --spec standard --methods maml,afr --steps 10

Builds every method exactly as the runner does (``bench/cell.py``: the spec's
suite, episode shape, network, training values and per-method overrides, the
same initial weights), meta-trains it for ``--steps`` steps and adapts to
``--episodes`` episodes of every held-out domain, timing phases with
``tools/profile_method.py``'s synchronising wall clock. Each method runs in its
own process so that its peak memory is its own (CPU: the process's max RSS,
which is never reset, also shown as the growth over the RSS after imports and
data; CUDA: ``torch.cuda.max_memory_allocated`` during meta-training). Methods
run one after another, not interleaved: good for orders of magnitude, not for
the speed ratios the runner's speed section measures.
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

from methods.phases import PHASES  # noqa: E402

BASELINES = ("maml", "fomaml", "anil", "metasgd", "maml-higher", "multitask")


def _child(args: argparse.Namespace) -> dict[str, object]:
    """Meta-train and meta-test one method; return raw phase samples and memory figures."""
    import profile_method
    import torch

    from bench.cell import build_method, build_sampler, build_suite, image_size_of
    from bench.spec import load_spec
    from methods.base import Budget
    from methods.device import peak_memory_bytes, reset_peak_memory, resolve_device

    torch.set_num_threads(args.threads)
    spec = load_spec(args.spec)
    device = resolve_device(args.device)
    sampler = build_sampler(spec, build_suite(spec))
    for task in spec.tasks:  # load every domain now, so that loading is in neither the timings nor the growth
        for stream in ("train", "test"):
            for domain in sampler.domains(task, stream):
                sampler.domain_data(task, domain)
    method = build_method(spec, args.child, image_size_of(sampler, spec.tasks[0]), sampler.split_hash, 0, device)
    rss_ready = peak_memory_bytes(torch.device("cpu"))
    reset_peak_memory(device)
    clock = profile_method.WallClock(device)
    log = method.meta_train(sampler, Budget(steps=args.steps), clock)
    train_peak = peak_memory_bytes(device)
    for task in spec.tasks:
        for domain in sampler.domains(task, "test"):
            for index in range(args.episodes):
                episode = sampler.episode("test", task, domain, 0, index).to(device)
                with clock.phase("adapt"):
                    learner = method.adapt(episode)
                with clock.phase("infer"):
                    learner.predict(episode.query.images)
    return {"method": args.child, "parameters": method.parameter_count(), "device": str(device),
            "samples": dict(clock.samples), "rss_ready": rss_ready, "train_peak": train_peak,
            "first_loss": log.losses[0], "last_loss": log.losses[-1]}


def _summary(samples: list[float], warmup: int) -> str:
    kept = samples[warmup:] if len(samples) > warmup else samples
    if not kept:
        return "-"
    q = statistics.quantiles(kept, n=4) if len(kept) > 1 else [kept[0]] * 3
    return f"{1e3 * q[1]:.1f} ({1e3 * (q[2] - q[0]):.1f})"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--spec", default="smoke", help="shipped spec name or TOML path (default smoke)")
    p.add_argument("--methods", default=",".join(BASELINES), help="comma-separated (default: every baseline)")
    p.add_argument("--steps", type=int, default=20, help="meta-training steps per method (default 20)")
    p.add_argument("--episodes", type=int, default=2, help="test episodes per held-out domain (default 2)")
    p.add_argument("--warmup", type=int, default=3, help="samples dropped per phase (default 3)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--child", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(_child(args)))
        return 0
    rows = []
    for name in args.methods.split(","):
        print(f"profiling {name} ...", file=sys.stderr)
        command = [sys.executable, __file__, "--child", name, "--spec", args.spec, "--steps", str(args.steps),
                   "--episodes", str(args.episodes), "--threads", str(args.threads), "--device", args.device]
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            print(f"error: profiling {name} failed: {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
            return done.returncode
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    mib = 2 ** 20
    cpu = rows[0]["device"] == "cpu"
    header = ("method", "params", *(f"{p} ms" for p in PHASES), "peak MiB", "growth MiB" if cpu else "",
              "loss first->last")
    lines = [header]
    for r in rows:
        lines.append((r["method"], f"{r['parameters']:,}", *(_summary(r["samples"].get(p, []), args.warmup)
                                                              for p in PHASES),
                      f"{r['train_peak'] / mib:.0f}", f"{(r['train_peak'] - r['rss_ready']) / mib:.0f}" if cpu else "",
                      f"{r['first_loss']:.3f}->{r['last_loss']:.3f}"))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip())
    print(f"\nspec {args.spec}, {args.steps} meta-train steps, {args.episodes} episodes per held-out domain, "
          f"{args.threads} thread(s), device {rows[0]['device']}; times: median (IQR) of wall-clock samples after "
          f"{args.warmup} warm-up samples; peak: "
          + ("max RSS of the method's own process (growth: over the RSS after imports and data)" if cpu
             else "max allocated during meta-training"), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
