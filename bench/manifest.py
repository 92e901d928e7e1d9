"""The manifest: the facts that make a run's numbers interpretable and comparable later.

What was run (the full spec and its hash, the split hash, each method's
parameter count and the metric definitions) and where (package versions, git
commit, CPU model, cores, threads, device). ``environment`` holds only
machine and software facts, because the regression gate compares it between
runs to decide whether absolute times are comparable.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.spec import Spec
from bench.store import SCHEMA_VERSION, utc_now
from methods.device import describe

PACKAGES = ("mtml-bench", "torch", "numpy", "scipy", "pandas", "learn2learn", "higher", "ray")
REPO = Path(__file__).resolve().parents[1]


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def git_state(repo: Path = REPO) -> dict[str, Any] | None:
    """Commit and dirty flag of the source tree the harness runs from (None outside a git checkout)."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10)
        if sha.returncode != 0:
            return None
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return {"sha": sha.stdout.strip(), "dirty": bool(status.stdout.strip())}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas() -> str:
    config = torch.__config__.show()
    for line in config.splitlines():
        if "BLAS_INFO" in line:
            return line.split("BLAS_INFO=")[-1].split(",")[0].strip()
    return "unknown"


def environment(device: torch.device, threads: int, cores: int) -> dict[str, Any]:
    return {
        "python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
        "platform": platform.platform(), "cpu": cpu_model(), "cores": cores, "blas": blas(),
        "threads": {"torch": threads, "interop": 1,
                    **{k: os.environ.get(k, str(threads)) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}},
        "device": describe(device), "deterministic": torch.are_deterministic_algorithms_enabled(),
    }


def metric_definitions(tasks: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """The definitions the run was scored with (reports prefer these over a later registry)."""
    from domains.metrics import METRICS

    return {name: {"task": m.task, "direction": m.direction, "transform": m.transform, "rope": m.rope,
                   "unit": m.unit, "primary": m.primary, "description": m.description}
            for name, m in METRICS.items() if m.task in tasks}


def build_manifest(spec: Spec, split: dict[str, Any], split_hash: str, device: torch.device, threads: int,
                   cores: int, parameter_counts: dict[str, int], image_size: int,
                   test_domains: dict[str, list[str]], runtime: dict[str, Any]) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "created": utc_now(),
        "spec": spec.to_dict(),
        "spec_hash": spec.hash,
        "spec_source": spec.source,
        "suite": spec.suite.name,
        "split": split,
        "split_hash": split_hash,
        "image_size": image_size,
        "test_domains": test_domains,
        "parameter_counts": parameter_counts,
        "metrics": metric_definitions(spec.tasks),
        "versions": versions(),
        "git": git_state(),
        "environment": environment(device, threads, cores),
        "runtime": runtime,
        "peak_memory": "CUDA: max_memory_allocated after a reset; CPU: peak of the phase's live tensor bytes "
                       "above its start (torch.profiler memory events, every allocation and free)",
    }
