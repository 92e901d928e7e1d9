"""Synthetic result stores with planted effects, written in the real schema.

They let the report, the gate and the statistical self-test run without the
runner or any method: the generating model is known, so a test can check that
a planted improvement is found and that no difference gives no verdict more
often than alpha. The model mirrors the real design (docs/statistics.md#the-data-raw-cells):

    value = task base + domain effect (shared by methods)
            + (method, seed) training effect + (method, domain) interaction
            + episode difficulty (shared by methods: same episode ids)
            + episode noise + planted effect of the method

The domains, episodes and (method, domain) interactions come from
``world_seed``; training effects and noise from ``seed``: two runs with the
same world and different seeds are what a numerics-changing refactor gives.
Values are in effect units (a difference for 'delta' metrics, a log error for
'log_ratio' metrics), then mapped to the metric's scale. Timings are
interleaved pairs in blocks with a per-block drift common to all methods, so
paired ratios are exact in expectation while absolute times drift.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.spec import parse_spec
from bench.store import STORE_NAME, Store
from reports.load import RunData
from reports.metricinfo import MetricInfo, registry_metrics

# The metrics a synthetic run records: the real registry's definitions (direction, transform, ROPE), so
# synthetic reports exercise exactly what real runs do. Per metric: its level and the scale that turns
# one effect unit of the model into the metric's own units (a log error for log-ratio metrics).
PRIMARY = ("accuracy", "abs_rel", "normals_mean_angle", "vp_mean_angle")
SECONDARY = {"depth": "rmse", "normals": "normals_within_30"}
SYNTHETIC_METRICS: dict[str, MetricInfo] = registry_metrics([*PRIMARY, *SECONDARY.values()])
LEVEL = {"accuracy": 0.55, "abs_rel": math.log(0.25), "rmse": math.log(0.8), "normals_mean_angle": 30.0,
         "normals_within_30": 0.6, "vp_mean_angle": math.log(8.0)}
SCALE = {"accuracy": 1.0, "normals_mean_angle": 20.0, "normals_within_30": 1.0}  # delta metrics only
UPPER = {"accuracy": 1.0, "normals_within_30": 1.0, "normals_mean_angle": 180.0}


def _value(info: MetricInfo, q: np.ndarray) -> np.ndarray:
    """Map model quality q (larger = better, effect units) to the metric's scale."""
    if info.transform == "log_ratio":
        return np.exp(LEVEL[info.name] - q) if info.direction == "lower" else np.exp(LEVEL[info.name] + q)
    shift = SCALE[info.name] * q
    return np.clip(LEVEL[info.name] + (shift if info.direction == "higher" else -shift), 0.0, UPPER[info.name])


PHASE_SECONDS = {"meta_train_step": 0.030, "adapt": 0.010, "infer": 0.002, "data": 0.001}
YARDSTICK_SECONDS = 0.015
PHASE_FLOPS = {"meta_train_step": 4_000_000_000, "adapt": 600_000_000, "infer": 50_000_000}


