"""Cells: one (method, seed) meta-trained once, then scored on every held-out (task, domain) episode.

The orchestrator (``bench/orchestrator.py``) plans and stores; this module is what a worker runs.
Everything a worker needs travels in a ``Plan`` (plain data, picklable), so a
cell gives the same result in the orchestrator, in a pool worker or on a Ray node:
the suite and sampler are rebuilt from the spec, the method's initial weights
come from ``derive_seed("init", split hash, seed index)`` -- never the method
name, so methods with matching architectures start from matching weights --
and every episode from the split hash, task, domain, seed and episode index.
"""

from __future__ import annotations

import dataclasses
import math
import time
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from bench.clock import RecordingClock
from bench.costs import measure_costs
from bench.curves import CurveRow, checkpoints, curve_episodes, score_episodes
from bench.errors import SpecError, UserError
from bench.progress import Emit, no_emit
from bench.spec import Spec, parse_spec
from bench.store import CellResult
from domains.episodes import EpisodeSampler, EpisodeShape, derive_seed
from domains.suite import DataError, Suite
from methods.base import Budget, DivergenceError, Method, MethodConfig
from methods.network import NetworkConfig


@dataclass(frozen=True)
class Plan:
    """What every worker needs, as plain data (the spec as a dict so that it pickles anywhere)."""

    spec: dict[str, Any]
    image_size: int
    split_hash: str
    test_domains: dict[str, list[str]]  # task -> held-out domains scored (after max_test_domains)
    device: str
    threads: int
    warmup: int
    cost_seed: int  # the seed whose cell also measures FLOPs and peak memory per phase

    def parsed(self) -> Spec:
        return parse_spec(self.spec)


# ---- construction shared by orchestrator and workers ---------------------------------------------------
def build_suite(spec: Spec) -> Suite:
    """The spec's suite with its options; a bad option is a spec error naming it."""
    from domains.catalog import SUITES

    factory = SUITES.get(spec.suite.name)
    try:
        return factory(**spec.suite.options)
    except TypeError as err:
        raise SpecError(f"spec field 'suite' options {sorted(spec.suite.options)} do not fit suite "
                        f"'{spec.suite.name}' ({err}). Check the suite's options.") from None
    except (DataError, ValueError) as err:
        # name the suite once: the real suites' own messages (a missing root, say) already start with it
        named = f"suite '{spec.suite.name}'" in str(err)
        raise UserError(str(err) if named else f"suite '{spec.suite.name}': {err}") from None


def build_sampler(spec: Spec, suite: Suite) -> EpisodeSampler:
    e = spec.episodes
    try:
        return EpisodeSampler(suite, suite.split(), EpisodeShape(e.shots, e.queries, e.ways), spec.tasks)
    except DataError as err:
        raise UserError(str(err)) from None


def method_config(spec: Spec, name: str, image_size: int) -> MethodConfig:
    """Shared training values, then the method's own overrides from ``[methods.<name>]``."""
    t, m = spec.training, spec.method(name)
    network = NetworkConfig(image_size=image_size, widths=spec.network.widths,
                            decoder_width=spec.network.decoder_width, ways=spec.episodes.ways)
    return MethodConfig(network=network, inner_steps=t.inner_steps,
                        inner_lr=t.inner_lr if m.inner_lr is None else m.inner_lr,
                        outer_lr=t.outer_lr if m.outer_lr is None else m.outer_lr,
                        meta_batch_size=t.meta_batch_size, test_inner_steps=t.test_inner_steps,
                        pretrain_steps=t.pretrain_steps, extra=dict(m.extra))


def init_seed(split_hash: str, seed_index: int) -> int:
    """The method's weight-initialisation seed: the same for every method at one seed index."""
    return derive_seed("init", split_hash, seed_index)


def build_method(spec: Spec, name: str, image_size: int, split_hash: str, seed_index: int,
                 device: torch.device, **config_changes: Any) -> Method:
    from methods.registry import METHODS

    config = dataclasses.replace(method_config(spec, name, image_size), **config_changes)
    return METHODS.get(name)(config, spec.tasks, device, init_seed(split_hash, seed_index))


def choose_test_domains(sampler: EpisodeSampler, task: str, cap: int | None) -> list[str]:
    """Held-out domains of a task, capped by a seeded choice that depends on the split only (split order kept)."""
    domains = sampler.domains(task, "test")
    if cap is None or len(domains) <= cap:
        return domains
    rng = np.random.default_rng(derive_seed(sampler.split_hash, "test-domains", task))
    keep = sorted(rng.choice(len(domains), size=cap, replace=False).tolist())
    return [domains[i] for i in keep]


def image_size_of(sampler: EpisodeSampler, task: str) -> int:
    """The suite's image size, read from its data (a meta-train domain of the first task)."""
    domain = sampler.domains(task, "train")[0]
    images = sampler.domain_data(task, domain).images
    height, width = int(images.shape[-2]), int(images.shape[-1])
    if height != width or height % 16:
        raise UserError(f"suite images are {height}x{width}; the network needs square images with a side "
                        "divisible by 16. Set the suite's image_size option accordingly.")
    return height


