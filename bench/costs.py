"""Noise-free cost proxies of one step of each phase: FLOPs and peak memory (``docs/timing.md``).

Both the cell (which counts costs once per method, at the plan's cost seed) and
the interleaved speed section (which times the same single steps) drive a method
through exactly one meta-train step, one adaptation and one inference; those
single steps live here, beside the counters, so neither caller imports the other.

FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` (exact and
machine-independent; double-backward ops of second-order MAML are dispatched,
so they are counted). Peak memory: CUDA ``max_memory_allocated`` after a
reset; on CPU the peak of the phase's live tensor bytes from ``torch.profiler``'s
memory events (``PeakMemory``), i.e. the phase's own working memory.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.spec import Spec
from domains.episodes import Episode, EpisodeSampler
from methods.base import Budget, Method
from methods.device import reset_peak_memory, synchronize

# The profiler's tracing library (kineto) prints two "USDT ... profiler_start/stop" lines to stderr for
# every profiled phase, hundreds per run; level 6 keeps them (and its CUDA probe errors) out of the user's
# terminal. A user who sets the variable keeps their own level.
os.environ.setdefault("KINETO_LOG_LEVEL", "6")

# ---- memory --------------------------------------------------------------------------------------
def tensor_peak_bytes(events: list[tuple[int, int]]) -> int:
    """Peak of live tensor bytes above the start, from (time, +allocated / -freed bytes) events.

    Frees of tensors that existed before the phase count too (they lower the level), so the
    result is the phase's own working memory: what it held at its fullest beyond what it began with.
    """
    level = peak = 0
    for _, change in sorted(events):
        level += change
        peak = max(peak, level)
    return peak


class PeakMemory:
    """Peak bytes of one phase's tensors: the CUDA allocator's peak, or on CPU the profiler's allocations.

    On CPU the process's resident set says little (the allocator keeps freed pages, and a phase
    at ``standard`` size grows it by 0-9 MiB whatever it does), so the phase runs under
    ``torch.profiler`` with ``profile_memory``: every CPU tensor allocation and free is an
    event, and the peak of their running sum is what the phase's tensors occupied at most,
    second-order MAML's retained graph included. The profiler slows the phase down; costs are
    measured apart from the timed samples.
    """

    def __init__(self, device: torch.device):
        self.device = device
        self._profiler: torch.profiler.profile | None = None
        self._cpu_peak: int | None = None

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            synchronize(self.device)
            reset_peak_memory(self.device)
            return self
        self._profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU],
                                                profile_memory=True)
        self._profiler.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        synchronize(self.device)
        if self._profiler is None:
            return
        self._profiler.__exit__(*exc)
        results = self._profiler.profiler.kineto_results if self._profiler.profiler is not None else None
        if results is None:
            return
        self._cpu_peak = tensor_peak_bytes([(e.start_ns(), e.nbytes()) for e in results.events()
                                            if e.name() == "[memory]" and e.device_type().name == "CPU"])

    @property
    def peak_bytes(self) -> int | None:
        if self.device.type == "cuda":
            return int(torch.cuda.max_memory_allocated(self.device))
        return self._cpu_peak


# ---- one step of each phase --------------------------------------------------------------------
class _PairSampler:
    """Serves the meta-batch of one pair as step 0, so ``meta_train(Budget(steps=1))`` runs exactly it."""

    def __init__(self, sampler: EpisodeSampler, step: int):
        self._sampler, self._step = sampler, step

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sampler, name)

    def meta_batch(self, seed_index: int, step: int, batch_size: int, stream: str = "train") -> list[Episode]:
        return self._sampler.meta_batch(seed_index, self._step + step, batch_size, stream)


def meta_train_step(method: Method, sampler: EpisodeSampler, step: int, seed: int, clock: Any) -> None:
    """Exactly one meta-train step on meta-batch ``step`` (the method times it through the clock)."""
    method.meta_train(_PairSampler(sampler, step), Budget(steps=1), clock, seed_index=seed)  # type: ignore[arg-type]


def test_episode(spec: Spec, sampler: EpisodeSampler, test_domains: dict[str, list[str]], seed: int,
                 index: int, device: torch.device) -> Episode:
    """Held-out episode ``index`` of the speed section: tasks cycle, then domains, identical for every method."""
    task = spec.tasks[index % len(spec.tasks)]
    domains = test_domains[task]
    domain = domains[(index // len(spec.tasks)) % len(domains)]
    return sampler.episode("test", task, domain, seed, index).to(device)


class _GlobalOnly:
    """Stands in for FlopCounterMode's module tracker: everything is attributed to 'Global'."""

    parents = ("Global",)

    def __enter__(self) -> _GlobalOnly:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class GlobalFlopCounter(FlopCounterMode):
    """``FlopCounterMode`` without per-module attribution.

    Its module tracker hooks every module output into autograd, and those hooks break
    ``torch.autograd.grad`` inside the counted region ("A leaf node was passed to
    _will_engine_execute_node"), which functional inner loops (AFR, higher) call. The total is
    all we store, so the tracker is replaced by one that attributes every op to 'Global'.
    """

    def __init__(self) -> None:
        super().__init__(display=False)
        self.mod_tracker = _GlobalOnly()  # type: ignore[assignment]


class _OnePhaseCounter:
    """A clock that counts FLOPs and peak memory inside one named phase only."""

    def __init__(self, device: torch.device, phase: str):
        self.device, self.wanted = device, phase
        self.flops: int | None = None
        self.peak: int | None = None

    def phase(self, name: str) -> Any:
        if name != self.wanted:
            return contextlib.nullcontext()
        return _counting(self, self.device)

    def log(self, step: int, **values: float) -> None:
        return None


class _counting:
    def __init__(self, owner: _OnePhaseCounter, device: torch.device):
        self.owner, self.memory = owner, PeakMemory(device)
        self.counter = GlobalFlopCounter()

    def __enter__(self) -> None:
        self.memory.__enter__()
        self.counter.__enter__()

    def __exit__(self, *exc: object) -> None:
        self.counter.__exit__(*exc)
        self.memory.__exit__(*exc)
        self.owner.flops = int(self.counter.get_total_flops())
        self.owner.peak = self.memory.peak_bytes


def measure_costs(method: Method, sampler: EpisodeSampler, spec: Spec, test_domains: dict[str, list[str]],
                  seed: int, device: torch.device) -> list[tuple[str, int | None, int | None]]:
    """FLOPs and peak memory of one meta-train step, one adaptation and one inference (phase, flops, bytes)."""
    episode = test_episode(spec, sampler, test_domains, seed, 0, device)
    out = []
    counter = _OnePhaseCounter(device, "adapt")
    with counter.phase("adapt"):
        learner = method.adapt(episode)
    out.append(("adapt", counter.flops, counter.peak))
    counter = _OnePhaseCounter(device, "infer")
    with counter.phase("infer"), torch.inference_mode():
        learner.predict(episode.query.images)
    out.append(("infer", counter.flops, counter.peak))
    counter = _OnePhaseCounter(device, "meta_train_step")
    meta_train_step(method, sampler, 0, seed, counter)
    out.append(("meta_train_step", counter.flops, counter.peak))
    return out
