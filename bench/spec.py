"""Benchmark specs: TOML in, typed and validated frozen dataclasses out.

A spec is the whole experimental design (suite, tasks, methods, seeds, episode
shape, network, training budget, the speed section and the declared
comparisons), so a run can be reproduced from the spec stored in its manifest
alone. Every field is checked here, before any work starts, and every problem
is one line that names the field, the value and what is allowed:

    spec field 'training.inner_lr' = -1: must be a positive number

Names that need the registries (methods, metrics, suites) are checked by
``check_names`` so that parsing stays cheap and free of torch imports.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from bench.errors import SpecError

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, published as tomli
    import tomli as tomllib
from domains.tasks import TASK_NAMES
from methods.phases import SPEED_PHASES

SYNTHETIC = ("smoke", "standard", "ablations", "paper", "scaling")  # generated data (SynthRooms): run anywhere
REAL = ("taskonomy", "diode", "nyuv2", "scannet_vp")  # read a dataset folder: run with --root DIR
SHIPPED = SYNTHETIC + REAL
EXECUTORS = ("inline", "process", "ray")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# Every seed index is listed in the spec stored in the run's manifest and every (method, seed) is a
# cell with its own store rows, so a count beyond this is refused before a tuple of it is built.
MAX_SEEDS = 100_000
_MISSING = object()


# ---- the typed spec ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SuiteSpec:
    name: str
    options: dict[str, Any] = field(default_factory=dict)  # keyword options for the suite factory


@dataclass(frozen=True)
class EpisodesSpec:
    shots: int = 5
    queries: int = 10
    ways: int = 5
    test_episodes: int = 10  # per held-out (task, domain) and seed
    max_test_domains: int | None = None  # per task; a seeded, method-independent choice


@dataclass(frozen=True)
class NetworkSpec:
    widths: tuple[int, int, int, int] = (16, 32, 48, 64)
    decoder_width: int = 16


@dataclass(frozen=True)
class TrainingSpec:
    meta_batch_size: int = 4
    inner_steps: int = 5
    inner_lr: float = 0.1
    outer_lr: float = 1e-3
    test_inner_steps: int | None = None
    pretrain_steps: int = 0
    budget_steps: int | None = None
    budget_seconds: float | None = None
    curve_every: int | None = None  # learning curves: score the fixed meta-val episodes every this many steps
    curve_episodes: int = 4  # fixed meta-val episodes per task for the learning curves (same for every method)


@dataclass(frozen=True)
class MethodSpec:
    """Per-method overrides of the shared training values, with where they came from."""

    name: str
    inner_lr: float | None = None
    outer_lr: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    tuned: str = ""  # provenance, e.g. the 'mtml-bench tune' line that chose the values


@dataclass(frozen=True)
class SpeedSpec:
    """The interleaved speed section (docs/timing.md#the-interleaved-speed-section): methods alternate on identical episodes."""

    methods: tuple[str, ...] = ()
    pairs: int = 30  # timed pairs per block
    blocks: int = 3  # fresh processes
    warmup: int = 3  # warm-up pairs per block (and warm-up samples per phase in every cell), kept but flagged
    threads: int = 1  # torch threads while timing (one thread gives stable ratios on shared machines)
    # the scaling study (docs/scaling.md): with any axis set, ``blocks`` blocks run at every point of the grid
    # (backbone width multiplier x image side x inner steps); an axis left out keeps the spec's own value
    width_multipliers: tuple[int, ...] | None = None
    image_sizes: tuple[int, ...] | None = None
    inner_steps: tuple[int, ...] | None = None

    @property
    def scaled(self) -> bool:
        return any(axis is not None for axis in (self.width_multipliers, self.image_sizes, self.inner_steps))

    def points(self) -> list[ScalePoint]:
        """The grid's points in block order (width outermost, inner steps innermost); one unscaled point without a grid."""
        return [ScalePoint(w, s, k) for w in self.width_multipliers or (None,) for s in self.image_sizes or (None,)
                for k in self.inner_steps or (None,)]

    @property
    def total_blocks(self) -> int:
        """Blocks of the whole section: ``blocks`` at every point."""
        return self.blocks * len(self.points())

    def point_of(self, block: int) -> tuple[int, ScalePoint]:
        """(point index, point) that block ``block`` of the section runs at."""
        index = block // self.blocks
        return index, self.points()[index]


SCALE_AXES = ("width_multipliers", "image_sizes", "inner_steps")


@dataclass(frozen=True)
class ScalePoint:
    """One size of the scaling study; None keeps the spec's own value on that axis."""

    width_multiplier: int | None = None
    image_size: int | None = None
    inner_steps: int | None = None

    def label(self) -> str:
        size = "suite px" if self.image_size is None else f"{self.image_size} px"
        steps = "spec steps" if self.inner_steps is None else f"{self.inner_steps} step{'s' * (self.inner_steps != 1)}"
        return f"x{self.width_multiplier or 1} width, {size}, {steps}"


@dataclass(frozen=True)
class ComparisonSpec:
    reference: str = "afr"
    baselines: tuple[str, ...] = ()
    speed_claim: float = 1.5
    speed_claim_phases: tuple[str, ...] = ("meta_train_step",)
    alpha: float = 0.05
    margins: dict[str, float] = field(default_factory=dict)
    # the baselines whose primary-metric comparisons (and speed claims) form the confirmatory family, under
    # Holm; every other comparison is exploratory (docs/confirmatory-design.md). Empty: the default below.
    confirmatory: tuple[str, ...] = ()

    @property
    def family_baselines(self) -> tuple[str, ...]:
        """The confirmatory baselines: as declared, else ``maml`` when compared, else the first baseline."""
        if self.confirmatory:
            return self.confirmatory
        return ("maml",) if "maml" in self.baselines else self.baselines[:1]


@dataclass(frozen=True)
class RuntimeSpec:
    """How to run, not what: excluded from the spec hash, overridable on the command line."""

    device: str = "cpu"
    executor: str = "process"
    threads: int | None = None  # torch threads per worker; default: cores // workers
    workers: int | None = None  # process-pool size; default: as many as the cores allow
    address: str | None = None  # Ray cluster address ('auto', 'ray://host:port'); None = local
    plugins: tuple[str, ...] = ()  # modules imported first in the orchestrator and every worker (user registries)


@dataclass(frozen=True)
class Spec:
    name: str
    suite: SuiteSpec
    tasks: tuple[str, ...]
    methods: tuple[MethodSpec, ...]
    seeds: tuple[int, ...]
    description: str = ""
    episodes: EpisodesSpec = field(default_factory=EpisodesSpec)
    network: NetworkSpec = field(default_factory=NetworkSpec)
    training: TrainingSpec = field(default_factory=TrainingSpec)
    speed: SpeedSpec | None = None
    comparisons: ComparisonSpec | None = None
    tuning: dict[str, Any] | None = None
    runtime: RuntimeSpec = field(default_factory=RuntimeSpec)
    source: str = ""  # where it was read from (not part of the design)

    @property
    def method_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.methods)

    def method(self, name: str) -> MethodSpec:
        for m in self.methods:
            if m.name == name:
                return m
        raise SpecError(f"method '{name}' is not in spec '{self.name}'; it has: {', '.join(self.method_names)}")

    def to_dict(self, runtime: bool = True) -> dict[str, Any]:
        """A JSON- and TOML-shaped dict that ``parse_spec`` reads back to an equal spec."""
        out: dict[str, Any] = {"name": self.name, "description": self.description, "seeds": list(self.seeds),
                               "tasks": list(self.tasks)}
        out["suite"] = {"name": self.suite.name, **self.suite.options}
        out["episodes"] = _drop_none(dataclasses.asdict(self.episodes))
        out["network"] = {"widths": list(self.network.widths), "decoder_width": self.network.decoder_width}
        out["training"] = _drop_none(dataclasses.asdict(self.training))
        out["methods"] = {m.name: _drop_none({"inner_lr": m.inner_lr, "outer_lr": m.outer_lr,
                                              "extra": dict(m.extra) or None, "tuned": m.tuned or None})
                          for m in self.methods}
        if self.speed is not None:
            # a grid axis appears only when set, so the hash of a spec without a grid is what it always was
            out["speed"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self.speed).items()
                            if not (k in SCALE_AXES and v is None)}
        if self.comparisons is not None:
            c = self.comparisons
            out["comparisons"] = {"reference": c.reference, "baselines": list(c.baselines),
                                  "speed_claim": c.speed_claim, "speed_claim_phases": list(c.speed_claim_phases),
                                  "alpha": c.alpha, "margins": dict(c.margins)}
            if c.family_baselines != ComparisonSpec(baselines=c.baselines).family_baselines:
                out["comparisons"]["confirmatory"] = list(c.family_baselines)  # the default stays implicit
        if self.tuning is not None:
            out["tuning"] = dict(self.tuning)
        if runtime:
            out["runtime"] = _drop_none(dataclasses.asdict(self.runtime) | {"plugins": list(self.runtime.plugins)})
        return out

    @property
    def hash(self) -> str:
        """sha256 of the design (everything but ``[runtime]``): two runs with equal hashes are comparable."""
        canonical = json.dumps(self.to_dict(runtime=False), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def with_overrides(self, methods: Sequence[str] | None = None, seeds: Sequence[int] | None = None,
                       **runtime: Any) -> Spec:
        """Command-line overrides, validated like the file (``--methods``, ``--seeds``, ``--device``, ...)."""
        data = self.to_dict()
        if methods is not None:
            table = data["methods"]
            data["methods"] = {m: table.get(m, {}) for m in methods}
            data = _fit_sections_to_methods(data)
        if seeds is not None:
            data["seeds"] = list(seeds)
        for key, value in runtime.items():
            if value is not None:
                data["runtime"][key] = value
        return parse_spec(data, source=self.source)


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items() if v is not None}


