"""The interleaved speed section (``docs/timing.md``): measures wall time, pair by pair.

Speed ratios are only fair when both methods run in the same process on the
same episodes, alternating, so that machine drift hits both equally. A block
(one fresh process) builds every speed method once, then for each pair ``p``
runs one meta-train step, one adaptation and one inference per method on the
*identical* meta-batch and test episode of pair ``p``, reversing the method
order every pair (AB, BA, ...) so that neither always goes first. The first
``warmup`` pairs are flagged as warm-up. The report forms ratios pair by pair
(``reports/speed_analysis.py``); FLOPs and memory are counted in ``bench/costs.py``.

A scaling study (``docs/scaling.md``) declares a grid in ``[speed]``: block
``b`` then runs at point ``b // blocks`` of it (``bench/scaling.py`` builds the
methods and resizes the episodes), and the first block of each point also
counts every method's FLOPs and peak memory per phase at that size, before
timing (``SpeedBlockResult.costs``, stored in ``scaling_costs``).

Each pair also times the fixed yardstick workload (``bench.yardstick``), the
regression gate's per-method clock, and every phase is stored twice: wall clock
(``adapt``) and the process's CPU seconds (``adapt:cpu``). The section runs on
one thread, where CPU time is the work itself and does not count the time other
processes on a shared machine take from it; wall clock stays the primary
measure for reports (and the only meaningful one on a GPU).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from bench.cell import Plan, build_method, context, one_line
from bench.clock import RecordingClock
from bench.costs import measure_costs, meta_train_step, test_episode
from bench.progress import Emit, no_emit
from bench.scaling import ResizingSampler, build_at_point
from bench.store import SpeedBlockResult
from bench.yardstick import CPU_SUFFIX, Yardstick
from bench.yardstick import NAME as YARDSTICK
from bench.yardstick import PHASE as YARDSTICK_PHASE
from domains.episodes import Episode, EpisodeSampler
from methods.base import Method
from methods.phases import SPEED_PHASES


# ---- one block of the interleaved section ----------------------------------------------------
def run_speed_block(plan: Plan, block: int, emit: Emit = no_emit) -> SpeedBlockResult:
    """One block in this (fresh) process: every speed method alternates on identical episodes."""
    spec, suite_sampler = context(plan)
    assert spec.speed is not None
    torch.set_num_threads(spec.speed.threads)
    device = torch.device(plan.device)
    seed = spec.seeds[0]
    total = spec.speed.warmup + spec.speed.pairs
    point_index, point = spec.speed.point_of(block)
    sampler: Any = ResizingSampler(suite_sampler, point.image_size) if spec.speed.scaled else suite_sampler
    label = f"block {block + 1}/{spec.speed.total_blocks}" + (f" ({point.label()})" if spec.speed.scaled else "")
    rows: list[tuple[str, int, str, int, int, float, bool]] = []
    costs: list[tuple[str, str, int | None, int | None]] = []
    try:
        def build(name: str) -> Method:
            if not spec.speed or not spec.speed.scaled:  # the plain section: exactly as before the grid existed
                return build_method(spec, name, plan.image_size, plan.split_hash, seed, device, pretrain_steps=0)
            return build_at_point(spec, name, point, plan.image_size, plan.split_hash, seed, device)

        if spec.speed.scaled and block % spec.speed.blocks == 0:  # the point's first block counts its costs
            for name in spec.speed.methods:
                emit(("speed", block, f"{label}: FLOPs and memory of {name}", 0, total))
                costs += [(name, phase, flops, peak) for phase, flops, peak in
                          measure_costs(build(name), sampler, spec, plan.test_domains, seed, device)]
        methods = {name: build(name) for name in spec.speed.methods}
        yardstick = Yardstick(device)
        for pair in range(total):
            order = list(spec.speed.methods) if pair % 2 == 0 else list(reversed(spec.speed.methods))
            # distinct episodes per block and pair, the same for every method
            step = block * total + pair
            episode = test_episode(spec, sampler, plan.test_domains, seed, step, device)
            # the speed gates' clock, timed before and after the methods of the pair (their mean is stored)
            before = yardstick.seconds()
            for name in order:
                for phase, seconds in _time_pair(methods[name], sampler, episode, step, seed, device):
                    rows.append((name, seed, phase, pair, pair, seconds, pair < spec.speed.warmup))
            after = yardstick.seconds()
            for phase, seconds in ((YARDSTICK_PHASE, (before[0] + after[0]) / 2),
                                   (YARDSTICK_PHASE + CPU_SUFFIX, (before[1] + after[1]) / 2)):
                rows.append((YARDSTICK, seed, phase, pair, pair, seconds, pair < spec.speed.warmup))
            emit(("speed", block, label, pair + 1, total))
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as err:  # noqa: BLE001 - a diverging method fails the block, not the run
        return SpeedBlockResult(block, "failed", reason=one_line(err) + (f" at {point.label()}" if spec.speed.scaled
                                                                          else ""))
    return SpeedBlockResult(block, "done", timings=rows, costs=costs, point=point_index if spec.speed.scaled else None)


def _time_pair(method: Method, sampler: EpisodeSampler, episode: Episode, step: int, seed: int,
               device: torch.device) -> list[tuple[str, float]]:
    clock = RecordingClock(device, warmup=0)
    meta_train_step(method, sampler, step, seed, clock)
    learner = _timed(clock, "adapt", lambda: method.adapt(episode))
    with torch.inference_mode():
        _timed(clock, "infer", lambda: learner.predict(episode.query.images))
    return ([(phase, clock.samples[phase][-1]) for phase in SPEED_PHASES]
            + [(phase + CPU_SUFFIX, clock.cpu_samples[phase][-1]) for phase in SPEED_PHASES])


def _timed(clock: RecordingClock, phase: str, fn: Callable[[], Any]) -> Any:
    with clock.phase(phase):
        return fn()
