"""Stored regression baselines (docs/running.md#gate-a-run-against-a-baseline): raw samples, hashes, fingerprint, history.

A baseline keeps raw per-cell values and raw timing samples, never only
summaries, so that every comparison can be recomputed with a noise model. It
changes only through an explicit update that records who, why and the hash of
what it replaced.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from reports.design import Design, cell_means
from reports.errors import IncompatibleBaselineError
from reports.load import RunData
from reports.metricinfo import MetricInfo
from reports.speed_analysis import clean

SCHEMA = "mtml-bench/1"
def _default_baseline() -> Path:
    """The smoke baseline shipped beside the bench package (the repo file in an editable install)."""
    spec = importlib.util.find_spec("bench")
    if spec is not None and spec.origin:
        return Path(spec.origin).resolve().parent / "baselines" / "smoke.json"
    return Path("bench") / "baselines" / "smoke.json"


DEFAULT_BASELINE = _default_baseline()
VOLATILE_ENV_KEYS = {"hostname", "host", "pid", "created", "started", "finished", "git", "user"}


def config_hash(manifest: dict[str, Any]) -> str:
    """What must match for two runs to be comparable cell by cell: the spec and the split."""
    basis = {"spec_hash": manifest.get("spec_hash"), "split_hash": manifest.get("split_hash")}
    if basis["spec_hash"] is None:
        basis["spec"] = manifest.get("spec")
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()


_DESIGN_KEYS = ("suite", "tasks", "episodes", "network", "training")


def _spec_dict(manifest: dict[str, Any]) -> dict[str, Any]:
    spec = manifest.get("spec")
    return spec if isinstance(spec, dict) else {}


def method_config_hash(manifest: dict[str, Any], method: str) -> str:
    """What must match for one method's cells to be comparable: the shared design, its own settings, the split.

    Seeds, the other methods, the speed section and the runtime do not change a method's cells (episodes and
    initialisation derive from the split and the seed index, never from the method list), so a run of a
    subset of the methods, or a registered variant with the same settings, is gated against the same cells.
    """
    spec = _spec_dict(manifest)
    methods = spec.get("methods")
    entry = dict(methods.get(method) or {}) if isinstance(methods, dict) else {}
    entry.pop("tuned", None)  # provenance text, not a setting
    basis = {k: spec.get(k) for k in _DESIGN_KEYS} | {"method": entry, "split_hash": manifest.get("split_hash")}
    return hashlib.sha256(json.dumps(basis, sort_keys=True, default=str).encode()).hexdigest()


def speed_config_hash(manifest: dict[str, Any]) -> str:
    """What must match for speed samples to pair position by position: the design and the speed section's shape."""
    spec = _spec_dict(manifest)
    speed = {k: v for k, v in (spec.get("speed") or {}).items() if k != "methods"}
    basis = {k: spec.get(k) for k in _DESIGN_KEYS} | {"speed": speed, "split_hash": manifest.get("split_hash")}
    return hashlib.sha256(json.dumps(basis, sort_keys=True, default=str).encode()).hexdigest()


def training_hashes(curves: pd.DataFrame) -> dict[str, str]:
    """Per seed, a hash of one method's meta-training loss curve: equal hashes mean the same trained model."""
    out = {}
    for s, g in curves.sort_values("step").groupby("seed"):
        text = json.dumps([[int(st), float(v).hex()] for st, v in zip(g["step"], g["loss"], strict=True)])
        out[str(int(s))] = hashlib.sha256(text.encode()).hexdigest()
    return out


def fingerprint(manifest: dict[str, Any]) -> dict[str, Any]:
    """The machine and software facts that make absolute times comparable (volatile keys dropped)."""
    env = manifest.get("environment") or {}
    if not isinstance(env, dict):
        return {"environment": env}
    return {k: v for k, v in sorted(env.items()) if k not in VOLATILE_ENV_KEYS}


