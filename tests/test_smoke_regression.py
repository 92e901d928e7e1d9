"""The smoke-suite regression gate as pytest tests: one test per gate of ``bench/baselines/smoke.json``.

The smoke benchmark runs once per test session (``mtml-bench run smoke``), shared by every xdist worker
through a file lock; each gate is then one parametrised test, so the CI summary counts them.
REGRESSED fails, INCONCLUSIVE is an xfail with the reason, OK/IMPROVED/INFO pass (the exit codes of ``mtml-bench regress``, reports/cli_regress.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import gate_verdicts
import pytest
from filelock import FileLock

from reports.baseline import read_baseline
from reports.errors import ReportError
from reports.gates import INCONCLUSIVE, REGRESSED
from reports.load import load_run
from reports.regress import GateReport, compare

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "bench" / "baselines" / "smoke.json"
RUN_TIMEOUT_S = 1200
UPDATE_HINT = ("mtml-bench run smoke --out runs/smoke --overwrite && "
               f"mtml-bench regress runs/smoke --baseline {BASELINE.relative_to(ROOT)} --update-baseline "
               "--reason \"initial\"")

pytestmark = [pytest.mark.regression, pytest.mark.slow]


def _gates() -> list[str]:
    if not BASELINE.is_file():
        return []
    try:
        return list(json.loads(BASELINE.read_text())["gates"])
    except (json.JSONDecodeError, KeyError, TypeError):
        return ["<unreadable baseline>"]


def _runner_command(out: Path) -> list[str]:
    script = Path(sys.executable).with_name("mtml-bench")
    entry = [str(script)] if script.is_file() else (
        [shutil.which("mtml-bench")] if shutil.which("mtml-bench") else
        [sys.executable, "-c", "import sys; from bench.cli import main; sys.exit(main())"])
    return [*entry, "run", "smoke", "--out", str(out), "--overwrite"]


@pytest.fixture(scope="session")
def smoke_gates(tmp_path_factory: pytest.TempPathFactory) -> GateReport | str:
    """Run the smoke suite once per session (all xdist workers share it) and evaluate every gate."""
    uid = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    shared = tmp_path_factory.getbasetemp().parent / f"smoke-{uid}" if uid else tmp_path_factory.getbasetemp()
    shared.mkdir(parents=True, exist_ok=True)
    run_dir, log = shared / "run", shared / "run.log"
    with FileLock(str(shared / "run.lock")):
        if not log.exists():
            env = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
            try:
                proc = subprocess.run(_runner_command(run_dir), cwd=ROOT, env=env, capture_output=True, text=True,
                                      timeout=RUN_TIMEOUT_S, check=False)
                log.write_text(f"exit {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
            except subprocess.TimeoutExpired:
                log.write_text(f"exit timeout\nthe smoke run took more than {RUN_TIMEOUT_S} s")
    text = log.read_text()
    if not text.startswith("exit 0"):
        return f"'mtml-bench run smoke' failed: {text[:3000]}"
    try:
        # absolute times stay informational (the session runs other tests beside the benchmark)
        report = compare(load_run(run_dir), read_baseline(BASELINE))
    except ReportError as exc:
        return f"exit {exc.exit_code}: {exc}"
    gate_verdicts.record(tmp_path_factory, "smoke",
                         gate_verdicts.gate_rows("smoke (unchanged tree)", report.gates, report.exit_code()))
    return report


def test_smoke_baseline_is_stored():
    if not BASELINE.is_file():
        message = f"no stored smoke baseline at {BASELINE}; create it with: {UPDATE_HINT}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    doc = read_baseline(BASELINE)
    assert doc["history"], "a baseline must record who created it and why"
    assert any(g.startswith("quality/") for g in doc["gates"]) and any(g.startswith("speed/") for g in doc["gates"])


@pytest.mark.parametrize("gate_id", _gates())
def test_smoke_gate(gate_id: str, smoke_gates: GateReport | str):
    if isinstance(smoke_gates, str):
        pytest.fail(smoke_gates)
    gates = smoke_gates.by_id()
    if gate_id not in gates:
        pytest.fail(f"gate {gate_id} is in the baseline but was not evaluated")
    gate = gates[gate_id]
    if gate.status == INCONCLUSIVE:
        pytest.xfail(f"INCONCLUSIVE: {gate.detail}")
    assert gate.status != REGRESSED, f"{gate_id} REGRESSED: {gate.detail}"