def _fit_sections_to_methods(data: dict[str, Any]) -> dict[str, Any]:
    """After ``--methods``, keep the speed section and comparisons to the methods that remain."""
    kept = list(data["methods"])
    if "speed" in data:
        speed = [m for m in data["speed"]["methods"] if m in kept]
        if len(speed) >= 2:
            data["speed"]["methods"] = speed
        else:
            del data["speed"]
    if "comparisons" in data:
        comp = data["comparisons"]
        baselines = [b for b in comp["baselines"] if b in kept]
        if comp["reference"] in kept and baselines:
            comp["baselines"] = baselines
        else:
            del data["comparisons"]
    return data


# ---- loading -----------------------------------------------------------------------------------------
def shipped_path(name: str) -> Path:
    return Path(str(resources.files("bench") / "specs" / f"{name}.toml"))


def load_spec(ref: str | Path) -> Spec:
    """A shipped spec by name (``SHIPPED``) or a TOML file by path."""
    text_ref = str(ref)
    path = Path(text_ref)
    if text_ref in SHIPPED and not path.is_file():
        path = shipped_path(text_ref)
    elif not path.is_file():
        if path.suffix == ".toml" or "/" in text_ref:
            raise SpecError(f"spec file {text_ref} does not exist. Give a shipped spec ({', '.join(SHIPPED)}) "
                            "or the path of a TOML file.")
        raise SpecError(f"unknown spec '{text_ref}'. Give a shipped spec ({', '.join(SHIPPED)}) "
                        "or the path of a TOML file.")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"spec {path} is not valid TOML: {err}. Fix the file's syntax.") from None
    except OSError as err:
        raise SpecError(f"cannot read spec {path}: {err.strerror}. Check the path and its permissions.") from None
    return parse_spec(data, source=str(path))


