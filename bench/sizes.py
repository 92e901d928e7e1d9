"""Before a run starts: every size in the spec against what the suite and the machine hold.

A spec can be valid field by field and still ask for more than exists: more
shots than any class has images, more ways than a split part has classes, more
threads than cores, a network or a meta-batch that cannot fit in memory, more
stored rows than the disk holds. Found after start-up, each of these is a
``MemoryError``, an allocator error or the same failed cell thirty times over;
found here, it is one line that names the field, its value and the limit
(exit 2), before anything is written:

    spec field 'episodes.shots' = 1000000: domain 'env000' (meta-train) has at most 40 images per class ...

Memory is estimated without allocating the spec's network: a few narrow copies
are built and measured (parameter count, and the bytes one forward pass keeps
for the backward pass, through autograd's saved-tensor hooks) and extrapolated
to the spec's decoder width.
What is merely long is not refused: ``estimate_seconds`` times one
forward/backward pass of the real network and the orchestrator prints the estimate.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.errors import SpecError
from bench.spec import EpisodesSpec, NetworkSpec, Spec, TrainingSpec
from domains.episodes import EpisodeSampler
from domains.metrics import metrics_for

GIB = 1024**3
BYTES_PER_ROW = 96  # assumed per stored row (a few short strings and a float, plus index entries); not measured
LONG_RUN_SECONDS = 600.0  # runs estimated above this get their estimate printed before they start
_STREAM_PART = {"train": "meta-train", "test": "meta-test"}


@dataclass(frozen=True)
class Machine:
    """What the run may use on this machine."""

    cores: int
    memory_bytes: int  # available RAM, or free memory of the CUDA device
    memory_what: str
    disk_bytes: int  # free space where the store is written


def _available_ram() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    pages, size = os.sysconf("SC_AVPHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    return int(pages * size)


def machine_of(device: torch.device, run_dir: Path, cores: int) -> Machine:
    probe = Path(run_dir).resolve()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    disk = shutil.disk_usage(probe).free
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return Machine(cores, int(free), f"free memory on {device}", disk)
    return Machine(cores, _available_ram(), "available RAM", disk)


def _refuse(field: str, value: Any, why: str) -> SpecError:
    return SpecError(f"spec field '{field}' = {value}: {why}")


# ---- cores ---------------------------------------------------------------------------------------
def check_cores(spec: Spec, workers: int, threads: int, cores: int) -> None:
    """Threads beyond the cores only time-slice: timings lose their meaning and nothing runs faster."""
    if spec.runtime.executor == "ray" and spec.runtime.address is not None:
        return  # a cluster's nodes are not this machine
    if spec.speed is not None and spec.speed.threads > cores:
        raise _refuse("speed.threads", spec.speed.threads, f"this machine has {cores} core(s); the speed section "
                      f"times one block at a time, so at most {cores} thread(s)")
    if spec.runtime.threads is not None and spec.runtime.threads > cores:
        raise _refuse("runtime.threads", spec.runtime.threads, f"this machine has {cores} core(s); at most {cores} "
                      f"thread(s) per worker (or fewer workers)")


# ---- data ----------------------------------------------------------------------------------------
@dataclass
class DataFacts:
    """What the run's domains hold, counted once before the run."""

    tensor_bytes: int = 0  # decoded tensors of every domain a worker samples (its sampler caches them)
    images: int = 0


