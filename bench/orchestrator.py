"""The orchestrator of ``mtml-bench run``: check everything, plan the cells, run them, store each one.

Order matters for the promises the CLI makes. Every check that can fail on
user input (spec, method and suite names, tasks the suite lacks, device,
output folder, a resumed store of another spec, an executor that refuses: a
Ray cluster with no node that can hold a cell) runs before anything is
written, so a bad invocation overwrites nothing and leaves no empty store
that a re-run would need --overwrite for. Then the store is created
with its manifest, cells run on the chosen executor and each finished cell is
committed in one transaction by this process alone; finally the speed section
runs its blocks one at a time in fresh processes, on an otherwise idle machine.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from bench import cell, sizes
from bench.errors import UserError
from bench.executors import Executor, WorkerSetup, available_cores, make_executor
from bench.manifest import build_manifest
from bench.progress import Event, Progress
from bench.spec import Spec, check_names, parse_spec
from bench.store import STORE_NAME, CellResult, SpeedBlockResult, Store, open_store
from domains.suite import DataError
from methods.device import DeviceError, resolve_device

INTERRUPTED = 130


@dataclass
class Prepared:
    """A checked spec with everything the workers need."""

    spec: Spec
    plan: cell.Plan
    device: torch.device
    parameter_counts: dict[str, int]
    split: dict[str, Any]
    workers: int
    threads: int
    estimated_seconds: float = 0.0
    method_roles: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Outcome:
    run_dir: Path
    cells: int  # planned
    ran: int  # run in this session (the rest were already stored)
    failed: list[tuple[str, int, str]]
    wall_seconds: float  # the whole session
    cells_wall_seconds: float  # until the last cell was stored (before the speed section)
    method_seconds: float  # inside meta_train_step, adapt and infer, summed over this session's cells
    worker_seconds: float  # the cells' own wall times, summed
    workers: int

    @property
    def cell_overhead(self) -> float:
        """Share of the cells' time outside method phases (data, evaluation, model building, FLOP counting)."""
        return 1.0 - self.method_seconds / self.worker_seconds if self.worker_seconds > 0 else float("nan")

    @property
    def total_overhead(self) -> float:
        """Share of the worker capacity while cells ran (wall x workers) outside method phases: adds
        process startup, the store and idle workers to ``cell_overhead``."""
        capacity = self.cells_wall_seconds * self.workers
        return 1.0 - self.method_seconds / capacity if capacity > 0 else float("nan")


def default_run_dir(spec: Spec) -> Path:
    return Path("runs") / f"{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}-{spec.name}"