def content_hash(data: dict[str, Any]) -> str:
    body = {k: v for k, v in data.items() if k != "history"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def build_baseline(run: RunData, design: Design, metrics: dict[str, MetricInfo], primary: dict[str, MetricInfo],
                   gates: list[str]) -> dict[str, Any]:
    """A baseline document from a run (raw values; the summary block is for display only)."""
    means = cell_means(design.values)
    counts = design.values.groupby(["method", "seed", "task", "domain", "metric"]).size()
    cells = [{"method": r.method, "task": r.task, "domain": r.domain, "seed": int(r.seed), "metric": r.metric,
              "value": float(r.value), "episodes": int(counts[(r.method, r.seed, r.task, r.domain, r.metric)])}
             for r in means.itertuples()]
    speed = clean(run.timings, "speed")
    cell_t = clean(run.timings, "cell")
    flops: dict[str, dict[str, int]] = {}
    for r in run.costs.itertuples():
        if r.flops is not None and r.flops == r.flops:  # not NULL/NaN
            flops.setdefault(r.method, {})[r.phase] = int(r.flops)
    primary_names = {m.name for m in primary.values()}
    episodes = [{"method": r.method, "seed": int(r.seed), "task": r.task, "domain": r.domain,
                 "episode": int(r.episode), "value": float(r.value)}
                for r in design.values[design.values["metric"].isin(primary_names)].itertuples()]
    training = {m: training_hashes(run.curves[run.curves["method"] == m]) for m in design.methods}
    summary = {f"{m.task}/{m.name}": {meth: float(means[(means["method"] == meth) & (means["metric"] == m.name)]
                                                  ["value"].mean()) for meth in design.methods}
               for m in primary.values()}
    return {
        "schema": SCHEMA,
        "profile": run.manifest.get("suite"),
        "created": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "git": run.manifest.get("git"),
        "config_hash": config_hash(run.manifest),
        "spec_hash": run.manifest.get("spec_hash"),
        "split_hash": run.manifest.get("split_hash"),
        "env": fingerprint(run.manifest),
        "design": {"methods": design.methods, "seeds": design.seeds, "tasks": design.tasks,
                   "domains": design.domains},
        "metrics": {n: m.to_json() for n, m in metrics.items()},
        "primary": {t: m.name for t, m in primary.items()},
        "method_configs": {m: method_config_hash(run.manifest, m) for m in design.methods},
        "speed_config": speed_config_hash(run.manifest),
        "cells": cells,
        "episodes": episodes,  # primary metrics: the units of the same-training quality test
        "training": training,
        "timings": [{"method": r.method, "phase": r.phase, "seed": int(r.seed), "block": int(r.block),
                     "pair": int(r.pair), "seconds": float(r.seconds)} for r in speed.itertuples()],
        "cell_timings": [{"method": r.method, "phase": r.phase, "seed": int(r.seed), "seconds": float(r.seconds)}
                         for r in cell_t.itertuples()],
        "flops": flops,
        "gates": gates,
        "summary": {"note": "display only; always recomputed from raw data when comparing", "means": summary},
        "history": [],
    }


def read_baseline(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise IncompatibleBaselineError(f"no baseline at {path}. Create one with 'mtml-bench regress RUN_DIR "
                                        f"--baseline {path} --update-baseline --reason \"initial\"'.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise IncompatibleBaselineError(f"the baseline {path} is not valid JSON ({exc}). Restore it from git "
                                        "or re-create it with --update-baseline.") from exc
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise IncompatibleBaselineError(f"the baseline {path} has schema {found!r}, expected {SCHEMA!r}. "
                                        "Re-create it with --update-baseline.")
    for key in ("config_hash", "cells", "metrics", "gates"):
        if key not in data:
            raise IncompatibleBaselineError(f"the baseline {path} lacks '{key}'. Re-create it with --update-baseline.")
    return data


def who() -> str:
    for var in ("MTML_BASELINE_AUTHOR", "GIT_AUTHOR_NAME", "USER"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user database in some containers
        return "unknown"


def dumps(doc: dict[str, Any]) -> str:
    """JSON with one record per line in the long lists, so that a baseline update reads well in a diff."""
    lines = ["{"]
    items = list(doc.items())
    for i, (key, value) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            body = ",\n".join("  " + json.dumps(v, sort_keys=True) for v in value)
            lines.append(f"{json.dumps(key)}: [\n{body}\n]{comma}")
        else:
            lines.append(f"{json.dumps(key)}: {json.dumps(value, sort_keys=True)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_baseline(new: dict[str, Any], path: Path, reason: str) -> dict[str, Any]:
    """Write ``new`` over ``path``, carrying the old history forward plus one entry for this update."""
    history: list[dict[str, Any]] = []
    old_hash = None
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
            history = list(old.get("history", []))
            old_hash = content_hash(old)
        except (json.JSONDecodeError, AttributeError):
            old_hash = hashlib.sha256(path.read_bytes()).hexdigest()
    new = dict(new)
    history.append({"when": new["created"], "who": who(), "why": reason, "old_hash": old_hash,
                    "new_hash": content_hash(new), "config_hash": new["config_hash"]})
    new["history"] = history
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(dumps(new), encoding="utf-8")
    tmp.replace(path)
    return new
