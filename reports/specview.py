"""The parts of a run's spec (stored in the manifest) that the statistics depend on.

The confirmatory family is declared in the spec *before* the run
(docs/statistics.md#multiplicity): the reference method, the baselines it is compared with,
the speed claim and alpha. Reading them here, in one place, keeps the report
and the regression gate from drifting apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reports.errors import ReportError

DEFAULT_ALPHA = 0.05
DEFAULT_SPEED_CLAIM = 1.5  # the paper's "1.5x faster than MAML"
SPEED_PHASES = ("meta_train_step", "adapt", "infer")


@dataclass(frozen=True)
class Comparisons:
    reference: str
    baselines: tuple[str, ...]
    alpha: float = DEFAULT_ALPHA
    speed_claim: float = DEFAULT_SPEED_CLAIM
    speed_claim_phases: tuple[str, ...] = ("meta_train_step",)
    margins: Mapping[str, float] = field(default_factory=dict)  # metric -> ROPE override (metric's units)


def _names(entry: Any) -> list[str]:
    """Method or task names from the shapes a TOML spec may use: list of names, list of tables, or a table."""
    if entry is None:
        return []
    if isinstance(entry, Mapping):
        return [str(k) for k in entry]
    if isinstance(entry, str):
        return [entry]
    out = []
    for item in entry:
        out.append(str(item.get("name")) if isinstance(item, Mapping) else str(item))
    return out


def spec_methods(spec: Mapping[str, Any]) -> list[str]:
    return _names(spec.get("methods"))


def spec_tasks(spec: Mapping[str, Any]) -> list[str]:
    return _names(spec.get("tasks"))


def spec_seeds(spec: Mapping[str, Any]) -> list[int]:
    """Seeds as declared: a count (0..n-1), a list, or a table with ``count``/``list``."""
    seeds = spec.get("seeds")
    if seeds is None and isinstance(spec.get("run"), Mapping):
        seeds = spec["run"].get("seeds")
    if isinstance(seeds, Mapping):
        seeds = seeds.get("list", seeds.get("count"))
    if seeds is None:
        return []
    if isinstance(seeds, int):
        return list(range(seeds))
    if isinstance(seeds, Sequence) and not isinstance(seeds, str):
        return [int(s) for s in seeds]
    raise ReportError(f"the spec's seeds entry {seeds!r} is neither a count nor a list. Fix the spec's 'seeds'.")


def comparisons(spec: Mapping[str, Any], methods: Sequence[str]) -> Comparisons:
    """The declared confirmatory family; without a declaration, the first method against all others."""
    block = spec.get("comparisons") or {}
    if not isinstance(block, Mapping):
        raise ReportError("the spec's [comparisons] is not a table. Declare reference, baselines, alpha, speed_claim.")
    if not methods:
        raise ReportError("the run has no methods with results. Run the benchmark before reporting.")
    reference = str(block.get("reference", "afr" if "afr" in methods else methods[0]))
    baselines = tuple(str(b) for b in block.get("baselines", [m for m in methods if m != reference]))
    phases = block.get("speed_claim_phases", block.get("speed_phases", ["meta_train_step"]))
    if isinstance(phases, str):
        phases = [phases]
    alpha = float(block.get("alpha", DEFAULT_ALPHA))
    if not 0 < alpha < 1:
        raise ReportError(f"the spec's comparisons.alpha is {alpha}; it must lie in (0, 1).")
    margins = block.get("margins", {}) or {}
    return Comparisons(reference=reference, baselines=baselines, alpha=alpha,
                       speed_claim=float(block.get("speed_claim", DEFAULT_SPEED_CLAIM)),
                       speed_claim_phases=tuple(str(p) for p in phases),
                       margins={str(k): float(v) for k, v in dict(margins).items()})


# The controls the harness ships (methods.controls), for stores whose manifest predates 'method_roles'.
KNOWN_CONTROLS: dict[str, list[str] | None] = {"constant": None, "scratch": None, "protonet": ["classification"]}


@dataclass(frozen=True)
class Role:
    """What the report needs to know about a method: is it a control, and which tasks is it scored on."""

    control: bool = False
    tasks: tuple[str, ...] | None = None  # None: every task of the run

    def scores(self, task: str) -> bool:
        return self.tasks is None or task in self.tasks


def method_roles(manifest: Mapping[str, Any], methods: Sequence[str]) -> dict[str, Role]:
    """Each method's role, from the manifest's ``method_roles`` (written by the runner from the registry)."""
    stored = manifest.get("method_roles")
    roles: dict[str, Role] = {}
    for m in methods:
        entry = stored.get(m) if isinstance(stored, Mapping) else None
        if isinstance(entry, Mapping):
            tasks = entry.get("tasks")
            roles[m] = Role(bool(entry.get("control", False)), None if tasks is None else tuple(str(t) for t in tasks))
        elif m in KNOWN_CONTROLS:
            tasks = KNOWN_CONTROLS[m]
            roles[m] = Role(True, None if tasks is None else tuple(tasks))
        else:
            roles[m] = Role()
    return roles