# ---- validation --------------------------------------------------------------------------------------
class _Reader:
    """Reads one TOML table, checking each key once; leftover keys are reported as unknown."""

    def __init__(self, table: Any, where: str):
        if not isinstance(table, Mapping):
            raise SpecError(f"spec field '{where}' = {_show(table)}: must be a table ([{where}])")
        self.table, self.where, self.used = dict(table), where, set()

    def path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def get(self, key: str, default: Any = _MISSING) -> Any:
        self.used.add(key)
        if key in self.table:
            return self.table[key]
        if default is _MISSING:
            raise SpecError(f"spec field '{self.path(key)}' is missing: it is required")
        return default

    def finish(self, extra_ok: bool = False) -> dict[str, Any]:
        rest = {k: v for k, v in self.table.items() if k not in self.used}
        if rest and not extra_ok:
            key = sorted(rest)[0]
            raise SpecError(f"spec field '{self.path(key)}' is not a known field; known fields here: "
                            f"{', '.join(sorted(self.used))}")
        return rest


def _show(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, str | list | dict | bool) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fail(path: str, value: Any, allowed: str) -> SpecError:
    return SpecError(f"spec field '{path}' = {_show(value)}: {allowed}")


def _int(r: _Reader, key: str, default: Any = _MISSING, low: int = 1) -> Any:
    value = r.get(key, default)
    if value is None and default is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise _fail(r.path(key), value, f"must be an integer >= {low}")
    return value


