"""Ray at cluster scale: a two-node Ray cluster on this machine runs a spec with a speed section
(``--executor ray --address``) and stores the same results as the process executor; the cluster's
resources are checked before any work.

The cluster is two ``ray start`` processes (a head on 127.0.0.1 and a second node joining it), one
CPU each, in their own process groups and their own temp folder, so the finalizer stops exactly
these processes and nothing else of Ray's on the machine.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from bench.cli import main
from bench.errors import UserError
from bench.executors import check_cluster
from bench.store import STORE_NAME, open_store

ray = pytest.importorskip("ray")
MICRO = Path(__file__).parent / "specs" / "micro.toml"
RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End one ``ray start --block`` and the Ray processes it started (its own process group)."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            # its children (raylet, gcs, workers) share the group; give them the same signal
            os.killpg(process.pid, sig)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            continue


@pytest.fixture
def two_node_cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    # no token authentication: its token file (~/.ray/auth_token) is shared by every Ray on the machine
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    port = _free_port()
    address = f"127.0.0.1:{port}"
    temp = tempfile.mkdtemp(prefix="mtmlray")  # short: Ray's socket paths must stay under 107 characters
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    common = ["--num-cpus", "1", "--num-gpus", "0", "--block", "--disable-usage-stats"]
    head = subprocess.Popen([RAY, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
                             "--include-dashboard", "false", "--temp-dir", temp, *common],
                            env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    nodes = [head]
    try:
        _wait_for_nodes(address, 1, head)
        worker = subprocess.Popen([RAY, "start", "--address", address, "--node-ip-address", "127.0.0.1", *common],
                                  env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        nodes.append(worker)
        _wait_for_nodes(address, 2, worker)
        yield address
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for process in reversed(nodes):
            _stop(process)
        shutil.rmtree(temp, ignore_errors=True)


def _wait_for_nodes(address: str, count: int, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ray start exited with {process.returncode}")
        probe = subprocess.run([sys.executable, "-c", "import ray, sys; ray.init(address=sys.argv[1], "
                                "logging_level='ERROR', log_to_driver=False); "
                                "print(sum(1 for n in ray.nodes() if n['Alive']))", address],
                               capture_output=True, text=True, timeout=60)
        if probe.returncode == 0 and probe.stdout.strip().splitlines()[-1:] == [str(count)]:
            return
        time.sleep(1)
    raise RuntimeError(f"the Ray cluster at {address} did not reach {count} node(s) in {timeout} s")


def _values(run: Path) -> dict[str, pd.DataFrame]:
    """Everything a run stores that must not depend on the executor (timings do, and are only counted)."""
    with open_store(run) as store:
        metrics = store.metric_frame().sort_values(["method", "seed", "task", "domain", "episode", "metric"])
        curves = store.curve_frame().drop(columns=["elapsed"]).sort_values(["method", "seed", "step"])
        costs = store.costs_frame().drop(columns=["peak_bytes"]).sort_values(["method", "phase"])
        cells = store.cells_frame()[["method", "seed", "status", "parameters"]].sort_values(["method", "seed"])
        timing = store.timing_frame().groupby(["source", "method", "phase"]).size().rename("n").reset_index()
    return {name: frame.reset_index(drop=True) for name, frame in
            {"metrics": metrics, "curves": curves, "costs": costs, "cells": cells, "timing_counts": timing}.items()}


@pytest.mark.ray
@pytest.mark.slow
def test_two_node_cluster_run_equals_the_process_executor(tmp_path: Path, two_node_cluster: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    # micro has a [speed] section (2 blocks); shrunk to keep the test cheap on 2 shared cores
    args = [str(MICRO), "--seeds", "1", "--threads", "1", "--no-progress", "--set", "episodes.test_episodes=1",
            "--set", "episodes.max_test_domains=1", "--set", "training.budget_steps=2", "--set",
            "training.pretrain_steps=0", "--set", "speed.pairs=2", "--set", "speed.warmup=0"]
    assert main(["run", *args, "--executor", "ray", "--address", two_node_cluster,
                 "--out", str(tmp_path / "ray")]) == 0, capsys.readouterr().err
    assert main(["run", *args, "--executor", "process", "--workers", "1", "--out", str(tmp_path / "process")]) == 0
    with open_store(tmp_path / "ray") as store:
        runtime = store.manifest()["runtime"]
        blocks = store.frame("speed_blocks")
        speed = store.timing_frame().query("source == 'speed'")
    assert runtime["executor"] == "ray" and runtime["cluster_nodes"] == 2 and runtime["cluster_cpus"] == 2
    assert list(blocks["status"]) == ["done", "done"] and set(speed["block"]) == {0, 1}
    ray_values, process_values = _values(tmp_path / "ray"), _values(tmp_path / "process")
    compared = equal = 0
    for name, frame in ray_values.items():
        other = process_values[name]
        assert frame.shape == other.shape, name
        compared += frame.size
        equal += int((frame.values == other.values).sum())
    print(f"two-node Ray vs process executor: {equal} of {compared} stored values equal")
    assert len(ray_values["metrics"]) > 0 and equal == compared


@pytest.mark.ray
@pytest.mark.slow
def test_a_cluster_too_small_for_a_cell_is_refused_before_any_work(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    ray.init(num_cpus=1, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    try:
        code = main(["run", str(MICRO), "--seeds", "1", "--executor", "ray", "--threads", "2", "--no-progress",
                     "--out", str(tmp_path / "o")])
    finally:
        ray.shutdown()
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert re.match(r"error: no node of the Ray cluster at a local instance can run a cell: each needs 2 CPU; "
                    r"nodes: [\d.]+: 1 CPU, 0 GPU\. Fix: lower --threads or add CPUs to a node", err), err
    assert err.rstrip().endswith(f"Nothing was written to {tmp_path / 'o'}.")
    assert not (tmp_path / "o").exists()


def _one_small_node(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ray that is already connected and whose cluster is one live node with 1 CPU (no Ray started)."""
    node = {"Alive": True, "NodeManagerAddress": "10.0.0.1", "Resources": {"CPU": 1.0}}
    monkeypatch.setattr(ray, "is_initialized", lambda: True)
    monkeypatch.setattr(ray, "nodes", lambda: [node])


