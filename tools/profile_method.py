"""Profile one registered method: phase times and per-task quality with and without adaptation.

    python tools/profile_method.py afr --suite synthrooms --suite-profile smoke --steps 80 --pretrain-steps 20

Meta-trains briefly, then on every meta-test (task, domain) draws episodes and
scores the query twice: after ``adapt_steps`` steps on the support and with the
same meta-trained network and no adaptation (``test_inner_steps=0``). Phases are
timed with a synchronising wall clock (warm-up samples dropped), one thread by
default. This is a developer's quick look, not the benchmark: the runner's
interleaved speed section and the reports are what results should cite.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.spec import EpisodesSpec, NetworkSpec, TrainingSpec  # noqa: E402
from domains.catalog import SUITES  # noqa: E402
from domains.episodes import Batch, EpisodeSampler, EpisodeShape  # noqa: E402
from domains.metrics import primary_metric  # noqa: E402
from domains.registry import UnknownNameError  # noqa: E402
from methods.base import Budget, Method, MethodConfig  # noqa: E402
from methods.device import DeviceError, resolve_device, synchronize  # noqa: E402
from methods.network import NetworkConfig  # noqa: E402
from methods.phases import PHASES  # noqa: E402
from methods.registry import METHODS  # noqa: E402


class WallClock:
    """A PhaseClock that keeps every wall-clock sample per phase, synchronising the device around each."""

    def __init__(self, device: torch.device):
        self.device = device
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.logged: list[tuple[int, dict[str, float]]] = []

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        synchronize(self.device)
        start = time.perf_counter()
        yield
        synchronize(self.device)
        self.samples[name].append(time.perf_counter() - start)

    def log(self, step: int, **values: float) -> None:
        self.logged.append((step, values))


def quality(task: str, pred: torch.Tensor, batch: Batch, ways: int | None) -> tuple[str, float]:
    """The task's primary metric (``domains.metrics``) on one query batch: its name and value."""
    metric = primary_metric(task)
    return metric.name, float(metric(pred.detach().cpu(), batch.to("cpu"), ways))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("method", help="a registered method name, e.g. afr")
    p.add_argument("--suite", default="synthrooms", help="registered suite (default synthrooms)")
    p.add_argument("--suite-profile", default="smoke", help="the suite's size profile (default smoke)")
    p.add_argument("--steps", type=int, default=60, help="meta-training steps (default 60)")
    p.add_argument("--pretrain-steps", type=int, default=0,
                   help="of which multi-task steps, for methods that have that stage (AFR); default 0")
    p.add_argument("--episodes", type=int, default=4, help="test episodes per held-out domain (default 4)")
    episodes, network, training = EpisodesSpec(), NetworkSpec(), TrainingSpec()  # the spec's defaults, once
    p.add_argument("--shots", type=int, default=episodes.shots)
    p.add_argument("--queries", type=int, default=episodes.queries)
    p.add_argument("--ways", type=int, default=episodes.ways)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--widths", default=",".join(map(str, network.widths)), help="backbone widths of the 4 stages")
    p.add_argument("--decoder-width", type=int, default=network.decoder_width)
    p.add_argument("--inner-steps", type=int, default=training.inner_steps)
    p.add_argument("--inner-lr", type=float, default=training.inner_lr)
    p.add_argument("--outer-lr", type=float, default=training.outer_lr)
    p.add_argument("--meta-batch-size", type=int, default=training.meta_batch_size)
    p.add_argument("--warmup", type=int, default=3, help="samples dropped per phase (default 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    return p.parse_args(argv)


def build(args: argparse.Namespace, tasks: tuple[str, ...], device: torch.device) -> Method:
    widths = tuple(int(w) for w in args.widths.split(","))
    network = NetworkConfig(image_size=args.image_size, widths=widths, decoder_width=args.decoder_width, ways=args.ways)  # type: ignore[arg-type]
    config = MethodConfig(network=network, inner_steps=args.inner_steps, inner_lr=args.inner_lr,
                          outer_lr=args.outer_lr, meta_batch_size=args.meta_batch_size,
                          pretrain_steps=args.pretrain_steps)
    return METHODS.get(args.method)(config, tasks, device, args.seed)


def summarise(samples: list[float], warmup: int) -> str:
    kept = samples[warmup:] if len(samples) > warmup else samples
    q = statistics.quantiles(kept, n=4) if len(kept) > 1 else [kept[0]] * 3
    return f"median {1e3 * q[1]:8.2f} ms  IQR {1e3 * (q[2] - q[0]):7.2f} ms  (n={len(kept)})"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        device = resolve_device(args.device)
        suite = SUITES.get(args.suite)(profile=args.suite_profile)
        method_type = METHODS.get(args.method)
    except (UnknownNameError, DeviceError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    split = suite.split()
    sampler = EpisodeSampler(suite, split, EpisodeShape(args.shots, args.queries, args.ways))
    method = build(args, sampler.tasks, device)
    clock = WallClock(device)
    print(f"{method_type.__name__} '{args.method}' on {args.suite}/{args.suite_profile}: "
          f"{method.parameter_count()} parameters, {args.steps} steps, device {device}", file=sys.stderr)
    log = method.meta_train(sampler, Budget(steps=args.steps), clock)
    print(f"meta-train loss: first {log.losses[0]:.4f}, last {log.losses[-1]:.4f}")

    adapted_cfg = method.config
    plain_cfg = dataclasses.replace(method.config, test_inner_steps=0)
    scores: dict[tuple[str, str], list[float]] = defaultdict(list)
    metric_name: dict[str, str] = {}
    work = [(t, d, e) for t in sampler.tasks for d in sampler.domains(t, "test") for e in range(args.episodes)]
    for task, domain, index in tqdm(work, desc="meta-test", file=sys.stderr):
        episode = sampler.episode("test", task, domain, args.seed, index).to(device)
        for label, cfg in (("adapted", adapted_cfg), ("no adaptation", plain_cfg)):
            method.config = cfg
            timed = label == "adapted"
            with clock.phase("adapt") if timed else contextlib.nullcontext():
                learner = method.adapt(episode)
            with clock.phase("infer") if timed else contextlib.nullcontext():
                pred = learner.predict(episode.query.images)
            metric_name[task], value = quality(task, pred, episode.query, episode.ways)
            scores[(task, label)].append(value)
    method.config = adapted_cfg

    print("\nphase times (wall clock, warm-up dropped)")
    steps = clock.samples["meta_train_step"]
    if 0 < args.pretrain_steps < len(steps):  # a method with a multi-task stage: its two kinds of step apart
        clock.samples["meta_train_step"] = steps[args.pretrain_steps:]
        print(f"  {'(stage-1 steps)':16s} {summarise(steps[:args.pretrain_steps], args.warmup)}")
    for phase in PHASES:
        if clock.samples[phase]:
            print(f"  {phase:16s} {summarise(clock.samples[phase], args.warmup)}")
    print(f"\nquery quality per task (mean over held-out domains x {args.episodes} episodes)")
    for task in sampler.tasks:
        after, before = (statistics.fmean(scores[(task, k)]) for k in ("adapted", "no adaptation"))
        print(f"  {task:16s} {metric_name[task]:20s} no adaptation {before:9.4f}   adapted ({adapted_cfg.adapt_steps} "
              f"steps) {after:9.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