def sizing(spec: Spec, device: torch.device, cells: int) -> tuple[int, int]:
    """(workers, threads per worker): the pool fills the cores, each worker gets its share of threads."""
    cores = available_cores()
    rt = spec.runtime
    if rt.executor == "inline":
        return 1, rt.threads or cores
    if rt.executor == "ray":
        return rt.workers or cores, rt.threads or 1
    default_workers = 1 if device.type == "cuda" else min(cores, max(cells, 1))
    workers = rt.workers or (max(1, cores // rt.threads) if rt.threads else default_workers)
    threads = rt.threads or max(1, cores // workers)
    return workers, threads


def prepare(spec: Spec, run_dir: Path, expect_split: str | None = None) -> Prepared:
    """All checks on names, data, sizes and device; builds each method once to count its parameters.

    Sizes come before any method is built: an absurd width or meta-batch is
    refused from its estimate instead of being allocated (``bench.sizes``).
    """
    check_names(spec)
    try:
        device = resolve_device(spec.runtime.device)
    except DeviceError as err:
        raise UserError(str(err)) from None
    suite = cell.build_suite(spec)
    try:
        suite.require_tasks(spec.tasks)
    except DataError as err:
        raise UserError(str(err)) from None
    sampler = cell.build_sampler(spec, suite)
    if expect_split is not None and sampler.split_hash != expect_split:
        raise UserError(f"the suite's split hash is now {sampler.split_hash[:12]}..., the run was started on "
                        f"{expect_split[:12]}...; the data changed. Start a new run instead of resuming.")
    test_domains: dict[str, list[str]] = {}
    for task in spec.tasks:
        for stream in ("train", "test"):
            if not sampler.domains(task, stream):
                raise UserError(f"suite '{spec.suite.name}' has no meta-{stream} domains for task '{task}' in its "
                                "split. Use another split or remove the task.")
        test_domains[task] = cell.choose_test_domains(sampler, task, spec.episodes.max_test_domains)
    try:
        image_size = cell.image_size_of(sampler, spec.tasks[0])
    except DataError as err:
        raise UserError(str(err)) from None
    workers, threads = sizing(spec, device, len(spec.methods) * len(spec.seeds))
    try:
        facts = sizes.check_data(spec, sampler, test_domains)
    except DataError as err:
        raise UserError(str(err)) from None
    cores = available_cores()
    sizes.check_cores(spec, workers, threads, cores)
    machine = sizes.machine_of(device, run_dir, cores)
    sizes.check_memory(spec, image_size, facts, machine, workers, data_on_device=device.type == "cpu")
    sizes.check_disk(spec, test_domains, machine)
    counts: dict[str, int] = {}
    roles: dict[str, dict[str, Any]] = {}  # what reports need: control or not, and the tasks it is scored on
    for name in spec.method_names:
        try:
            method = cell.build_method(spec, name, image_size, sampler.split_hash, spec.seeds[0], torch.device("cpu"))
        except (TypeError, ValueError, KeyError) as err:
            raise UserError(f"method '{name}' cannot be built from the spec: {cell.one_line(err)}. "
                            f"Fix [methods.{name}] or [training].") from None
        except ImportError as err:  # an optional dependency (learn2learn); the message names the install command
            raise UserError(str(err)) from None
        counts[name] = method.parameter_count()
        roles[name] = {"control": method.control,
                       "tasks": None if method.scored_tasks is None else [t for t in spec.tasks if method.scores(t)]}
    per_image = sizes.seconds_per_image(spec, image_size, device, threads)
    estimated = sizes.estimate_seconds(spec, test_domains, per_image, workers, image_size)
    warmup = spec.speed.warmup if spec.speed is not None else 3
    plan = cell.Plan(spec=spec.to_dict(), image_size=image_size, split_hash=sampler.split_hash,
                       test_domains=test_domains, device=str(device), threads=threads, warmup=warmup,
                       cost_seed=spec.seeds[0])
    return Prepared(spec, plan, device, counts, sampler.split.to_json_dict(), workers, threads, estimated, roles)


def announce_duration(prepared: Prepared) -> None:
    """Say up front how long a long run will take, so that a wrong size is noticed before hours pass."""
    if prepared.estimated_seconds > sizes.LONG_RUN_SECONDS:
        print(f"estimated duration: about {sizes.describe_seconds(prepared.estimated_seconds)} "
              f"({len(prepared.spec.seeds) * len(prepared.spec.methods)} cells on {prepared.workers} worker(s), "
              f"from one timed pass of this network; good to a factor of about two)", file=sys.stderr)


def check_writable(run_dir: Path, overwrite: bool) -> None:
    """Refuse an existing store (unless --overwrite) and a folder that cannot be created or written."""
    store = run_dir / STORE_NAME
    if store.exists() and not overwrite:
        raise UserError(f"{run_dir} already holds a run ({STORE_NAME}). Resume it with --resume {run_dir}, "
                        "pass --overwrite to replace it, or choose another --out.")
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"output folder {run_dir} is a file. Choose another --out.")
    probe = run_dir
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"cannot write the output folder {run_dir} ({probe} is not writable). "
                        "Choose another --out.")


def start(spec: Spec, run_dir: Path | None, overwrite: bool, progress: bool) -> Outcome:
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(spec)
    check_writable(run_dir, overwrite)
    prepared = prepare(spec, run_dir)
    announce_duration(prepared)
    relay = _Relay()
    try:  # before anything is written: a refused executor (a Ray cluster too small) leaves no empty store
        executor = open_executor(prepared, relay)
    except UserError as err:
        raise UserError(f"{err} Nothing was written to {run_dir}.", exit_code=err.exit_code) from None
    try:
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise UserError(f"cannot create the output folder {run_dir} ({err.strerror}). "
                            "Choose another --out.") from None
        if overwrite:
            for suffix in ("", "-wal", "-shm"):
                (run_dir / (STORE_NAME + suffix)).unlink(missing_ok=True)
            shutil.rmtree(run_dir / "report", ignore_errors=True)
        runtime = {"executor": spec.runtime.executor, "workers": prepared.workers,
                   "threads_per_worker": prepared.threads, "address": spec.runtime.address}
        manifest = build_manifest(spec, prepared.split, prepared.plan.split_hash, prepared.device, prepared.threads,
                                  available_cores(), prepared.parameter_counts, prepared.plan.image_size,
                                  prepared.plan.test_domains, runtime)
        manifest["method_roles"] = prepared.method_roles
        store = Store.create(run_dir / STORE_NAME, manifest)
    except BaseException:
        executor.close()
        raise
    return execute(prepared, store, run_dir, progress, executor, relay)


def resume(run_dir: Path, spec_given: Spec | None, runtime_overrides: dict[str, Any], progress: bool) -> Outcome:
    """Continue a run from its store: the spec comes from the manifest; finished cells are skipped."""
    store = open_store(run_dir, readonly=False)
    manifest = store.manifest()
    stored = parse_spec(manifest["spec"], source=str(manifest.get("spec_source", "")))
    if spec_given is not None and spec_given.hash != stored.hash:
        store.close()
        raise UserError(f"{run_dir} holds a run of spec '{stored.name}' (hash {stored.hash[:12]}...), not of "
                        f"'{spec_given.name}' (hash {spec_given.hash[:12]}...). Drop the SPEC argument to resume it, "
                        "or start the new spec in another --out folder.")
    if runtime_overrides.get("device") not in (None, stored.runtime.device):
        store.close()
        raise UserError(f"{run_dir} was run on device '{stored.runtime.device}'; resuming on "
                        f"'{runtime_overrides['device']}' would mix devices. Drop --device.")
    # thread counts change floating-point reduction orders: the rest of the run keeps the stored count
    threads = (manifest.get("runtime") or {}).get("threads_per_worker")
    if runtime_overrides.get("threads") not in (None, threads):
        store.close()
        raise UserError(f"{run_dir} ran with {threads} thread(s) per worker; resuming with "
                        f"{runtime_overrides['threads']} could change results. Drop --threads.")
    changes = {k: v for k, v in runtime_overrides.items() if k not in ("device", "threads")}
    spec = stored.with_overrides(**changes, threads=threads)
    prepared = prepare(spec, run_dir, expect_split=manifest["split_hash"])
    announce_duration(prepared)
    relay = _Relay()
    try:
        executor = open_executor(prepared, relay)
    except UserError as err:
        store.close()
        raise UserError(f"{err} Nothing ran; continue with: mtml-bench run --resume {run_dir}",
                        exit_code=err.exit_code) from None
    if "method_roles" not in manifest:  # a store written before the manifest recorded them
        store.set_manifest(method_roles=prepared.method_roles)
    return execute(prepared, store, run_dir, progress, executor, relay)


class _Relay:
    """The executor's progress callback: it is made before the progress bar exists (``execute`` connects them)."""

    def __init__(self) -> None:
        self.target: Callable[[Event], None] | None = None

    def __call__(self, event: Event) -> None:
        if self.target is not None:
            self.target(event)


def open_executor(prepared: Prepared, on_event: Callable[[Event], None]) -> Executor:
    """The spec's executor; a refusal (Ray unreachable, no node that can hold a cell) is a ``UserError``."""
    spec, plan = prepared.spec, prepared.plan
    setup = WorkerSetup(threads=plan.threads, sys_path=tuple(p for p in sys.path if p),
                        plugins=spec.runtime.plugins)
    return make_executor(spec.runtime.executor, setup, prepared.workers, on_event, spec.runtime.address,
                         plan.device)


def execute(prepared: Prepared, store: Store, run_dir: Path, progress_on: bool, executor: Executor,
            relay: _Relay) -> Outcome:
    """Run what the store lacks on ``executor`` (closed at the end), committing each result as it arrives."""
    spec, plan = prepared.spec, prepared.plan
    planned = [(m, s) for s in spec.seeds for m in spec.method_names]
    finished = store.finished_cells()
    todo = [c for c in planned if c not in finished]
    blocks = list(range(spec.speed.total_blocks)) if spec.speed is not None else []  # a grid: blocks at every point
    blocks = [b for b in blocks if b not in store.finished_blocks()]
    bar = Progress(len(planned), done=len(planned) - len(todo), enabled=progress_on)
    relay.target = bar.event
    start_time = time.perf_counter()
    method_seconds = worker_seconds = 0.0
    failed: list[tuple[str, int, str]] = []
    interrupted = False
    cells_wall = 0.0
    try:
        store.set_manifest(runtime=manifest_runtime(store, executor))
        for result in executor.imap([("cell", plan, (m, s)) for m, s in todo]):
            assert isinstance(result, CellResult)
            store.commit_cell(result)
            method_seconds += result.method_seconds()
            worker_seconds += result.wall_seconds
            if result.status != "done":
                failed.append((result.method, result.seed, result.reason or ""))
            bar.cell_done(result.status != "done")
        cells_wall = time.perf_counter() - start_time
        if blocks:
            bar.restart(len(blocks), "speed blocks")
            for block in executor.imap_fresh([("speed", plan, (b,)) for b in blocks]):
                assert isinstance(block, SpeedBlockResult)
                store.commit_speed_block(block)
                if block.status != "done":
                    failed.append(("speed", block.block, block.reason or ""))
                bar.cell_done(block.status != "done")
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
        relay.target = None
        executor.close()
    if interrupted:
        done = len(store.finished_cells())
        store.close()
        raise UserError(f"interrupted: {done} of {len(planned)} cells are stored in {run_dir}. "
                        f"Continue with: mtml-bench run --resume {run_dir}", exit_code=INTERRUPTED)
    wall = time.perf_counter() - start_time
    outcome = Outcome(run_dir, len(planned), len(todo), failed, wall, cells_wall, method_seconds, worker_seconds,
                      prepared.workers)
    store.set_manifest(finished=_finished_note(store, outcome))
    store.close()
    return outcome


def manifest_runtime(store: Store, executor: Executor) -> dict[str, Any]:
    runtime = dict(store.manifest().get("runtime") or {})
    runtime.update(executor.describe())
    return runtime


def _finished_note(store: Store, o: Outcome) -> dict[str, Any]:
    """Figures of the last (possibly resumed) session: wall times and time outside method phases."""
    previous = store.manifest().get("finished") or {}
    return {"at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "sessions": int(previous.get("sessions", 0)) + 1,
            "cells_run": o.ran, "wall_seconds": o.wall_seconds, "cells_wall_seconds": o.cells_wall_seconds,
            "method_seconds": o.method_seconds, "cell_seconds": o.worker_seconds, "workers": o.workers,
            "cell_overhead": o.cell_overhead, "total_overhead": o.total_overhead}
