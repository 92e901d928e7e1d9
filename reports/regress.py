"""The regression gate: a run against a stored baseline (docs/regression-gate.md).

Gates (the kinds live in ``reports.gates``, one class and one decision each):

* ``numerics`` (G0, informational): are the per-cell values identical? Runs are
  reproducible from the seed, so identical values prove "no quality change"
  without statistics; changed values hand over to the quality gates.
* ``quality/<method>`` (G1): one per method, pooled over its tasks on effects
  standardised by each metric's margin. ``quality/<method>/<task>/<metric>``
  rows show the per-task effect and are never gated.
* ``speed/<method>/<phase>`` (G2): the method's time relative to the speed
  section's yardstick (``bench.yardstick``), against the baseline's, tolerance
  10%. Each method is judged on its own, so a slower MAML is not an AFR speed-up.
* ``flops/<method>/<phase>`` (G3): exact, tolerance 0.1%.
* ``time/<method>/<phase>`` (G4): absolute medians, informational unless
  ``absolute_times`` is asked for and the machine fingerprint matches.

Holm runs over every gate with a p-value. A run may hold a subset of the
baseline's methods (``partial``) and may run a registered variant in a method's
place (``variants``: the mutation tests plant regressions that way).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bench.spec import SPEED_PHASES, Spec
from reports import bootstrap
from reports.baseline import fingerprint, method_config_hash, speed_config_hash, training_hashes
from reports.design import Design, cell_means, check_design, comparisons
from reports.errors import EXIT_INCONCLUSIVE, EXIT_OK, EXIT_REGRESSED, HarnessError, IncompatibleBaselineError
from reports.gates import (
    INCONCLUSIVE,
    INFO,
    REGRESSED,
    FlopsGate,
    Gate,
    GateKind,
    NumericsGate,
    QualityEvidence,
    QualityGate,
    SkippedGate,
    SpeedGate,
    TaskQualityView,
    TimeGate,
)
from reports.inference import holm
from reports.load import RunData
from reports.metricinfo import MetricInfo, primary_metrics, run_metrics
from reports.speed_analysis import clean

GATE_ALPHA = 0.01  # asv-like strictness for a gate that runs on every change
TIME_TOLERANCE = 0.15  # CI load moves an unchanged tree's CPU time per yardstick by up to ~6% (docs/regression-gate.md)
FLOP_TOLERANCE = 0.001
NUMERIC_RTOL = 1e-5
YARDSTICK = "yardstick"  # bench.yardstick.NAME and PHASE: reports never import bench's torch side
CPU_SUFFIX = ":cpu"  # bench.yardstick.CPU_SUFFIX: the speed section's CPU-time samples


@dataclass
class GateReport:
    gates: list[Gate]
    fingerprint_match: bool
    notes: list[str]

    def exit_code(self, strict: bool = False) -> int:
        statuses = {g.status for g in self.gates if g.gated}
        if REGRESSED in statuses:
            return EXIT_REGRESSED
        if INCONCLUSIVE in statuses and strict:
            return EXIT_INCONCLUSIVE
        return EXIT_OK

    def by_id(self) -> dict[str, Gate]:
        return {g.id: g for g in self.gates}

    def as_json(self) -> dict[str, Any]:
        return {"fingerprint_match": self.fingerprint_match, "notes": self.notes,
                "gates": [g.as_json() for g in self.gates]}


@dataclass
class Context:
    run: RunData
    design: Design
    metrics: dict[str, MetricInfo]
    primary: dict[str, MetricInfo]
    reference: str
    baselines: tuple[str, ...]


def rename_methods(run: RunData, variants: Mapping[str, str]) -> RunData:
    """The run with each registered variant renamed to the method it stands in for (``{variant: method}``)."""
    if not variants:
        return run

    def frame(df: pd.DataFrame) -> pd.DataFrame:
        return df.assign(method=df["method"].replace(dict(variants))) if "method" in df else df

    def name(x: Any) -> Any:
        return variants.get(x, x) if isinstance(x, str) else x

    spec = json.loads(json.dumps(run.manifest.get("spec", {})))  # the stored dict, renamed, parsed again
    methods = spec.get("methods")
    if isinstance(methods, dict):
        spec["methods"] = {name(k): v for k, v in methods.items()}
    elif isinstance(methods, list):
        spec["methods"] = [name(m) if isinstance(m, str) else {**m, "name": name(m.get("name"))} for m in methods]
    for section, key in (("speed", "methods"), ("comparisons", "baselines")):
        if isinstance(spec.get(section), dict) and isinstance(spec[section].get(key), list):
            spec[section][key] = [name(m) for m in spec[section][key]]
    if isinstance(spec.get("comparisons"), dict):
        spec["comparisons"]["reference"] = name(spec["comparisons"].get("reference"))
    manifest = {**run.manifest, "spec": spec, "variants": dict(variants),
                "method_config_hashes": {name(m): method_config_hash(run.manifest, m)
                                         for m in _spec_method_names(run.spec)}}
    return dataclasses.replace(run, manifest=manifest, cells=frame(run.cells), values=frame(run.values),
                               timings=frame(run.timings), costs=frame(run.costs), curves=frame(run.curves))


def _spec_method_names(spec: Spec) -> list[str]:
    return list(spec.method_names)


def prepare(run: RunData) -> Context:
    """Design check and metric lookup for a run that is to be gated or stored as a baseline."""
    design = check_design(run)
    if design.failures:
        listed = "; ".join(f"{f['method']} seed {f['seed']}: {f['reason']}" for f in design.failures[:5])
        raise HarnessError(f"{len(design.failures)} cell(s) failed in this run ({listed}). "
                           "A gated run must finish every cell; fix the failure first.")
    names = sorted(design.values["metric"].unique())
    metrics = run_metrics(run, names)
    comp = comparisons(run.spec, design.methods, design.controls)
    return Context(run=run, design=design, metrics=metrics, primary=primary_metrics(metrics, design.tasks),
                   reference=comp.reference, baselines=tuple(b for b in comp.baselines if b in design.methods))


def speed_methods(timings: pd.DataFrame) -> list[str]:
    """Methods timed in the speed section beside the yardstick (sorted)."""
    t = clean(timings, "speed")
    return sorted(set(t["method"]) - {YARDSTICK}) if (t["method"] == YARDSTICK).any() else []


def gate_ids(ctx: Context) -> list[str]:
    """Every gate a run supports, in a stable order (stored in the baseline; one pytest test each)."""
    ids = ["numerics"]
    for m in ctx.design.methods:
        ids.append(f"quality/{m}")
        ids += [f"quality/{m}/{t}/{ctx.primary[t].name}" for t in ctx.design.tasks if ctx.design.scores(m, t)]
    speed = clean(ctx.run.timings, "speed")
    for m in speed_methods(ctx.run.timings):
        ids += [f"speed/{m}/{p}" for p in SPEED_PHASES if ((speed["method"] == m) & (speed["phase"] == p)).any()]
    costs = ctx.run.costs.dropna(subset=["flops"])
    ids += [f"flops/{r.method}/{r.phase}" for r in costs.sort_values(["method", "phase"]).itertuples()
            if r.method in ctx.design.methods]
    cell_t = clean(ctx.run.timings, "cell")
    ids += [f"time/{m}/{p}" for (m, p) in sorted(set(zip(cell_t["method"], cell_t["phase"], strict=True)))
            if m in ctx.design.methods]
    return ids


def _gate_method(gate_id: str) -> str | None:
    parts = gate_id.split("/")
    return parts[1] if len(parts) >= 2 else None


def _check_compatible(ctx: Context, base: dict[str, Any], partial: bool) -> pd.DataFrame:
    """Current and baseline cell means side by side; anything that does not line up is exit 3."""
    hint = 'Re-create the baseline with --update-baseline --reason "...".'
    if base.get("split_hash") != ctx.run.manifest.get("split_hash"):
        raise IncompatibleBaselineError(f"the baseline was made on split {str(base.get('split_hash'))[:12]}, this "
                                        f"run on {str(ctx.run.manifest.get('split_hash'))[:12]}. {hint}")
    stored = base.get("method_configs")
    if not isinstance(stored, dict):
        raise IncompatibleBaselineError(f"the baseline predates per-method configuration hashes. {hint}")
    mine = ctx.run.manifest.get("method_config_hashes") or {m: method_config_hash(ctx.run.manifest, m)
                                                            for m in ctx.design.methods}
    for m in ctx.design.methods:
        if m not in stored:
            raise IncompatibleBaselineError(f"the baseline has no method {m} (it has {', '.join(sorted(stored))}). "
                                            f"{hint}")
        if stored[m] != mine.get(m):
            raise IncompatibleBaselineError(f"method {m} is configured differently from the baseline (spec, "
                                            f"training or episode settings changed). {hint}")
    absent = sorted(set(base["design"]["methods"]) - set(ctx.design.methods))
    if absent and not partial:
        raise IncompatibleBaselineError(f"the run lacks the baseline's method(s) {', '.join(absent)}. Run the "
                                        "whole spec, or pass --partial to gate only the methods this run holds.")
    cur = cell_means(ctx.design.values)
    old = pd.DataFrame(base["cells"])
    old = old[old["method"].isin(ctx.design.methods)]
    if partial:  # a partial run may also hold fewer seeds: gate the cells it has
        old = old[old["seed"].isin(ctx.design.seeds)]
    keys = ["method", "seed", "task", "domain", "metric"]
    merged = cur.merge(old[[*keys, "value"]], on=keys, how="outer", suffixes=("", "_base"), indicator=True)
    odd = merged[merged["_merge"] != "both"]
    if len(odd):
        shown = "; ".join(f"{r.method}/{r.seed}/{r.task}/{r.domain}/{r.metric} only in "
                          f"{'this run' if r._merge == 'left_only' else 'the baseline'}"
                          for r in odd.head(8).itertuples())
        raise IncompatibleBaselineError(f"{len(odd)} cell(s) do not match the baseline ({shown}). {hint}")
    return merged.drop(columns="_merge")


# ---- evidence for each kind ------------------------------------------------------------------------
def quality_evidence(ctx: Context, base: dict[str, Any], merged: pd.DataFrame, metrics: dict[str, MetricInfo],
                     method: str) -> tuple[QualityEvidence, dict[str, np.ndarray]]:
    """One method's standardised paired effects (cells and episodes) and the per-task cell matrices."""
    primary = {t: metrics[base["primary"][t]] for t in ctx.design.tasks}
    sub = merged[merged["method"] == method]
    columns, base_cols, per_task = [], [], {}
    identical = True
    for task, info in primary.items():
        s = sub[(sub["task"] == task) & (sub["metric"] == info.name)]
        if s.empty:  # a method scored on some tasks only (protonet: classification) has no cells here
            continue
        cur = s.pivot(index="seed", columns="domain", values="value").sort_index(axis=0).sort_index(axis=1)
        old = s.pivot(index="seed", columns="domain", values="value_base").reindex_like(cur)
        identical &= bool(np.allclose(cur.to_numpy(), old.to_numpy(), rtol=NUMERIC_RTOL, atol=0))
        z = info.effect(cur.to_numpy(), old.to_numpy()) / info.margin
        per_task[task] = z
        columns.append(z)
        base_cols.append(_on_effect_scale(info, old.to_numpy()) / info.margin)
    episodes = _episode_effects(ctx, base, primary, method)
    seeds_train = training_hashes(ctx.run.curves[ctx.run.curves["method"] == method])
    stored = base.get("training", {}).get(method, {})
    same_training = bool(seeds_train) and all(stored.get(str(s)) == h for s, h in seeds_train.items())
    ev = QualityEvidence(cells=np.hstack(columns), episodes=episodes, baseline_cells=np.hstack(base_cols),
                         identical=identical, same_training=same_training)
    return ev, per_task


