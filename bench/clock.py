"""The runner's ``PhaseClock``: wall-clock samples per phase, every one kept.

Timing protocol (``docs/timing.md``): ``time.perf_counter`` (wall
clock; CPU time misreports multi-threaded kernels), the device synchronised
before the timer starts and before it is read (queued CUDA kernels would
otherwise be billed to the next phase), and the first ``warmup`` samples of
each phase flagged as warm-up -- kept in the store, left out of statistics --
because they include lazy initialisation and allocator growth.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterator

import torch

from methods.device import synchronize


class RecordingClock:
    """Records phase durations and the meta-training curve a method reports through ``log``."""

    def __init__(self, device: torch.device, warmup: int = 3, on_step: Callable[[int], None] | None = None):
        self.device, self.warmup, self.on_step = device, warmup, on_step
        self.samples: dict[str, list[float]] = defaultdict(list)
        # CPU seconds of this process per phase: on one thread, the work itself, whatever else the machine runs
        self.cpu_samples: dict[str, list[float]] = defaultdict(list)
        self.curve: list[tuple[int, float, float, str]] = []

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        synchronize(self.device)
        start, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            synchronize(self.device)
            self.samples[name].append(time.perf_counter() - start)
            self.cpu_samples[name].append(time.process_time() - cpu)

    def log(self, step: int, **values: float) -> None:
        """One meta-training step: ``loss`` plus per-task losses; elapsed = meta-train phase time so far."""
        loss = float(values.pop("loss", math.nan))
        elapsed = sum(self.samples.get("meta_train_step", ()))
        if math.isfinite(loss):  # a non-finite loss ends the cell as failed; the store keeps finite rows only
            per_task = {k: float(v) for k, v in values.items() if math.isfinite(float(v))}
            self.curve.append((int(step), elapsed, loss, json.dumps(per_task, sort_keys=True)))
        if self.on_step is not None:
            self.on_step(step)

    def rows(self) -> list[tuple[str, int, float, bool]]:
        """(phase, index, seconds, warm-up?) for every sample, in the order they were taken."""
        return [(phase, i, s, i < self.warmup) for phase, values in self.samples.items() for i, s in enumerate(values)]

    def total(self, phase: str) -> float:
        return float(sum(self.samples.get(phase, ())))