@dataclass
class SyntheticConfig:
    methods: Sequence[str] = ("afr", "maml", "fomaml")
    tasks: Sequence[str] = ("classification", "depth", "normals", "vanishing_point")
    domains: int = 6
    seeds: int = 3
    episodes: int = 4
    # planted effect in effect units (positive = better), per method, per task or for all tasks
    effects: Mapping[str, float | Mapping[str, float]] = field(default_factory=lambda: {"afr": 0.05})
    # time of each method relative to the first baseline: afr 1/1.8 = 1.8x faster
    speed: Mapping[str, float] = field(default_factory=lambda: {"afr": 1 / 1.8, "fomaml": 0.8})
    machine: float = 1.0  # every time (yardstick included) x this: a slower or faster machine
    flops_factor: Mapping[str, float] = field(default_factory=lambda: {"afr": 0.5, "fomaml": 0.7})
    sd_domain: float = 0.05
    sd_seed: float = 0.01
    sd_interaction: float = 0.01
    sd_episode: float = 0.03
    sd_noise: float = 0.02
    blocks: int = 3
    pairs: int = 10
    warmup: int = 2
    timing_noise: float = 0.03
    curve_steps: int = 20
    failed: Sequence[tuple[str, int, str]] = ()  # (method, seed, reason): recorded as failed cells
    missing: Sequence[tuple[str, int]] = ()  # (method, seed): cells left out entirely
    failed_blocks: Sequence[tuple[int, str]] = ()  # (block, reason): speed-section blocks that failed
    inf_values: Sequence[tuple[str, int]] = ()  # (method, seed): one value written as +inf (a broken metric)
    seed: int = 0  # training randomness: (method, seed) effects, episode noise, timings
    world_seed: int | None = None  # the domains and episodes themselves (defaults to ``seed``)
    suite: str = "synthetic"
    comparisons: Mapping[str, Any] | None = None
    speed_section: bool = True
    secondary: bool = False  # also record one secondary metric for depth and normals
    adaptation_gain: float = 0.1  # effect units: before-adaptation values are this much worse (unadapted_values)
    val_curve_points: int = 0  # > 0: learning curves on meta-val episodes with this many checkpoints (val_curve)
    val_curve_episodes: int = 8  # meta-val episodes per task and seed on those curves
    improving: Sequence[str] = ()  # methods whose learning curves still improve at the end of the budget
    controls: Sequence[str] = ()  # methods recorded as controls in the manifest's method_roles

    def planted(self, method: str, task: str) -> float:
        e = self.effects.get(method, 0.0)
        return float(e.get(task, 0.0)) if isinstance(e, Mapping) else float(e)


def _primary(task: str) -> MetricInfo:
    return next(m for m in SYNTHETIC_METRICS.values() if m.task == task and m.primary)


def _task_metrics(cfg: SyntheticConfig, task: str) -> list[MetricInfo]:
    extra = [SYNTHETIC_METRICS[SECONDARY[task]]] if cfg.secondary and task in SECONDARY else []
    return [_primary(task), *extra]