def _on_effect_scale(info: MetricInfo, values: np.ndarray) -> np.ndarray:
    """Values on the scale their effects are differences of (log for log-ratio metrics), larger = better."""
    v = np.log(values) if info.transform == "log_ratio" else np.asarray(values, dtype=float)
    return info.oriented(v)


def _episode_effects(ctx: Context, base: dict[str, Any], primary: dict[str, MetricInfo], method: str) -> np.ndarray:
    """Paired per-episode effects in margins (the baseline keeps primary-metric episode values)."""
    stored = pd.DataFrame(base.get("episodes", []), columns=["method", "seed", "task", "domain", "episode", "value"])
    stored = stored[stored["method"] == method]
    if stored.empty:
        return np.array([])
    v = ctx.design.values
    out = []
    for task, info in primary.items():
        cur = v[(v["method"] == method) & (v["task"] == task) & (v["metric"] == info.name)]
        both = cur.merge(stored[stored["task"] == task], on=["method", "seed", "task", "domain", "episode"],
                         suffixes=("", "_base"))
        out.append(info.effect(both["value"].to_numpy(), both["value_base"].to_numpy()) / info.margin)
    return np.concatenate(out) if out else np.array([])


def speed_clock(*timings: pd.DataFrame) -> str:
    """The phase-name suffix of the clock the speed gates use: CPU time when every run has it, else wall."""
    have = all((clean(t, "speed")["phase"] == YARDSTICK + CPU_SUFFIX).any() for t in timings)
    return CPU_SUFFIX if have else ""