def check_data(spec: Spec, sampler: EpisodeSampler, test_domains: dict[str, list[str]]) -> DataFacts:
    """Ways against the classes of each split part and domain; shots + queries against the images there.

    Every domain the run samples is counted first, so that a refusal names the
    tightest place (the smallest limit), which is the limit that then passes.
    """
    e = spec.episodes
    facts = DataFacts()
    ways_limits: list[tuple[int, str]] = []  # (most ways possible, why)
    counted: list[tuple[str, np.ndarray | int]] = []  # (where, class sizes largest first | images)
    if "classification" in spec.tasks:
        for stream in ("train", "test"):
            classes = sampler.allowed_classes(stream)
            if classes is not None:
                ways_limits.append((len(classes), f"the split's {_STREAM_PART[stream]} part has {len(classes)} classes"))
    for task in spec.tasks:
        for stream in ("train", "test"):
            domains = sampler.domains(task, stream) if stream == "train" else test_domains[task]
            for domain in domains:
                data = sampler.suite.load(task, domain)  # not the sampler's cache: one domain in memory at a time
                facts.images += len(data)
                facts.tensor_bytes += sum(int(t.element_size() * t.numel())
                                          for t in (data.images, data.targets, data.mask) if t is not None)
                where = f"domain '{domain}' ({_STREAM_PART[stream]}, task {task})"
                if task == "classification":
                    sizes = _class_sizes(data.targets.numpy(), sampler.allowed_classes(stream))
                    ways_limits.append((len(sizes), f"{where} has {len(sizes)} classes"))
                    counted.append((where, sizes))
                else:
                    counted.append((where, len(data)))
                del data
    if ways_limits:
        limit, why = min(ways_limits)
        if e.ways > limit:
            raise _refuse("episodes.ways", e.ways, f"{why}, so at most {limit} ways")
    need = e.shots + e.queries
    room = [(int(c[e.ways - 1]), f"{w} has at most {int(c[e.ways - 1])} images per class in its {e.ways} largest "
             f"classes") if isinstance(c, np.ndarray) else (c, f"{w} has {c} images") for w, c in counted]
    if room:
        available, where = min(room)
        if need > available:
            _refuse_images(e.shots, e.queries, available, where)
    return facts


def _class_sizes(labels: np.ndarray, allowed: list[int] | None) -> np.ndarray:
    """Images per usable class, largest first."""
    present, counts = np.unique(labels, return_counts=True)
    keep = [n for c, n in zip(present, counts) if allowed is None or c in allowed]
    return np.sort(np.array(keep, dtype=np.int64))[::-1]


def _refuse_images(shots: int, queries: int, available: int, where: str) -> None:
    """Blame the larger of shots and queries; its limit keeps the other as it is."""
    field, value, other = ("episodes.shots", shots, queries) if shots >= queries else ("episodes.queries", queries, shots)
    limit = available - other
    hint = f"at most {limit}" if limit >= 1 else f"none fit (lower {'episodes.queries' if field.endswith('shots') else 'episodes.shots'} first)"
    raise _refuse(field, value, f"{where}; shots + queries ({shots} + {queries}) must be at most {available}, so {hint}")


# ---- memory --------------------------------------------------------------------------------------
MEMORY_FIELDS = ("episodes.shots", "episodes.queries", "episodes.ways", "training.meta_batch_size",
                 "training.inner_steps", "network.decoder_width")


def _get(spec: Spec, field: str) -> int:
    section, key = field.split(".")
    return int(getattr(getattr(spec, section), key))


def _with(spec: Spec, field: str, value: int) -> Spec:
    section, key = field.split(".")
    return dataclasses.replace(spec, **{section: dataclasses.replace(getattr(spec, section), **{key: value})})


def _default(field: str) -> int:
    """The spec types' own default, so that 'most out of scale' means the same as in ``bench.spec``."""
    section, key = field.split(".")
    holder = {"episodes": EpisodesSpec, "training": TrainingSpec, "network": NetworkSpec}[section]
    return int(getattr(holder(), key))


_NET_CACHE: dict[tuple[Any, ...], tuple[tuple[float, float, float], tuple[float, float, float]]] = {}