REFUSED = ("error: no node of the Ray cluster at a local instance can run a cell: each needs 2 CPU; nodes: "
           "10.0.0.1: 1 CPU, 0 GPU. Fix: lower --threads or add CPUs to a node (ray start --num-cpus N). "
           "Nothing was written to {out}.")


def test_a_refused_cluster_writes_nothing_so_a_rerun_needs_no_overwrite(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    _one_small_node(monkeypatch)
    out = tmp_path / "o"
    args = ["run", str(MICRO), "--seeds", "1", "--executor", "ray", "--threads", "2", "--no-progress", "--out",
            str(out)]
    for _ in range(2):  # the second time is refused for the cluster again, not for an existing store
        assert main(args) == 2
        assert capsys.readouterr().err.strip().splitlines() == [REFUSED.format(out=out)]
        assert not out.exists()


def test_a_refused_cluster_leaves_the_run_it_would_overwrite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o"
    out.mkdir()
    (out / STORE_NAME).write_bytes(b"an earlier run")
    (out / "report").mkdir()
    _one_small_node(monkeypatch)
    assert main(["run", str(MICRO), "--seeds", "1", "--executor", "ray", "--threads", "2", "--no-progress",
                 "--out", str(out), "--overwrite"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [REFUSED.format(out=out)]
    assert (out / STORE_NAME).read_bytes() == b"an earlier run" and (out / "report").is_dir()


def test_cells_on_cuda_need_a_node_with_a_gpu() -> None:
    nodes = [{"Alive": True, "NodeManagerAddress": "10.0.0.1", "Resources": {"CPU": 8.0}},
             {"Alive": True, "NodeManagerAddress": "10.0.0.2", "Resources": {"CPU": 2.0, "GPU": 1.0}},
             {"Alive": False, "NodeManagerAddress": "10.0.0.3", "Resources": {"CPU": 64.0, "GPU": 8.0}}]
    check_cluster(nodes, cpus=2, gpus=1, address="head:6379")  # node 2 fits
    check_cluster(nodes, cpus=8, gpus=0, address="head:6379")  # node 1 fits
    with pytest.raises(UserError) as err:
        check_cluster(nodes, cpus=4, gpus=1, address="head:6379")  # the dead node would, but it is dead
    assert str(err.value) == ("no node of the Ray cluster at head:6379 can run a cell: each needs 4 CPU and 1 GPU "
                              "(device cuda); nodes: 10.0.0.1: 8 CPU, 0 GPU; 10.0.0.2: 2 CPU, 1 GPU. Fix: start "
                              "nodes with GPUs (ray start --num-gpus N) or run with --device cpu.")