def _positive(r: _Reader, key: str, default: Any = _MISSING) -> Any:
    value = r.get(key, default)
    if value is None and default is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise _fail(r.path(key), value, "must be a positive number")
    return float(value)


def _string(r: _Reader, key: str, default: Any = _MISSING) -> Any:
    value = r.get(key, default)
    if value is None and default is None:
        return None
    if not isinstance(value, str):
        raise _fail(r.path(key), value, "must be a string")
    return value


def _names(r: _Reader, key: str, default: Any = _MISSING, allowed: Sequence[str] | None = None,
           nonempty: bool = True) -> tuple[str, ...]:
    value = r.get(key, default)
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise _fail(r.path(key), value, "must be a list of names")
    if nonempty and not value:
        raise _fail(r.path(key), value, "must name at least one entry")
    if len(set(value)) != len(value):
        dup = next(v for v in value if list(value).count(v) > 1)
        raise _fail(r.path(key), value, f"names '{dup}' twice; list each once")
    if allowed is not None:
        for v in value:
            if v not in allowed:
                raise _fail(r.path(key), value, f"'{v}' is not allowed; choose from {', '.join(allowed)}")
    return tuple(value)


def parse_spec(data: Mapping[str, Any], source: str = "") -> Spec:
    """Validate a parsed TOML document (or a manifest's stored spec) into a ``Spec``."""
    top = _Reader(data, "")
    name = _string(top, "name")
    if not _NAME.match(name):
        raise _fail("name", name, "must be letters, digits, '_', '-' or '.', starting with a letter or digit")
    description = _string(top, "description", "")
    seeds = _seeds(top)
    tasks = _names(top, "tasks", allowed=TASK_NAMES)
    methods = _methods(top)
    method_names = tuple(m.name for m in methods)

    suite_r = _Reader(top.get("suite"), "suite")
    suite_name = _string(suite_r, "name")
    suite = SuiteSpec(suite_name, suite_r.finish(extra_ok=True))

    ep, d = _Reader(top.get("episodes", {}), "episodes"), EpisodesSpec()
    episodes = EpisodesSpec(shots=_int(ep, "shots", d.shots), queries=_int(ep, "queries", d.queries),
                            ways=_int(ep, "ways", d.ways, low=2), test_episodes=_int(ep, "test_episodes", d.test_episodes),
                            max_test_domains=_int(ep, "max_test_domains", d.max_test_domains))
    ep.finish()

    net, nd = _Reader(top.get("network", {}), "network"), NetworkSpec()
    widths = net.get("widths", list(nd.widths))
    if (not isinstance(widths, list | tuple) or len(widths) != 4
            or not all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in widths)):
        raise _fail("network.widths", widths, "must be a list of 4 positive integers (one per backbone stage)")
    network = NetworkSpec(widths=tuple(widths), decoder_width=_int(net, "decoder_width", nd.decoder_width))  # type: ignore[arg-type]
    net.finish()

    training = _training(_Reader(top.get("training", {}), "training"))

    speed = None
    if "speed" in top.table:
        sp = _Reader(top.get("speed"), "speed")
        speed_methods = _names(sp, "methods", allowed=method_names)
        if len(speed_methods) < 2:
            raise _fail("speed.methods", list(speed_methods), "must name at least two of the spec's methods")
        sd = SpeedSpec()
        speed = SpeedSpec(methods=speed_methods, pairs=_int(sp, "pairs", sd.pairs), blocks=_int(sp, "blocks", sd.blocks),
                          warmup=_int(sp, "warmup", sd.warmup, low=0), threads=_int(sp, "threads", sd.threads),
                          width_multipliers=_axis(sp, "width_multipliers"), image_sizes=_axis(sp, "image_sizes"),
                          inner_steps=_axis(sp, "inner_steps"))
        sp.finish()
    else:
        top.used.add("speed")

    comparisons = _comparisons(top, method_names) if "comparisons" in top.table else None
    top.used.add("comparisons")

    tuning = None
    if "tuning" in top.table:
        from bench.tuning_space import SearchSpace, TuningError

        tuning = top.get("tuning")
        try:
            SearchSpace.from_table(tuning if isinstance(tuning, Mapping) else {}).trial_stage_one(
                training.pretrain_steps, training.budget_steps)
        except TuningError as err:
            raise SpecError(f"spec field 'tuning': {err}") from None
        tuning = dict(tuning)
    top.used.add("tuning")

    runtime = _runtime(_Reader(top.get("runtime", {}), "runtime"))
    top.finish()
    return Spec(name=name, description=description, suite=suite, tasks=tasks, methods=methods, seeds=seeds,
                episodes=episodes, network=network, training=training, speed=speed, comparisons=comparisons,
                tuning=tuning, runtime=runtime, source=source)