def _measure(spec: Spec, image_size: int, decoder_width: int) -> tuple[float, float]:
    """(parameters, bytes autograd saves per image) of a real network on the CPU.

    Saved tensors include the weights (a convolution keeps its weight for the
    backward pass), which do not grow with the batch: the per-image bytes are
    the difference between batches of 4 and 2, halved.
    """
    from methods.network import MultiTaskNet, NetworkConfig

    config = NetworkConfig(image_size=image_size, widths=spec.network.widths, decoder_width=decoder_width,
                           ways=spec.episodes.ways)
    net = MultiTaskNet(config, spec.tasks)
    per_image = 0.0
    for task in spec.tasks:
        saved = []
        for batch in (2, 4):  # batch statistics need more than one image
            total = [0.0]

            def pack(t: torch.Tensor, total: list[float] = total) -> torch.Tensor:
                total[0] += t.numel() * t.element_size()
                return t

            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                net(torch.zeros(batch, 3, image_size, image_size), task)
            saved.append(total[0])
        per_image = max(per_image, (saved[1] - saved[0]) / 2)
    return float(sum(p.numel() for p in net.parameters())), per_image


def _quadratic(values: tuple[float, float, float]) -> tuple[float, float, float]:
    """Coefficients (c0, c1, c2) of the quadratic through (1, v1), (2, v2), (3, v3)."""
    v1, v2, v3 = values
    c2 = (v3 - 2 * v2 + v1) / 2
    c1 = v2 - v1 - 3 * c2
    return v1 - c1 - c2, c1, c2


def network_footprint(spec: Spec, image_size: int) -> tuple[float, float]:
    """(parameters, bytes saved for the backward pass per image) of the shared network at the spec's size.

    Nothing of the spec's own size is allocated, so an absurd width gives a
    number, never an allocation error: the network is measured at decoder widths
    1, 2 and 3 and extrapolated as quadratics in the decoder width (a decoder
    layer has width x width weights and width output channels per pixel); a
    test checks the extrapolation against real builds.
    """
    key = (spec.network.widths, spec.episodes.ways, spec.tasks, image_size)
    if key not in _NET_CACHE:
        measured = [_measure(spec, image_size, d) for d in (1, 2, 3)]
        _NET_CACHE[key] = (_quadratic((measured[0][0], measured[1][0], measured[2][0])),
                           _quadratic((measured[0][1], measured[1][1], measured[2][1])))
    (p0, p1, p2), (s0, s1, s2) = _NET_CACHE[key]
    d = float(spec.network.decoder_width)
    return p0 + p1 * d + p2 * d * d, s0 + s1 * d + s2 * d * d


def images_per_episode(spec: Spec) -> tuple[int, int]:
    """(support, query) images of the largest episode among the spec's tasks."""
    e = spec.episodes
    per_class = e.ways if "classification" in spec.tasks else 1
    return e.shots * per_class, e.queries * per_class


def training_bytes(spec: Spec, image_size: int) -> float:
    """Peak bytes of one worker's meta-training step, data aside.

    Weights, gradients, Adam's two moments and a per-weight learning rate
    (Meta-SGD) are five copies of the parameters. The meta-batch is drawn whole
    (every episode's images at once), while only one episode's second-order
    graph is alive at a time (``methods/meta_batch.py``): its fast weights and
    saved activations for every inner step, and the query pass.
    """
    params, per_image = network_footprint(spec, image_size)
    support, query = images_per_episode(spec)
    t = spec.training
    steps = max(t.inner_steps, t.test_inner_steps or 0)
    # an image (3 channels) and at most a 3-channel target and a mask per pixel, as float32
    batch_images = t.meta_batch_size * (support + query) * 7 * image_size * image_size * 4
    graph = steps * (4 * params + support * per_image) + query * per_image
    return 4 * params * 5 + float(batch_images) + 2 * graph