def yardstick_ratios(timings: pd.DataFrame, method: str, phase: str, clock: str = "") -> pd.DataFrame:
    """log(method time / yardstick time) per (block, pair) of the speed section, on one clock."""
    t = clean(timings, "speed")
    keys = ["block", "pair"]
    m = t[(t["method"] == method) & (t["phase"] == phase + clock)].groupby(keys, as_index=False)["seconds"].median()
    y = t[(t["method"] == YARDSTICK) & (t["phase"] == YARDSTICK + clock)].groupby(keys, as_index=False)["seconds"]
    y = y.median()
    both = m.merge(y, on=keys, suffixes=("", "_y"))
    both = both[(both["seconds"] > 0) & (both["seconds_y"] > 0)]
    return both.assign(r=np.log(both["seconds"]) - np.log(both["seconds_y"]))[[*keys, "r"]]


def speed_evidence(current: pd.DataFrame, baseline: pd.DataFrame) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Blocks of position-centred log ratios for both runs (the pair position fixes the episode, hence the task)."""
    both = pd.concat([current.assign(run=0), baseline.assign(run=1)])
    position = both.groupby("pair")["r"].transform("mean") - both["r"].mean()
    both = both.assign(r=both["r"] - position)
    split = [[g["r"].to_numpy() for _, g in both[both["run"] == k].groupby("block")] for k in (0, 1)]
    return split[0], split[1]


def _baseline_timings(base: dict[str, Any]) -> pd.DataFrame:
    t = pd.DataFrame(base.get("timings", []), columns=["method", "phase", "seed", "block", "pair", "seconds"])
    t["source"], t["warmup"] = "speed", False
    return t


# ---- the comparison ---------------------------------------------------------------------------------
def compare(run: RunData, base: dict[str, Any], alpha: float = GATE_ALPHA, tolerance: float = TIME_TOLERANCE,
            n_resamples: int = bootstrap.DEFAULT_RESAMPLES, seed: int = bootstrap.REPORT_SEED,
            absolute_times: bool = False, partial: bool = False,
            variants: Mapping[str, str] | None = None) -> GateReport:
    """Evaluate every gate the baseline lists against ``run``.

    ``absolute_times`` gates per-cell absolute times when the machine fingerprint equals the baseline's
    (a dedicated machine); by default they are informational. ``partial`` gates only the methods the run
    holds; ``variants`` maps a registered variant the run ran to the method it stands in for.
    """
    run = rename_methods(run, variants or {})
    ctx = prepare(run)
    merged = _check_compatible(ctx, base, partial)
    gen = bootstrap.rng(seed)
    metrics = {n: MetricInfo.from_json({"name": n, **m}) for n, m in base["metrics"].items()}
    same_machine = fingerprint(run.manifest) == base.get("env")
    notes = []
    if not same_machine:
        notes.append("machine fingerprint differs from the baseline's: numerics may differ; absolute times "
                     "are informational")
    new = sorted(set(gate_ids(ctx)) - set(base["gates"]))
    if new:
        notes.append(f"{len(new)} gate(s) of this run are not in the baseline (e.g. {new[0]}); "
                     "update the baseline to gate them")
    speed_ok = base.get("speed_config") == speed_config_hash(run.manifest)
    if not speed_ok and speed_methods(run.timings):
        notes.append("the speed section differs from the baseline's (pairs, blocks, warm-up or threads): "
                     "speed gates cannot be paired; update the baseline")
    base_t = _baseline_timings(base)
    timed = set(speed_methods(run.timings))
    clock = speed_clock(run.timings, base_t)
    gate_list = [g for g in base["gates"] if g.split("/")[0] in ("quality", "speed", "numerics", "flops", "time")]
    family = _family_size(gate_list, ctx, absolute_times and same_machine, bool(clock))
    kinds: list[GateKind] = []
    evidence: dict[str, tuple[QualityEvidence, dict[str, np.ndarray]]] = {}
    base_cells = pd.DataFrame(base.get("cell_timings", []), columns=["method", "phase", "seed", "seconds"])
    cur_cells = clean(run.timings, "cell")
    for gid in gate_list:
        kind, *parts = gid.split("/")
        method = _gate_method(gid)
        if kind != "numerics" and method not in ctx.design.methods:
            k: GateKind = SkippedGate(gid)
            k.measure(f"method {method} is not in this run (--partial)")
        elif kind == "speed" and partial and method not in timed:
            k = SkippedGate(gid)
            k.measure(f"method {method} is not in this run's speed section (--partial)")
        elif kind == "numerics":
            k = NumericsGate(gid)
            k.measure(merged["value"].to_numpy(), merged["value_base"].to_numpy(), NUMERIC_RTOL, same_machine)
        elif kind == "quality" and len(parts) == 1:
            if method not in evidence:
                evidence[method] = quality_evidence(ctx, base, merged, metrics, method)
            k = QualityGate(gid)
            k.measure(evidence[method][0], alpha, family, gen, n_resamples)
        elif kind == "quality" and len(parts) == 3:
            if method not in evidence:
                evidence[method] = quality_evidence(ctx, base, merged, metrics, method)
            ev, per_task = evidence[method]
            info = metrics[parts[2]]
            k = TaskQualityView(gid)
            k.measure(per_task[parts[1]], ev.identical, info.margin,
                      "log-ratio" if info.transform == "log_ratio" else (info.unit or info.name))
        elif kind == "speed" and len(parts) == 2:
            k = SpeedGate(gid)
            cur = yardstick_ratios(run.timings, *parts, clock=clock)
            old = yardstick_ratios(base_t, *parts, clock=clock)
            if cur.empty or old.empty or not speed_ok:
                k.gate.detail = ("no yardstick-paired speed samples in " + ("this run" if cur.empty else
                                 "the baseline") if speed_ok else "speed section differs from the baseline's")
            else:
                k.measure(*speed_evidence(cur, old), tolerance, alpha, family, gen, n_resamples,
                          "CPU time" if clock else "wall clock")
                if not clock:  # wall-clock ratios swing 2-5x under load on a shared machine: shown, not gated
                    k.gate.gated, k.gate.status = False, INFO
                    k.gate.detail = (f"wall clock x{k.gate.estimate:.3f} of the baseline's, per yardstick; "
                                     "informational: gated on CPU time only, which the baseline or this run "
                                     "lacks (refresh the baseline)")
        elif kind == "flops" and len(parts) == 2:
            k = FlopsGate(gid)
            old_f = base.get("flops", {}).get(parts[0], {}).get(parts[1])
            row = run.costs[(run.costs["method"] == parts[0]) & (run.costs["phase"] == parts[1])]
            cur_f = None if row.empty or pd.isna(row["flops"].iloc[0]) else int(row["flops"].iloc[0])
            k.measure(cur_f, old_f, FLOP_TOLERANCE)
        elif kind == "time" and len(parts) == 2:
            k = TimeGate(gid)
            sel = (cur_cells["method"] == parts[0]) & (cur_cells["phase"] == parts[1])
            old_sel = (base_cells["method"] == parts[0]) & (base_cells["phase"] == parts[1])
            why = ("the machine fingerprint differs from the baseline's" if not same_machine else
                   "absolute times move with machine load; pass --absolute-times on a dedicated machine")
            k.measure(cur_cells[sel]["seconds"].to_numpy(), base_cells[old_sel]["seconds"].to_numpy(),
                      absolute_times and same_machine, why, tolerance)
        else:
            raise IncompatibleBaselineError(f"the baseline lists an unknown gate {gid!r}. "
                                            "Re-create the baseline with this version's --update-baseline.")
        kinds.append(k)
    tested = [k for k in kinds if k.tested]
    for k, q in zip(tested, holm([k.gate.p for k in tested], alpha), strict=True):
        k.gate.p_adjusted = float(q)
    for k in kinds:
        if k.tested or k.gate.kind == "quality":
            k.decide(alpha, family)
    return GateReport(gates=[k.gate for k in kinds], fingerprint_match=same_machine, notes=notes)


def _family_size(gate_list: Sequence[str], ctx: Context, absolute_times: bool, cpu: bool) -> int:
    """How many gates can carry a p (the Holm family's size before any is evaluated: quoted bounds use it)."""
    def counts(g: str) -> bool:
        kind, *parts = g.split("/")
        if _gate_method(g) not in ctx.design.methods:
            return False
        timed = kind == "speed" and cpu and _gate_method(g) in speed_methods(ctx.run.timings)
        return (kind == "quality" and len(parts) == 1) or timed or (kind == "time" and absolute_times)

    return max(1, sum(counts(g) for g in gate_list))