_AXIS_RULES = {"width_multipliers": "integers >= 1", "image_sizes": "positive multiples of 16 (pixels)",
               "inner_steps": "integers >= 1"}


def _axis(r: _Reader, key: str) -> tuple[int, ...] | None:
    """A scaling axis of ``[speed]``: a non-empty list of distinct values (image sides: multiples of 16)."""
    value = r.get(key, None)
    if value is None:
        return None
    ok = (isinstance(value, list | tuple) and len(value) > 0 and len(set(value)) == len(value)
          and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value))
    if ok and key == "image_sizes":
        ok = all(v % 16 == 0 for v in value)
    if not ok:
        raise _fail(r.path(key), value, f"must be a non-empty list of distinct {_AXIS_RULES[key]}")
    return tuple(value)


def _seeds(top: _Reader) -> tuple[int, ...]:
    value = top.get("seeds")
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise _fail("seeds", value, "must be a seed count >= 1 or a list of distinct seed indices >= 0")
        if value > MAX_SEEDS:
            raise _fail("seeds", value, f"is more seeds than a run can list and store; the limit is {MAX_SEEDS}")
        return tuple(range(value))
    if (isinstance(value, list | tuple) and value
            and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value)
            and len(set(value)) == len(value)):
        return tuple(value)
    raise _fail("seeds", value, "must be a seed count >= 1 or a list of distinct seed indices >= 0")


def _methods(top: _Reader) -> tuple[MethodSpec, ...]:
    """``methods = ["afr", "maml"]`` or a table ``[methods.afr]`` per method (overrides, may be empty)."""
    value = top.get("methods")
    if isinstance(value, list | tuple):
        names = _names(top, "methods")
        return tuple(MethodSpec(n) for n in names)
    if not isinstance(value, Mapping) or not value:
        raise _fail("methods", value, "must be a list of method names or one [methods.<name>] table per method")
    out = []
    for name, table in value.items():
        r = _Reader(table, f"methods.{name}")
        extra = r.get("extra", {})
        if not isinstance(extra, Mapping):
            raise _fail(r.path("extra"), extra, "must be a table of method-specific options")
        out.append(MethodSpec(name=name, inner_lr=_positive(r, "inner_lr", None), outer_lr=_positive(r, "outer_lr", None),
                              extra=dict(extra), tuned=_string(r, "tuned", "")))
        r.finish()
    return tuple(out)


def _training(r: _Reader) -> TrainingSpec:
    d = TrainingSpec()
    t = TrainingSpec(meta_batch_size=_int(r, "meta_batch_size", d.meta_batch_size),
                     inner_steps=_int(r, "inner_steps", d.inner_steps), inner_lr=_positive(r, "inner_lr", d.inner_lr),
                     outer_lr=_positive(r, "outer_lr", d.outer_lr),
                     test_inner_steps=_int(r, "test_inner_steps", d.test_inner_steps, low=0),
                     pretrain_steps=_int(r, "pretrain_steps", d.pretrain_steps, low=0),
                     budget_steps=_int(r, "budget_steps", d.budget_steps),
                     budget_seconds=_positive(r, "budget_seconds", d.budget_seconds),
                     curve_every=_int(r, "curve_every", d.curve_every),
                     curve_episodes=_int(r, "curve_episodes", d.curve_episodes))
    r.finish()
    if t.budget_steps is None and t.budget_seconds is None:
        raise _fail("training.budget_steps", None, "set budget_steps or budget_seconds (or both); "
                    "budget_steps alone keeps runs reproducible")
    if t.budget_steps is not None and t.pretrain_steps >= t.budget_steps:
        raise _fail("training.pretrain_steps", t.pretrain_steps,
                    f"must be below training.budget_steps ({t.budget_steps}), which it counts against")
    return t