def check_memory(spec: Spec, image_size: int, data: DataFacts, machine: Machine, workers: int,
                 data_on_device: bool) -> None:
    """Refuse a run whose workers together need more memory than the machine has free."""
    budget = machine.memory_bytes
    data_bytes = data.tensor_bytes if data_on_device else 0

    def need(s: Spec) -> float:
        return workers * (training_bytes(s, image_size) + data_bytes)

    if need(spec) <= budget:
        return
    blamed = max(MEMORY_FIELDS, key=lambda f: _get(spec, f) / _default(f))
    value = _get(spec, blamed)
    low = 2 if blamed == "episodes.ways" else 1
    limit = _largest_fitting(lambda v: need(_with(spec, blamed, v)) <= budget, low, value)
    estimate = _gib(need(spec))
    if limit is None:
        raise _refuse(blamed, value, f"a run of {workers} worker(s) needs about {estimate} and this machine has "
                      f"{_gib(budget)} {machine.memory_what}, even with {blamed} = {low}; the domains' data alone "
                      f"take {_gib(workers * data_bytes)}: use fewer workers or a smaller image_size")
    raise _refuse(blamed, value, f"a run of {workers} worker(s) needs about {estimate} of memory (network, "
                  f"meta-batch and data), this machine has {_gib(budget)} {machine.memory_what}; at most {limit} fits")


def _largest_fitting(fits: Callable[[int], bool], low: int, high: int) -> int | None:
    """The largest v in [low, high) with fits(v), for fits monotone decreasing; None if none."""
    if not fits(low):
        return None
    good, bad = low, high
    while bad - good > 1:
        mid = (good + bad) // 2
        if fits(mid):
            good = mid
        else:
            bad = mid
    return good


def _gib(n: float) -> str:
    if not math.isfinite(n):
        return "more memory than can be counted"
    return f"{n / GIB:.1f} GiB" if n < 1e4 * GIB else f"{n / GIB:.2g} GiB"


# ---- disk ------------------------------------------------------------------------------------------
DISK_FIELDS = ("seeds", "episodes.test_episodes", "training.budget_steps", "speed.pairs", "speed.blocks",
               "speed.warmup")


def stored_rows(spec: Spec, test_domains: dict[str, list[str]]) -> float:
    """Rows the store will hold: metric values, timing samples, learning curves, speed samples."""
    e, t = spec.episodes, spec.training
    per_cell = 0.0
    for task in spec.tasks:
        episodes = float(len(test_domains[task])) * e.test_episodes
        per_cell += episodes * (len(metrics_for(task)) + 3)  # each metric, and data/adapt/infer timings
    steps = float((t.budget_steps or 0) + t.pretrain_steps)
    per_cell += 2 * steps  # a timing sample and a curve point per meta-training step
    rows = per_cell * len(spec.seeds) * len(spec.methods)
    if spec.speed is not None:
        s = spec.speed
        rows += float(s.total_blocks) * (s.pairs + s.warmup) * len(s.methods) * 3
    return rows


def check_disk(spec: Spec, test_domains: dict[str, list[str]], machine: Machine) -> None:
    def need(s: Spec) -> float:
        return stored_rows(s, test_domains) * BYTES_PER_ROW

    if need(spec) <= machine.disk_bytes:
        return
    present = [f for f in DISK_FIELDS if _disk_value(spec, f) is not None]
    blamed = max(present, key=lambda f: (_disk_value(spec, f) or 0) / max(1, _disk_default(f)))
    value = _disk_value(spec, blamed)
    assert value is not None
    low = 0 if blamed == "speed.warmup" else 1
    limit = _largest_fitting(lambda v: need(_disk_with(spec, blamed, v)) <= machine.disk_bytes, low, value)
    shown = len(spec.seeds) if blamed == "seeds" else value
    raise _refuse(blamed, shown, f"the run would store about {need(spec) / GIB:.3g} GiB of results and the output "
                  f"folder's disk has {machine.disk_bytes / GIB:.1f} GiB free; at most "
                  f"{limit if limit is not None else 'none'} fits")


def _disk_value(spec: Spec, field: str) -> int | None:
    if field == "seeds":
        return len(spec.seeds)
    if field.startswith("speed."):
        return None if spec.speed is None else int(getattr(spec.speed, field.split(".")[1]))
    if field == "training.budget_steps":
        return spec.training.budget_steps
    return _get(spec, field)