def budget_of(spec: Spec) -> Budget:
    return Budget(steps=spec.training.budget_steps, seconds=spec.training.budget_seconds)


# ---- per-process context ---------------------------------------------------------------------------
_CONTEXT: dict[str, tuple[Spec, EpisodeSampler]] = {}


def context(plan: Plan) -> tuple[Spec, EpisodeSampler]:
    """Spec and sampler for this process, built once per plan (the sampler caches domain tensors)."""
    key = plan.split_hash + str(sorted(plan.spec.items()))
    if key not in _CONTEXT:
        spec = plan.parsed()
        sampler = build_sampler(spec, build_suite(spec))
        if sampler.split_hash != plan.split_hash:
            raise UserError(f"the suite's split changed since the run started ({sampler.split_hash[:12]} != "
                            f"{plan.split_hash[:12]}); the data on disk differs. Start a new run.")
        _CONTEXT.clear()
        _CONTEXT[key] = (spec, sampler)
    return _CONTEXT[key]


# ---- one cell ------------------------------------------------------------------------------------
def one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if isinstance(err, DivergenceError) else f"{type(err).__name__}: {text}"


def run_cell(plan: Plan, method_name: str, seed: int, emit: Emit = no_emit) -> CellResult:
    """Meta-train, then adapt and predict on every held-out episode; any exception fails the cell only."""
    start = time.perf_counter()
    try:
        result = _run_cell(plan, method_name, seed, emit)
    except (KeyboardInterrupt, SystemExit):
        raise
    except UserError:
        raise
    except Exception as err:  # noqa: BLE001 - a method's crash is a result (failed cell), not a harness crash
        where = traceback.extract_tb(err.__traceback__)[-1]
        reason = one_line(err)
        if not isinstance(err, DivergenceError):
            reason += f" (at {where.filename.rsplit('/', 1)[-1]}:{where.lineno})"
        result = CellResult(method_name, seed, "failed", reason=reason)
    result.wall_seconds = time.perf_counter() - start
    return result


def _run_cell(plan: Plan, method_name: str, seed: int, emit: Emit) -> CellResult:
    from domains.metrics import evaluate

    spec, sampler = context(plan)
    device = torch.device(plan.device)
    method = build_method(spec, method_name, plan.image_size, plan.split_hash, seed, device)
    budget = budget_of(spec)
    steps_total = budget.steps if budget.steps is not None else 0
    curve: list[CurveRow] = []
    marks = set() if method.control else checkpoints(spec.training.curve_every, budget.steps)
    val_episodes = curve_episodes(sampler, spec.tasks, spec.training.curve_episodes, seed, device) if marks else []

    def on_step(step: int) -> None:
        emit((method_name, seed, "meta-train", step + 1, steps_total))
        if step + 1 in marks:
            curve.extend(score_episodes(method, val_episodes, step + 1))

    clock = RecordingClock(device, warmup=plan.warmup, on_step=on_step)
    if 0 in marks:
        curve.extend(score_episodes(method, val_episodes, 0))
    method.meta_train(sampler, budget, clock, seed_index=seed)

    episodes = [(task, domain, i) for task in spec.tasks if method.scores(task) for domain in plan.test_domains[task]
                for i in range(spec.episodes.test_episodes)]
    metrics: list[tuple[str, str, int, str, float]] = []
    before: list[tuple[str, str, int, str, float]] = []
    for n, (task, domain, index) in enumerate(episodes):
        with clock.phase("data"):
            episode = sampler.episode("test", task, domain, seed, index).to(device)
        with clock.phase("adapt"):
            learner = method.adapt(episode)
        with clock.phase("infer"), torch.inference_mode():
            pred = learner.predict(episode.query.images)
        for metric, value in evaluate(task, pred, episode.query, episode.ways).items():
            if not math.isfinite(value):
                raise DivergenceError(f"{method_name}: metric {metric} is {value} on task {task}, domain {domain}, "
                                      f"episode {index}")
            metrics.append((task, domain, index, metric, float(value)))
        # the same query before adaptation (zero test-time steps), untimed: the adaptation gain
        with torch.inference_mode():
            initial = method.before_adaptation(episode).predict(episode.query.images)
        before += [(task, domain, index, metric, float(value))
                   for metric, value in evaluate(task, initial, episode.query, episode.ways).items()
                   if math.isfinite(value)]
        emit((method_name, seed, "evaluate", n + 1, len(episodes)))

    costs: list[tuple[str, int | None, int | None]] = []
    if seed == plan.cost_seed and not method.control:  # controls have no meta-train step to count
        emit((method_name, seed, "FLOPs and memory", 0, 3))
        fresh = build_method(spec, method_name, plan.image_size, plan.split_hash, seed, device, pretrain_steps=0)
        costs = measure_costs(fresh, sampler, spec, plan.test_domains, seed, device)
    return CellResult(method_name, seed, "done", parameters=method.parameter_count(), metrics=metrics,
                      timings=clock.rows(), curve=clock.curve, costs=costs, before=before, val_curve=curve)