def _comparisons(top: _Reader, methods: tuple[str, ...]) -> ComparisonSpec:
    r = _Reader(top.get("comparisons"), "comparisons")
    d = ComparisonSpec()
    reference = _string(r, "reference", d.reference)
    if reference not in methods:
        raise _fail("comparisons.reference", reference, f"must be one of the spec's methods: {', '.join(methods)}")
    others = [m for m in methods if m != reference]
    baselines = _names(r, "baselines", others, allowed=others)
    claim = _positive(r, "speed_claim", d.speed_claim)
    phases = _names(r, "speed_claim_phases", list(d.speed_claim_phases), allowed=SPEED_PHASES)
    alpha = r.get("alpha", d.alpha)
    if not isinstance(alpha, float | int) or isinstance(alpha, bool) or not 0 < alpha < 1:
        raise _fail("comparisons.alpha", alpha, "must be a number strictly between 0 and 1")
    margins = r.get("margins", {})
    if not isinstance(margins, Mapping) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in margins.values()):
        raise _fail("comparisons.margins", margins, "must be a table of metric name = non-negative number")
    confirmatory = _names(r, "confirmatory", [], allowed=baselines, nonempty=False)
    r.finish()
    if not confirmatory:  # resolved here, so the stored spec names its family explicitly
        confirmatory = ComparisonSpec(baselines=baselines).family_baselines
    return ComparisonSpec(reference=reference, baselines=baselines, speed_claim=claim, speed_claim_phases=phases,
                          alpha=float(alpha), margins={str(k): float(v) for k, v in margins.items()},
                          confirmatory=confirmatory)


def _runtime(r: _Reader) -> RuntimeSpec:
    d = RuntimeSpec()
    device = _string(r, "device", d.device)
    if not re.match(r"^(cpu|auto|cuda(:\d+)?)$", device):
        raise _fail("runtime.device", device, "must be cpu, cuda, cuda:N or auto")
    executor = _string(r, "executor", d.executor)
    if executor not in EXECUTORS:
        raise _fail("runtime.executor", executor, f"must be one of {', '.join(EXECUTORS)}")
    rt = RuntimeSpec(device=device, executor=executor, threads=_int(r, "threads", None),
                     workers=_int(r, "workers", None), address=_string(r, "address", None),
                     plugins=_names(r, "plugins", [], nonempty=False))
    r.finish()
    if rt.address is not None and rt.executor != "ray":
        raise _fail("runtime.address", rt.address, "is only used with executor = \"ray\"; remove it or use ray")
    return rt


# ---- names that need the registries ----------------------------------------------------------------
def check_names(spec: Spec) -> None:
    """Methods, suite and metric names against the registries (imports them; plugins first)."""
    import importlib

    for module in spec.runtime.plugins:
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise _fail("runtime.plugins", list(spec.runtime.plugins),
                        f"module '{module}' cannot be imported ({err}); check the name and PYTHONPATH") from None
    from domains.catalog import SUITES
    from domains.registry import UnknownNameError
    from methods.registry import METHODS

    try:
        for m in spec.methods:
            METHODS.get(m.name)
        SUITES.get(spec.suite.name)
    except UnknownNameError as err:
        raise SpecError(f"{err} Fix the spec's methods or suite.name.") from None
    if spec.comparisons is not None and spec.comparisons.margins:
        from domains.metrics import METRICS

        for metric in spec.comparisons.margins:
            if metric not in METRICS:
                raise _fail(f"comparisons.margins.{metric}", spec.comparisons.margins[metric],
                            f"'{metric}' is not a registered metric; known: {', '.join(METRICS.names())}")


def parse_seeds(text: str) -> tuple[int, ...]:
    """``--seeds``: a count ``N`` (indices 0..N-1) or an explicit list ``0,3,7``."""
    try:
        if "," in text:
            values = tuple(int(s) for s in text.split(",") if s.strip())
            if values and all(v >= 0 for v in values) and len(set(values)) == len(values):
                return values
        elif int(text) > MAX_SEEDS:
            raise SpecError(f"--seeds {text}: more seeds than a run can list and store; the limit is {MAX_SEEDS}")
        elif int(text) >= 1:
            return tuple(range(int(text)))
    except ValueError:
        pass
    raise SpecError(f"--seeds {text!r} is neither a count >= 1 nor a comma list of distinct indices >= 0 "
                    "(e.g. --seeds 3 for indices 0-2, --seeds 0,4,7, or --seeds 0, for index 0 alone)")