def _disk_default(field: str) -> int:
    return {"seeds": 3, "training.budget_steps": 100, "speed.pairs": 30, "speed.blocks": 3, "speed.warmup": 3}.get(
        field, 10)


def _disk_with(spec: Spec, field: str, value: int) -> Spec:
    if field == "seeds":
        return dataclasses.replace(spec, seeds=tuple(range(value)))
    if field.startswith("speed."):
        assert spec.speed is not None
        return dataclasses.replace(spec, speed=dataclasses.replace(spec.speed, **{field.split(".")[1]: value}))
    return _with(spec, field, value)


# ---- duration ------------------------------------------------------------------------------------
def seconds_per_image(spec: Spec, image_size: int, device: torch.device, threads: int) -> float:
    """Measured seconds of one forward and backward pass per image, averaged over the spec's tasks."""
    from methods.network import MultiTaskNet, NetworkConfig

    config = NetworkConfig(image_size=image_size, widths=spec.network.widths,
                           decoder_width=spec.network.decoder_width, ways=spec.episodes.ways)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        net = MultiTaskNet(config, spec.tasks).to(device)
        n = 8
        x = torch.rand(n, 3, image_size, image_size, device=device)
        total = 0.0
        for task in spec.tasks:
            for attempt in range(2):  # the first pass warms up kernels and allocators
                start = time.perf_counter()
                pred = net(x, task)
                pred.float().pow(2).mean().backward()
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                if attempt:
                    total += time.perf_counter() - start
        return total / (n * len(spec.tasks))
    finally:
        torch.set_num_threads(before)


def estimate_seconds(spec: Spec, test_domains: dict[str, list[str]], per_image: float, workers: int,
                     image_size: int | None = None) -> float:
    """Wall seconds of the whole run: cells spread over the workers, then the speed blocks one by one.

    A meta-train step runs ``inner_steps`` passes over each episode's support
    set and one over its query set, whose backward goes through the inner steps
    again (second order, about twice the work); adaptation at meta-test runs the
    inner steps once more, inference a forward pass (a third of a pass and
    backward). Good to a factor of about two: it is for planning, not a figure.
    A scaling grid's point (``[speed]``, docs/scaling.md) scales ``per_image`` by
    its FLOPs: the width multiplier squared and its image area over the suite's
    (``image_size``), with its own inner steps.
    """
    support, query = images_per_episode(spec)
    t = spec.training
    adapt_steps = t.inner_steps if t.test_inner_steps is None else t.test_inner_steps
    step = t.meta_batch_size * (t.inner_steps * support + query * (1 + t.inner_steps)) * per_image
    steps = (t.budget_steps or 0) + t.pretrain_steps
    train = step * steps if t.budget_steps is not None else float(t.budget_seconds or 0)
    if t.budget_steps is not None and t.budget_seconds is not None:
        train = min(train, t.budget_seconds)
    episodes = sum(len(test_domains[task]) for task in spec.tasks) * spec.episodes.test_episodes
    evaluate = episodes * (adapt_steps * support + query / 3) * per_image
    cells = len(spec.seeds) * len(spec.methods)
    total = math.ceil(cells / max(1, workers)) * (train + evaluate)
    if spec.speed is not None:
        s = spec.speed
        for point in s.points():
            scale = float(point.width_multiplier or 1) ** 2
            if point.image_size is not None and image_size:
                scale *= (point.image_size / image_size) ** 2
            k = t.inner_steps if point.inner_steps is None else point.inner_steps
            k_adapt = adapt_steps if point.inner_steps is None else point.inner_steps
            pair = (t.meta_batch_size * (k * support + query * (1 + k)) + k_adapt * support + query / 3) * per_image
            pairs = s.blocks * (s.pairs + s.warmup) + (3 if s.scaled else 0)  # the costs, counted under the profiler
            total += pairs * len(s.methods) * pair * scale
    return total


def describe_seconds(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
