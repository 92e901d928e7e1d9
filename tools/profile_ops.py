"""Where a method's time goes, op by op: torch profiler over its meta-train step, adaptation and inference.

    python tools/profile_ops.py afr --spec standard --steps 5 --top 12

Builds the method exactly as the speed section does (``bench.cell.build_method``, no stage-1
pre-training, one thread), runs ``--warmup`` untimed rounds, then profiles ``--steps`` rounds of
each phase on the speed section's episodes and prints, per phase, the ops with the most self CPU
time. It exists to compare two trees (check one out in a worktree and run this there too): the
benchmark's own speed section measures the ratios; this says which ops a change removed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cell import build_method, build_sampler, build_suite, image_size_of  # noqa: E402
from bench.costs import meta_train_step, test_episode  # noqa: E402
from bench.spec import load_spec  # noqa: E402
from methods.base import NullClock  # noqa: E402


def _infer(learner, episode) -> torch.Tensor:  # noqa: ANN001 - as the speed section times it
    with torch.inference_mode():
        return learner.predict(episode.query.images)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("method")
    parser.add_argument("--spec", default="standard", help="a shipped spec or TOML file (default standard)")
    parser.add_argument("--steps", type=int, default=5, help="profiled rounds per phase (default 5)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first (default 2)")
    parser.add_argument("--top", type=int, default=12, help="ops listed per phase (default 12)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    spec = load_spec(args.spec)
    sampler = build_sampler(spec, build_suite(spec))
    domains = {t: sampler.domains(t, "test") for t in spec.tasks}
    method = build_method(spec, args.method, image_size_of(sampler, spec.tasks[0]), sampler.split_hash, 0,
                          torch.device("cpu"), pretrain_steps=0)
    episodes = [test_episode(spec, sampler, domains, 0, i, torch.device("cpu")) for i in range(len(spec.tasks))]
    learners = [method.adapt(e) for e in episodes]  # inference is profiled on adapted learners, adaptation apart
    phases = {
        "meta_train_step": lambda i: meta_train_step(method, sampler, i, 0, NullClock()),
        "adapt": lambda i: method.adapt(episodes[i % len(episodes)]),
        "infer": lambda i: _infer(learners[i % len(learners)], episodes[i % len(episodes)]),
    }
    for phase, run in phases.items():
        for i in range(args.warmup):
            run(i)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for i in range(args.steps):
                run(args.warmup + i)
        total = sum(e.self_cpu_time_total for e in prof.key_averages()) / 1e3 / args.steps
        print(f"\n## {args.method} {phase}: {total:.1f} ms self CPU per round ({args.steps} rounds)")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.top,
                                        max_name_column_width=48))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
