"""Where cells run: ``inline`` (this process, for debugging), ``process`` (a local pool, the default)
or ``ray`` (Ray, the existing engine for more than one machine: ``--executor ray --address HOST:PORT``).

Whatever the executor, workers only compute and return results; the orchestrator is
the only process that writes the store. Each worker fixes its torch threads to
its share of the cores before any work (the count is recorded in the
manifest), ignores Ctrl-C (the orchestrator handles it and stops the pool) and, on
Linux, dies with the orchestrator, so a killed run leaves no orphans computing
results nobody will store. ``imap_fresh`` runs each job in a new process, one
at a time: the speed section's blocks need fresh processes and an otherwise
idle machine.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import multiprocessing
import os
import queue as queue_module
import signal
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from bench.errors import UserError

THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
POLL_SECONDS = 0.1

# A job: (kind, plan, args); kind 'cell' -> cell.run_cell(plan, method, seed), 'speed' -> speed_section.run_speed_block
Job = tuple[str, Any, tuple[Any, ...]]
OnEvent = Callable[[tuple[str, int, str, int, int]], None]


@dataclass(frozen=True)
class WorkerSetup:
    threads: int
    sys_path: tuple[str, ...]
    plugins: tuple[str, ...]


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# ---- what runs inside a worker -------------------------------------------------------------------
_EVENTS: Any = None
_READY: WorkerSetup | None = None


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def init_worker(setup: WorkerSetup, events: Any = None, isolated: bool = True) -> None:
    """Threads, import paths and registries of a worker (idempotent)."""
    global _EVENTS, _READY
    _EVENTS = events
    if _READY == setup:
        return
    if isolated:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _die_with_parent()
    for path in setup.sys_path:
        if path not in sys.path and os.path.isdir(path):
            sys.path.append(path)
    for name in THREAD_ENV:
        os.environ[name] = str(setup.threads)
    import torch

    torch.set_num_threads(setup.threads)
    with contextlib.suppress(RuntimeError):  # only settable before the first parallel region
        torch.set_num_interop_threads(1)
    for module in (*setup.plugins, "domains.catalog", "methods.registry"):
        importlib.import_module(module)
    _READY = setup


def emit(event: tuple[str, int, str, int, int]) -> None:
    if _EVENTS is not None:
        with contextlib.suppress(Exception):  # progress is best effort; never fail a cell over it
            _EVENTS.put_nowait(event) if hasattr(_EVENTS, "put_nowait") else _EVENTS.put(event)


def call(job: Job) -> Any:
    kind, plan, args = job
    if kind == "cell":
        from bench.cell import run_cell

        return run_cell(plan, *args, emit=emit)
    if kind == "speed":
        from bench.speed_section import run_speed_block

        return run_speed_block(plan, *args, emit=emit)
    raise ValueError(f"unknown job kind {kind!r}")


def _pool_call(job: Job) -> Any:
    return call(job)


def _ray_call(setup: WorkerSetup, events: Any, job: Job) -> Any:
    init_worker(setup, events, isolated=False)
    return call(job)


# ---- executors -----------------------------------------------------------------------------------
class Executor(ABC):
    name = ""

    def __init__(self, setup: WorkerSetup, workers: int, on_event: OnEvent):
        self.setup, self.workers, self.on_event = setup, workers, on_event

    @abstractmethod
    def imap(self, jobs: Sequence[Job]) -> Iterator[Any]:
        """Results in completion order; progress events are passed to ``on_event`` meanwhile."""

    @abstractmethod
    def imap_fresh(self, jobs: Sequence[Job]) -> Iterator[Any]:
        """One job at a time, each in a fresh process (where the executor has processes)."""

    def close(self) -> None:
        return None

    def describe(self) -> dict[str, Any]:
        # string hashing decides set/dict-of-set orders; a method that depends on them is only
        # reproducible under a fixed PYTHONHASHSEED, so the value the workers ran under is recorded
        return {"executor": self.name, "workers": self.workers, "threads_per_worker": self.setup.threads,
                "pythonhashseed": os.environ.get("PYTHONHASHSEED", "random")}


class InlineExecutor(Executor):
    """Everything in the orchestrator process: tracebacks and debuggers work; nothing is parallel."""

    name = "inline"

    def __init__(self, setup: WorkerSetup, workers: int, on_event: OnEvent):
        super().__init__(setup, 1, on_event)
        global _EVENTS
        init_worker(setup, None, isolated=False)
        _EVENTS = _Direct(on_event)

    def imap(self, jobs: Sequence[Job]) -> Iterator[Any]:
        for job in jobs:
            yield call(job)

    def imap_fresh(self, jobs: Sequence[Job]) -> Iterator[Any]:
        return self.imap(jobs)

    def close(self) -> None:
        global _EVENTS
        _EVENTS = None


class _Direct:
    def __init__(self, on_event: OnEvent):
        self.on_event = on_event

    def put_nowait(self, event: tuple[str, int, str, int, int]) -> None:
        self.on_event(event)


class ProcessExecutor(Executor):
    """A local pool of spawned processes.

    ``spawn``, because forking a process that has run torch is unsafe; ``ProcessPoolExecutor``,
    because its workers are not daemonic, so a suite may start its own pool inside one (SynthRooms
    renders missing environments in parallel).
    """

    name = "process"

    def __init__(self, setup: WorkerSetup, workers: int, on_event: OnEvent):
        super().__init__(setup, workers, on_event)
        self.ctx = multiprocessing.get_context("spawn")
        self.events = self.ctx.Queue()
        self.pools: list[ProcessPoolExecutor] = []
        self._saved_env = {k: os.environ.get(k) for k in (*THREAD_ENV, "PYTHONHASHSEED")}
        for name in THREAD_ENV:  # inherited at spawn, before the child imports torch
            os.environ[name] = str(setup.threads)
        os.environ.setdefault("PYTHONHASHSEED", "0")  # the same string hashing in every worker

    def _new_pool(self, size: int) -> ProcessPoolExecutor:
        # A fresh pool is created for one job and shut down after it, so its one worker never serves a
        # second job (``max_tasks_per_child`` would say the same, but exists only from Python 3.11 on).
        pool = ProcessPoolExecutor(size, mp_context=self.ctx, initializer=init_worker,
                                   initargs=(self.setup, self.events))
        self.pools.append(pool)
        return pool

    def _drain(self) -> None:
        while True:
            try:
                self.on_event(self.events.get_nowait())
            except queue_module.Empty:
                return

    def _collect(self, pending: set[Future[Any]]) -> Iterator[Any]:
        while pending:
            done, pending = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            self._drain()
            for future in done:
                yield _result(future)
        self._drain()

    def imap(self, jobs: Sequence[Job]) -> Iterator[Any]:
        if not jobs:
            return
        pool = self._new_pool(min(self.workers, len(jobs)))
        yield from self._collect({pool.submit(_pool_call, job) for job in jobs})

    def imap_fresh(self, jobs: Sequence[Job]) -> Iterator[Any]:
        for job in jobs:
            pool = self._new_pool(1)  # a fresh process for this job alone
            yield from self._collect({pool.submit(_pool_call, job)})
            pool.shutdown(wait=True)

    def close(self) -> None:
        for pool in self.pools:
            # stop running cells now (Ctrl-C): their results would be discarded anyway
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                with contextlib.suppress(Exception):
                    process.terminate()
            pool.shutdown(wait=True, cancel_futures=True)
        self.pools = []
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _result(future: Future[Any]) -> Any:
    try:
        return future.result()
    except BrokenProcessPool:
        raise UserError("a worker process died (killed, or out of memory); the cells stored so far are kept. "
                        "Resume with 'mtml-bench run --resume DIR', with fewer --workers if memory is short.",
                        exit_code=4) from None


class RayExecutor(Executor):
    """Cells as Ray tasks; starts a local Ray unless one is running or an ``address`` is given.

    Each cell asks for ``threads`` CPUs and, on a CUDA device, one GPU, so Ray places it on a node
    that has them (Ray sets ``CUDA_VISIBLE_DEVICES`` to the GPU it grants, so ``cuda`` in the worker is
    that GPU). The cluster is checked up front: if no node could ever run a cell, the run stops
    before anything is computed, with the nodes' resources in the message. The speed section's
    blocks are tasks of a separate remote function declared with ``max_calls=1``, so Ray retires
    the worker process after each block and every block starts in a fresh process (Ray accepts
    ``max_calls`` only where a remote function is declared, not in ``.options()``).
    """

    name = "ray"

    def __init__(self, setup: WorkerSetup, workers: int, on_event: OnEvent, address: str | None = None,
                 device: str = "cpu"):
        super().__init__(setup, workers, on_event)
        try:
            import ray
            from ray.util.queue import Queue
        except ImportError:
            raise UserError("the ray executor needs Ray: pip install 'mtml-bench[ray]' "
                            "(or use --executor process)") from None
        self.ray = ray
        self.started = False
        self.gpus = 1 if device.startswith("cuda") else 0
        if not ray.is_initialized():
            env = {"PYTHONPATH": os.pathsep.join(setup.sys_path), "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", "0"),
                   **{k: str(setup.threads) for k in THREAD_ENV}}
            kwargs: dict[str, Any] = {"include_dashboard": False, "runtime_env": {"env_vars": env},
                                      "logging_level": "WARNING", "log_to_driver": False}
            if address is None:
                kwargs["num_cpus"] = max(1, workers * setup.threads)
            try:
                ray.init(address=address, **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as err:
                raise UserError(f"cannot start or reach Ray at {address or 'a local instance'}: "
                                f"{' '.join(str(err).split())[:200]}. Check --address.") from None
            self.started = True
        self.address = address or "a local instance"
        try:
            check_cluster(ray.nodes(), setup.threads, self.gpus, self.address)
        except UserError:
            self.close()
            raise
        self.events = Queue()
        self.remote = ray.remote(num_cpus=setup.threads, num_gpus=self.gpus)(_ray_call)
        self.fresh = ray.remote(num_cpus=setup.threads, num_gpus=self.gpus, max_calls=1)(_ray_fresh_call)
        self.refs: list[Any] = []

    def _drain(self) -> None:
        with contextlib.suppress(Exception):
            for event in self.events.get_nowait_batch(self.events.qsize()):
                self.on_event(event)

    def _collect(self, refs: list[Any]) -> Iterator[Any]:
        self.refs = refs
        while refs:
            ready, refs = self.ray.wait(refs, num_returns=1, timeout=POLL_SECONDS * 2)
            self.refs = refs
            self._drain()
            for ref in ready:
                yield self.ray.get(ref)
        self._drain()

    def imap(self, jobs: Sequence[Job]) -> Iterator[Any]:
        yield from self._collect([self.remote.remote(self.setup, self.events, job) for job in jobs])

    def imap_fresh(self, jobs: Sequence[Job]) -> Iterator[Any]:
        for job in jobs:
            yield from self._collect([self.fresh.remote(self.setup, self.events, job)])

    def close(self) -> None:
        for ref in getattr(self, "refs", []):
            with contextlib.suppress(Exception):
                self.ray.cancel(ref, force=True)
        self.refs = []
        if hasattr(self, "events"):
            with contextlib.suppress(Exception):
                self.ray.kill(self.events.actor)
        if self.started:
            self.ray.shutdown()
            self.started = False

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        with contextlib.suppress(Exception):
            resources = self.ray.cluster_resources()
            info["cluster_cpus"] = resources.get("CPU")
            info["cluster_gpus"] = resources.get("GPU", 0.0)
            info["cluster_nodes"] = sum(1 for n in self.ray.nodes() if n.get("Alive"))
            info["gpus_per_cell"] = self.gpus
        return info


def _ray_fresh_call(setup: WorkerSetup, events: Any, job: Job) -> Any:
    """The speed blocks' entry point (declared with ``max_calls=1``: one call per worker process)."""
    return _ray_call(setup, events, job)


