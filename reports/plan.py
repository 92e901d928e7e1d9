"""Which seeds x domains x episodes reach a target effect: the design question, answered from data.

The variance components of each confirmatory comparison (``reports.power``)
come either from a finished run (``mtml-bench plan RUN_DIR``) or, for a spec
that has not run yet, from a pilot: another run (``--pilot RUN_DIR``) or, by
default, the shipped smoke baseline (``bench/baselines/smoke.json``: 3 seeds x
3 domains of cell means, no episode values, so more episodes are not credited).
A pilot from another spec measures another network and episode shape: its
components are a guide to the order of magnitude, not a promise.

The target is a multiple of each comparison's ROPE (default 1: the design can
detect an effect the size of the smallest one that matters), at 80% power and
alpha divided by the confirmatory family's size (Holm's strictest step).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.spec import Spec
from reports.errors import ReportError
from reports.metricinfo import MetricInfo
from reports.power import Components, components, detectable_effect

SEEDS = (3, 5, 10, 20)
DOMAIN_FACTORS = (1, 2, 4)
EPISODE_FACTORS = (1, 4)


@dataclass
class Pilot:
    """Components per confirmatory comparison, and where they came from."""

    source: str
    margins: dict[str, float]  # task -> ROPE in effect units
    components: dict[str, Components]  # task -> components of reference vs the confirmatory baseline
    transforms: dict[str, str]  # task -> 'delta' | 'log_ratio'


@dataclass
class Design:
    seeds: int
    domains: dict[str, int]  # task -> held-out domains
    episodes: int
    family: int  # size of the confirmatory family (alpha is divided by it)
    alpha: float


def pilot_from_run(run_dir: Path | str) -> tuple[Pilot, Design]:
    """Components and the design of a finished run (its confirmatory comparisons)."""
    from reports.analysis import analyse
    from reports.load import load_run

    a = analyse(load_run(run_dir))
    family = a.confirmatory
    pilot = Pilot(source=f"run {run_dir}", margins={e.task: e.margin for e in family},
                  components={e.task: e.components for e in family},
                  transforms={e.task: e.metric.transform for e in family})
    episodes = max((e.components.episodes for e in family), default=1)
    design = Design(seeds=len(a.design.seeds), domains={e.task: e.n_domains for e in family}, episodes=episodes,
                    family=a.family_size, alpha=a.alpha)
    return pilot, design


def pilot_from_baseline(path: Path, reference: str, baseline: str) -> Pilot:
    """Components from a regression baseline's stored cell means (reference vs ``baseline``, primary metrics)."""
    from reports.baseline import read_baseline

    data = read_baseline(path)
    cells = pd.DataFrame(data["cells"])
    infos = {name: MetricInfo.from_json(m) for name, m in data["metrics"].items()}
    comps, margins, transforms = {}, {}, {}
    for task, metric in data["primary"].items():
        info = infos[metric]
        sub = cells[(cells["task"] == task) & (cells["metric"] == metric)]
        wide = sub.pivot_table(index=["seed", "domain"], columns="method", values="value")
        if reference not in wide or baseline not in wide:
            raise ReportError(f"the pilot {path} has no {reference} and {baseline} cells for {task}; "
                              "give a pilot run with --pilot RUN_DIR.")
        d = info.effect(wide[reference].unstack("domain").to_numpy(), wide[baseline].unstack("domain").to_numpy())
        comps[task] = components(d)
        margins[task], transforms[task] = info.margin, info.transform
    return Pilot(source=f"pilot {path} (cell means only: more episodes not credited)", margins=margins,
                 components=comps, transforms=transforms)


def spec_design(spec: Spec) -> Design:
    """The design a spec will run: its seeds, each task's held-out domains (from the suite's split), episodes."""
    from bench.cell import build_suite

    split = build_suite(spec).split()
    cap = spec.episodes.max_test_domains
    domains = {t: min(len(split.domains[t]["meta_test"]), cap or 10**9) for t in spec.tasks}
    comp = spec.comparisons
    if comp is None:
        raise ReportError(f"spec '{spec.name}' declares no [comparisons]; the confirmatory family is what a plan "
                          "sizes. Add [comparisons] reference, baselines and confirmatory.")
    claims = len(comp.family_baselines) * len(comp.speed_claim_phases) if spec.speed is not None else 0
    return Design(seeds=len(spec.seeds), domains=domains, episodes=spec.episodes.test_episodes,
                  family=len(comp.family_baselines) * len(spec.tasks) + claims, alpha=comp.alpha)


def plan_lines(pilot: Pilot, design: Design, target: float = 1.0, seeds: Sequence[int] = SEEDS) -> list[str]:
    """A readable plan: per task, the detectable effect at the design and which designs reach the target."""
    lines = [f"variance components from {pilot.source}",
             f"design: {design.seeds} seeds, episodes {design.episodes}, confirmatory family of {design.family} "
             f"(alpha {design.alpha:g} / {design.family} at 80% power); target: {target:g} x each task's ROPE"]
    for task, c in pilot.components.items():
        goal = target * pilot.margins[task]
        doms = design.domains.get(task, 1)
        now = detectable_effect(c, design.seeds, doms, design.episodes, design.alpha, design.family)
        unit = " (log ratio)" if pilot.transforms[task] == "log_ratio" else ""
        lines += ["", f"{task}{unit}: seed {c.seed:.3g}, domain {c.domain:.3g}, residual {c.residual():.3g}; "
                  f"target {goal:.3g}; at {design.seeds} seeds x {doms} domains x {design.episodes} episodes the "
                  f"detectable effect is {now:.3g} ({'reaches' if now <= goal else 'misses'} the target)"]
        ep_factors = EPISODE_FACTORS if c.episode > 0 else (1,)  # no episode variance known: not credited
        grid = [(s, doms * f, design.episodes * e) for s, f, e in itertools.product(seeds, DOMAIN_FACTORS, ep_factors)]
        table = ["  seeds x domains x episodes: detectable effect"]
        reaching = []
        for s, d, e in grid:
            mde = detectable_effect(c, s, d, e, design.alpha, design.family)
            table.append(f"    {s:>3} x {d:>3} x {e:>3}: {mde:.3g}{'  <= target' if mde <= goal else ''}")
            if mde <= goal:
                reaching.append((s * d * e, s, d, e))
        lines += table
        if reaching:
            _, s, d, e = min(reaching)
            lines.append(f"  cheapest listed design reaching the target: {s} seeds x {d} domains x {e} episodes")
        else:
            s, d, e = grid[-1]
            shares = {"seed": c.seed / s, "domain": c.domain / d, "residual": c.residual(e) / (s * d)}
            lines.append(f"  no listed design reaches the target; at the largest the {max(shares, key=shares.get)} "
                         "component dominates the variance")
    return lines



def shipped_pilot() -> Path:
    """The smoke regression baseline shipped beside the bench package: the default pilot for a spec."""
    return Path(__file__).resolve().parent.parent / "bench" / "baselines" / "smoke.json"
