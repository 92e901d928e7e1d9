"""What the statistics need to know about a metric, read from the metric registry.

Every effect in a report is oriented so that *positive means the method is
better*, whatever the metric's direction, and is expressed in the metric's
transform: a plain difference for bounded scores (accuracy), a log-ratio for
errors (scale-free, averages to a geometric-mean ratio). The ROPE of a
log-ratio metric is a relative change (0.01 = 1%), so its margin in effect
units is ``log1p(rope)``.

The registry itself lives in ``domains.metrics`` (another stage owns it); this
module only adapts it, so statistics can also be run on explicit
``MetricInfo`` objects (tests, stored baselines).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from reports.errors import ReportError

DIRECTIONS = ("higher", "lower")
TRANSFORMS = ("delta", "log_ratio")


@dataclass(frozen=True)
class MetricInfo:
    name: str
    task: str
    direction: str  # 'higher' | 'lower' is better
    transform: str  # 'delta' | 'log_ratio'
    rope: float  # region of practical equivalence: metric units (delta) or relative change (log_ratio)
    unit: str = ""
    primary: bool = False

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"metric {self.name}: direction must be one of {DIRECTIONS}, got {self.direction!r}")
        if self.transform not in TRANSFORMS:
            raise ValueError(f"metric {self.name}: transform must be one of {TRANSFORMS}, got {self.transform!r}")

    @property
    def margin(self) -> float:
        """The ROPE in effect units (what effects are compared against)."""
        return math.log1p(self.rope) if self.transform == "log_ratio" else float(self.rope)

    @property
    def effect_label(self) -> str:
        if self.transform == "log_ratio":
            return f"log-ratio of {self.name} (positive = better)"
        return f"difference in {self.name}{' (' + self.unit + ')' if self.unit else ''} (positive = better)"

    def effect(self, method: Any, reference: Any) -> np.ndarray:
        """Paired effect of ``method`` over ``reference`` (arrays of equal shape); positive = method better."""
        m = np.asarray(method, dtype=float)
        r = np.asarray(reference, dtype=float)
        if self.transform == "delta":
            d = m - r
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                d = np.log(m) - np.log(r)
        return d if self.direction == "higher" else -d

    def oriented(self, values: Any) -> np.ndarray:
        """Values turned so that larger is better (for ranks and Pareto fronts)."""
        v = np.asarray(values, dtype=float)
        return v if self.direction == "higher" else -v

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MetricInfo:
        fields = {k: data[k] for k in ("name", "task", "direction", "transform", "rope") if k in data}
        return cls(**fields, unit=str(data.get("unit", "")), primary=bool(data.get("primary", False)))


def _from_registry_entry(entry: Any) -> MetricInfo:
    return MetricInfo(
        name=str(entry.name),
        task=str(entry.task),
        direction=str(entry.direction),
        transform=str(entry.transform),
        rope=float(entry.rope),
        unit=str(getattr(entry, "unit", "") or ""),
        primary=bool(getattr(entry, "primary", False)),
    )


def registry_metrics(names: Iterable[str]) -> dict[str, MetricInfo]:
    """Look the named metrics up in ``domains.metrics.METRICS``; an unknown name is a user error."""
    try:
        from domains import metrics as metric_module
    except ImportError as exc:  # the registry is part of the package; its absence is an install problem
        raise ReportError(f"the metric registry domains.metrics cannot be imported ({exc}). "
                          "Reinstall mtml-bench (pip install -e .).") from exc
    out: dict[str, MetricInfo] = {}
    for name in names:
        try:
            entry = metric_module.METRICS.get(name)
        except KeyError as exc:
            raise ReportError(f"{exc}. The store holds a metric the registry does not know; "
                              "report it with the mtml-bench version that wrote the run.") from None
        out[name] = _from_registry_entry(entry)
    return out


def primary_metrics(metrics: Mapping[str, MetricInfo], tasks: Iterable[str]) -> dict[str, MetricInfo]:
    """The primary metric of each task: the registry flag first, else ``domains.tasks``' declared name."""
    out: dict[str, MetricInfo] = {}
    for task in tasks:
        flagged = [m for m in metrics.values() if m.task == task and m.primary]
        if flagged:
            out[task] = flagged[0]
            continue
        from domains.tasks import TASKS

        name = TASKS.get(task).primary_metric
        if name not in metrics:
            raise ReportError(f"task {task}: its primary metric {name} has no values in the store. "
                              "Re-run the benchmark; the runner must record every task's primary metric.")
        out[task] = metrics[name]
    return out


def run_metrics(run: Any, names: Iterable[str]) -> dict[str, MetricInfo]:
    """Metric descriptions for a run: those its manifest recorded (what the run was scored with), the
    rest from the registry."""
    names = list(names)
    recorded = run.manifest.get("metrics") if isinstance(run.manifest, Mapping) else None
    out: dict[str, MetricInfo] = {}
    if isinstance(recorded, Mapping):
        for name in names:
            if isinstance(recorded.get(name), Mapping):
                out[name] = MetricInfo.from_json({"name": name, **recorded[name]})
    rest = [n for n in names if n not in out]
    if rest:
        out.update(registry_metrics(rest))
    return out