def check_cluster(nodes: Sequence[dict[str, Any]], cpus: int, gpus: int, address: str) -> None:
    """Stop before any work when no live node of the Ray cluster has the CPUs and GPUs one cell asks for."""
    alive = [n for n in nodes if n.get("Alive")]
    fits = [n for n in alive if n.get("Resources", {}).get("CPU", 0) >= cpus
            and n.get("Resources", {}).get("GPU", 0) >= gpus]
    if fits:
        return
    shown = "; ".join(f"{n.get('NodeManagerAddress', '?')}: {n.get('Resources', {}).get('CPU', 0):g} CPU, "
                      f"{n.get('Resources', {}).get('GPU', 0):g} GPU" for n in alive[:4]) or "no live node"
    need = f"{cpus} CPU" + (f" and {gpus} GPU (device cuda)" if gpus else "")
    fix = ("start nodes with GPUs (ray start --num-gpus N) or run with --device cpu" if gpus
           else "lower --threads or add CPUs to a node (ray start --num-cpus N)")
    raise UserError(f"no node of the Ray cluster at {address} can run a cell: each needs {need}; "
                    f"nodes: {shown}. Fix: {fix}.")


def make_executor(kind: str, setup: WorkerSetup, workers: int, on_event: OnEvent,
                  address: str | None = None, device: str = "cpu") -> Executor:
    if kind == "inline":
        return InlineExecutor(setup, workers, on_event)
    if kind == "process":
        return ProcessExecutor(setup, workers, on_event)
    if kind == "ray":
        return RayExecutor(setup, workers, on_event, address, device)
    raise UserError(f"unknown executor '{kind}'; use inline, process or ray")