def _spec(cfg: SyntheticConfig) -> dict[str, Any]:
    """The run's spec as the harness stores it: a valid spec (``bench.spec.parse_spec`` reads it back)."""
    comp = dict(cfg.comparisons) if cfg.comparisons is not None else {
        "reference": cfg.methods[0], "baselines": list(cfg.methods[1:]), "alpha": 0.05, "speed_claim": 1.5}
    data: dict[str, Any] = {
        "name": cfg.suite, "suite": {"name": cfg.suite}, "methods": list(cfg.methods), "tasks": list(cfg.tasks),
        "seeds": cfg.seeds, "episodes": {"test_episodes": cfg.episodes},
        "training": {"budget_steps": max(1, 10 * cfg.curve_steps)}}
    if comp.get("baselines"):  # a one-method run declares no comparisons (the reports then compare nothing)
        data["comparisons"] = comp
    if cfg.speed_section and len(cfg.methods) >= 2:
        data["speed"] = {"methods": list(cfg.methods), "pairs": cfg.pairs, "blocks": cfg.blocks, "warmup": cfg.warmup}
    return parse_spec(data).to_dict()


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def make_run(cfg: SyntheticConfig, path: Path | str = "synthetic.sqlite") -> RunData:
    """An in-memory run drawn from the model above (reproducible from ``cfg.seed``)."""
    g = np.random.default_rng(cfg.seed)
    world = np.random.default_rng(cfg.seed if cfg.world_seed is None else cfg.world_seed)
    methods, seeds = list(cfg.methods), list(range(cfg.seeds))
    failed = {(m, s): r for m, s, r in cfg.failed}
    skipped = set(cfg.missing)
    rows: list[tuple[Any, ...]] = []
    before_rows: list[tuple[Any, ...]] = []
    for task in cfg.tasks:
        doms = [f"{task[:3]}-d{j:02d}" for j in range(cfg.domains)]
        dom_eff = world.normal(0, cfg.sd_domain, cfg.domains)
        ep_eff = world.normal(0, cfg.sd_episode, (cfg.domains, cfg.episodes))
        inter = {m: world.normal(0, cfg.sd_interaction, cfg.domains) for m in methods}
        for m in methods:
            for s in seeds:
                seed_eff = g.normal(0, cfg.sd_seed)
                noise = g.normal(0, cfg.sd_noise, (cfg.domains, cfg.episodes))
                if (m, s) in failed or (m, s) in skipped:
                    continue
                # "quality" on the effect scale: larger = better
                q = dom_eff[:, None] + ep_eff + inter[m][:, None] + seed_eff + noise + cfg.planted(m, task)
                for info in _task_metrics(cfg, task):  # secondary metrics follow the same quality, plus noise
                    extra = 0.0 if info.primary else g.normal(0, cfg.sd_noise, q.shape)
                    val = _value(info, q + extra)
                    initial = _value(info, q + extra - cfg.adaptation_gain + g.normal(0, cfg.sd_noise, q.shape))
                    for j, dom in enumerate(doms):
                        for e in range(cfg.episodes):
                            rows.append((m, s, task, dom, e, info.name, float(val[j, e])))
                            before_rows.append((m, s, task, dom, e, info.name, float(initial[j, e])))
    values = pd.DataFrame(rows, columns=["method", "seed", "task", "domain", "episode", "metric", "value"])
    for m, s in cfg.inf_values:
        idx = values.index[(values["method"] == m) & (values["seed"] == s)][0]
        values.loc[idx, "value"] = math.inf

    cells = pd.DataFrame([
        {"method": m, "seed": s, "status": "failed" if (m, s) in failed else "done", "reason": failed.get((m, s)),
         "parameters": 100_000 + 1000 * i, "wall_seconds": 1.0, "finished_at": "2026-01-01T00:00:00Z"}
        for i, m in enumerate(methods) for s in seeds if (m, s) not in skipped])

    speed_of = {m: float(cfg.speed.get(m, 1.0)) * cfg.machine for m in methods}
    trows: list[dict[str, Any]] = []
    drifts: dict[int, float] = {}
    for phase, base in PHASE_SECONDS.items():
        if cfg.speed_section:
            for b in range(cfg.blocks):
                if b in dict(cfg.failed_blocks):
                    continue
                # a fresh process on a busy machine: common to all methods and phases of the block
                drift = drifts.setdefault(b, math.exp(g.normal(0, 0.2)))
                for p in range(cfg.warmup + cfg.pairs):
                    order = list(g.permutation(methods))  # randomised order within each round
                    for m in order:
                        t = base * speed_of[m] * drift * math.exp(g.normal(0, cfg.timing_noise))
                        warm = p < cfg.warmup
                        trows.append({"source": "speed", "method": m, "seed": 0, "phase": phase, "block": b,
                                      "pair": p, "idx": p, "seconds": t * (3.0 if warm else 1.0), "warmup": warm})
        for m in methods:
            for s in seeds:
                for i in range(5):
                    t = base * speed_of[m] * math.exp(g.normal(0, cfg.timing_noise + 0.05))
                    trows.append({"source": "cell", "method": m, "seed": s, "phase": phase, "block": 0, "pair": 0,
                                  "idx": i, "seconds": t, "warmup": False})
    yard = np.random.default_rng([cfg.seed, 1])  # its own stream: the other draws stay as they were
    for b, drift in sorted(drifts.items()):  # the speed section's yardstick (bench/yardstick.py), once per pair
        for p in range(cfg.warmup + cfg.pairs):
            t = YARDSTICK_SECONDS * cfg.machine * drift * math.exp(yard.normal(0, cfg.timing_noise))
            trows.append({"source": "speed", "method": "yardstick", "seed": 0, "phase": "yardstick", "block": b,
                          "pair": p, "idx": p, "seconds": t, "warmup": p < cfg.warmup})
    # the speed section also records CPU seconds per phase (bench/speed_section.py); here equal to the wall clock
    trows += [{**r, "phase": r["phase"] + ":cpu"} for r in trows if r["source"] == "speed"]
    timings = pd.DataFrame(trows, columns=["source", "method", "seed", "phase", "block", "pair", "idx",
                                           "seconds", "warmup"])
    costs = pd.DataFrame([{"method": m, "phase": ph, "flops": int(f * cfg.flops_factor.get(m, 1.0)),
                           "peak_bytes": int(2e7 * cfg.flops_factor.get(m, 1.0))}
                          for m in methods for ph, f in PHASE_FLOPS.items()])
    crows = []
    for m in methods:
        for s in seeds:
            if (m, s) in skipped:
                continue
            level = 1.0 - 0.5 * cfg.planted(m, cfg.tasks[0])
            for k in range(cfg.curve_steps):
                step = 10 * k
                loss = level * (0.6 * math.exp(-step / 60) + 0.4) * math.exp(g.normal(0, 0.02))
                crows.append({"method": m, "seed": s, "step": step,
                              "elapsed": step * PHASE_SECONDS["meta_train_step"] * speed_of[m], "loss": loss,
                              "task_losses": json.dumps({t: loss for t in cfg.tasks})})
    curves = pd.DataFrame(crows, columns=["method", "seed", "step", "elapsed", "loss", "task_losses"])
    vrows = []
    budget = 10 * max(cfg.val_curve_points - 1, 1)
    for task in cfg.tasks if cfg.val_curve_points else ():
        info = _primary(task)
        for m in methods:
            for s in seeds:
                if (m, s) in skipped or (m, s) in failed:
                    continue
                ep_q = g.normal(0, cfg.sd_episode, cfg.val_curve_episodes)
                for k in range(cfg.val_curve_points):
                    step = 10 * k
                    # plateaued methods reach their level within the first fifth of the budget; improving ones
                    # gain 0.3 effect units linearly to the very end
                    shape = step / budget if m in cfg.improving else 1 - math.exp(-step / (0.05 * budget))
                    q = (cfg.planted(m, task) - 0.3 + 0.3 * shape + ep_q
                         + g.normal(0, cfg.sd_noise, cfg.val_curve_episodes))
                    for e, v in enumerate(_value(info, q)):
                        vrows.append((m, s, step, task, f"{task[:3]}-val", e, info.name, float(v)))
    val_curve = pd.DataFrame(vrows, columns=["method", "seed", "step", "task", "domain", "episode", "metric",
                                             "value"])
    spec = _spec(cfg)
    manifest = {
        "schema": 1, "spec": spec, "spec_hash": _hash(spec), "split_hash": _hash([cfg.tasks, cfg.domains]),
        "suite": cfg.suite, "created": "2026-01-01T00:00:00Z",
        "environment": {"python": "3.11.7", "torch": "2.14.1", "numpy": np.__version__, "cpu": "synthetic-cpu",
                        "cores": 2, "threads": {"torch": 1, "interop": 1}, "device": "cpu"},
        "parameter_counts": {m: 100_000 + 1000 * i for i, m in enumerate(methods)},
        "metrics": {m.name: m.to_json() for t in cfg.tasks for m in _task_metrics(cfg, t)},
        "method_roles": {m: {"control": m in cfg.controls, "tasks": None} for m in methods},
    }
    blocks = pd.DataFrame([{"block": b, "status": "failed" if b in dict(cfg.failed_blocks) else "done",
                            "reason": dict(cfg.failed_blocks).get(b), "finished_at": "2026-01-01T00:00:00Z"}
                           for b in range(cfg.blocks)] if cfg.speed_section else [],
                          columns=["block", "status", "reason", "finished_at"])
    return RunData(path=Path(path), manifest=manifest, cells=cells, values=values, timings=timings, costs=costs,
                   curves=curves, speed_blocks=blocks,
                   unadapted=pd.DataFrame(before_rows, columns=list(values.columns)), val_curve=val_curve)


def write_store(run: RunData, path: Path | str) -> Path:
    """Write a run into a fresh store through ``bench.store`` (the schema's one writer)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    store = Store.create(path, run.manifest)
    try:
        for table, frame in (("cells", run.cells), ("metric_values", run.values), ("timing_samples", run.timings),
                             ("phase_costs", run.costs), ("training_curve", run.curves),
                             ("speed_blocks", run.speed_blocks), ("unadapted_values", run.unadapted),
                             ("val_curve", run.val_curve)):
            store.write_rows(table, frame)
    finally:
        store.close()
    return path


def write_run(cfg: SyntheticConfig, run_dir: Path | str) -> Path:
    """Create a run folder holding a synthetic store; returns the folder."""
    run_dir = Path(run_dir)
    write_store(make_run(cfg), run_dir / STORE_NAME)
    return run_dir
