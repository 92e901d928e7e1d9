"""The SynthRooms suite: environments as domains, profiles, the split, and loading into tensors.

Domains are environments ``env000``, ``env001``, ... For depth, normals and
vanishing points one set of geometric views per environment serves all three
(the same images, different targets). Classification is task adaptation over
the same environments: each classification environment renders the classes of
the split part it belongs to (meta-train environments render meta-train
classes, meta-test environments the held-out classes), so meta-test episodes
are N-way over classes *and* in rooms never seen in meta-training.

Generation is deterministic from (seed, environment, image) and cached on disk
(``domains.synthrooms.cache``); the first ``load`` renders every missing file
of the suite in parallel.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from domains.catalog import SUITES
from domains.suite import SPLIT_PARTS, DataError, DomainData, Split, Suite
from domains.synthrooms import GENERATOR_VERSION
from domains.synthrooms.archetypes import CLASS_NAMES, N_CLASSES
from domains.synthrooms.cache import default_cache_dir
from domains.synthrooms.generate import Job, generate
from domains.synthrooms.renderer import Rendered, focal_px
from domains.synthrooms.styles import draw_style
from domains.tasks import GEOMETRIC_TASKS, TASK_NAMES

SPLIT_VERSION = 1


@dataclass(frozen=True)
class SynthRoomsConfig:
    """Everything the data depend on (recorded in the split's params, so results cite it)."""

    n_envs: int = 64
    images_per_env: int = 30  # geometric views per environment (depth, normals, vanishing points)
    images_per_class: int = 20  # class views per class per classification environment
    class_split: tuple[int, int, int] = (40, 12, 12)  # classes in meta_train, meta_val, meta_test
    class_envs: tuple[int, int, int] = (8, 4, 8)  # classification environments per part
    image_size: int = 32
    seed: int = 0

    def env_parts(self) -> tuple[int, int, int]:
        """(train, val, test) environment counts: a quarter held out for meta-test, an eighth for meta-val."""
        test = max(1, round(self.n_envs * 0.25))
        val = max(1, round(self.n_envs * 0.125))
        return self.n_envs - test - val, val, test

    def validate(self) -> None:
        def bad(what: str, fix: str) -> DataError:
            return DataError(f"synthrooms: {what}. {fix}")

        if self.n_envs < 3:
            raise bad(f"n_envs={self.n_envs} leaves no room for meta-train, meta-val and meta-test", "Use n_envs >= 3")
        if self.image_size < 16 or self.image_size % 16:
            raise bad(f"image_size={self.image_size} is not a positive multiple of 16 (the network halves it 4 times)",
                      "Use 32, 48, 64, ...")
        if self.images_per_env < 1 or self.images_per_class < 1:
            raise bad("images_per_env and images_per_class must be positive", "Raise them")
        if sum(self.class_split) > N_CLASSES or min(self.class_split) < 1:
            raise bad(f"class_split {self.class_split} needs {sum(self.class_split)} classes; there are {N_CLASSES}",
                      f"Keep each part >= 1 and the sum <= {N_CLASSES}")
        if self.env_parts()[0] < 1:
            raise bad(f"n_envs={self.n_envs} leaves no meta-train environment", "Raise n_envs")


PROFILES: dict[str, SynthRoomsConfig] = {
    # unit and end-to-end tests: ~400 images, well under 5 s on one core
    "tiny": SynthRoomsConfig(n_envs=6, images_per_env=16, images_per_class=15, class_split=(10, 5, 5),
                             class_envs=(1, 1, 1)),
    # CI smoke benchmark: 3 meta-test environments per task, ~2,000 images
    "smoke": SynthRoomsConfig(n_envs=12, images_per_env=20, images_per_class=15, class_split=(40, 12, 12),
                              class_envs=(2, 1, 3)),
    # the default benchmark: 64 environments (40 / 8 / 16), 64 classes (40 / 12 / 12), ~11,000 images
    "standard": SynthRoomsConfig(),
}
PROFILES["default"] = PROFILES["standard"]


def env_name(index: int) -> str:
    return f"env{index:03d}"


def env_index(name: str) -> int:
    if not (name.startswith("env") and name[3:].isdigit()):
        raise DataError(f"synthrooms has no domain '{name}'; its domains are named env000, env001, ...")
    return int(name[3:])


def default_split(config: SynthRoomsConfig) -> Split:
    """Environment and class partitions drawn from the seed; geometric tasks share the environment partition."""
    rng = np.random.default_rng([config.seed, 0x5B117])
    order = [env_name(int(i)) for i in rng.permutation(config.n_envs)]
    n_train, n_val, _ = config.env_parts()
    parts = {"meta_train": sorted(order[:n_train]), "meta_val": sorted(order[n_train:n_train + n_val]),
             "meta_test": sorted(order[n_train + n_val:])}
    domains: dict[str, dict[str, list[str]]] = {t: {p: list(v) for p, v in parts.items()} for t in GEOMETRIC_TASKS}
    domains["classification"] = {p: parts[p][: min(k, len(parts[p]))] for p, k in zip(SPLIT_PARTS, config.class_envs)}
    classes = [int(c) for c in rng.permutation(N_CLASSES)]
    a, b, c = config.class_split
    class_parts = {"meta_train": sorted(classes[:a]), "meta_val": sorted(classes[a:a + b]),
                   "meta_test": sorted(classes[a + b:a + b + c])}
    params = {"generator_version": GENERATOR_VERSION, **asdict(config)}
    params["class_split"], params["class_envs"] = list(config.class_split), list(config.class_envs)
    return Split(suite="synthrooms", version=SPLIT_VERSION, domains=domains, classes=class_parts,
                 class_names=list(CLASS_NAMES), params=params)


@SUITES.register("synthrooms", "procedural Manhattan rooms, all four tasks, no download (default)")
class SynthRoomsSuite(Suite):
    """Procedural Manhattan rooms with exact labels for all four tasks; see the module docstring."""

    @classmethod
    def from_options(cls, **options: Any) -> SynthRoomsSuite:
        """A profile (tiny, smoke, standard/default) with optional overrides: see ``make_synthrooms``."""
        return make_synthrooms(**options)

    def __init__(self, config: SynthRoomsConfig, split: Split | None = None, cache_dir: Path | None = None,
                 workers: int | None = None, progress: bool = True):
        config.validate()
        self.config = config
        self._split = split if split is not None else default_split(config)
        self._split.validate()
        if self._split.suite != self.name:
            raise DataError(f"split is for suite '{self._split.suite}', not synthrooms; pass a synthrooms split file")
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.workers = workers if workers is not None else max(1, min(os.cpu_count() or 1, 8))
        self.progress = progress
        self._arrays: dict[tuple[str, str], dict[str, np.ndarray]] = {}
        self._tensors: dict[tuple[str, str], dict[str, torch.Tensor]] = {}

    # ---- Suite contract ------------------------------------------------------------------------
    @property
    def tasks(self) -> tuple[str, ...]:
        return TASK_NAMES

    def split(self) -> Split:
        return self._split

    def load(self, task: str, domain: str) -> DomainData:
        if task not in self.tasks:
            raise DataError(f"synthrooms has no task '{task}'; it offers {', '.join(self.tasks)}")
        kind = "class" if task == "classification" else "geometric"
        t = self._tensors_of(domain, kind)
        if task == "classification":
            return DomainData(task, domain, t["images"], t["labels"])
        target = {"depth": "depth", "normals": "normals", "vanishing_point": "vp"}[task]
        mask = t["mask"] if task in ("depth", "normals") else None
        return DomainData(task, domain, t["images"], t[target], mask)

    # ---- what the exporter and the preview use -------------------------------------------------
    def environments(self) -> list[str]:
        return [env_name(i) for i in range(self.config.n_envs)]

    def room_box(self, env: str) -> np.ndarray:
        """(2, 3) lo/hi corners of the environment's room, metres."""
        return np.array([[0.0, 0.0, 0.0], draw_style(self.config.seed, env_index(env)).room])

    def rendered(self, env: str, kind: str = "geometric") -> Rendered:
        """The cached geometric renders of one environment (HWC, as written to PNG)."""
        if kind != "geometric":
            raise DataError("only geometric views carry dense labels; use load('classification', env) for class views")
        a = self._arrays_of(env, "geometric")
        return Rendered(**{k: a[k] for k in Rendered.__dataclass_fields__})

    def focal_px(self, task: str, domain: str) -> np.ndarray:
        """Per-sample focal length in pixels at the loaded resolution (for drawing vanishing points)."""
        kind = "class" if task == "classification" else "geometric"
        return np.asarray(focal_px(self._arrays_of(domain, kind)["fov"], self.config.image_size))

    # ---- generation and caching ----------------------------------------------------------------
    def jobs(self) -> list[Job]:
        """Every file this suite needs: geometric views for all environments, class views where classification runs."""
        jobs = [self._job(env, "geometric") for env in self.environments()]
        for env in sorted({e for part in self._split.domains.get("classification", {}).values() for e in part}):
            jobs.append(self._class_job(env))
        return jobs

    def _class_job(self, env: str) -> Job:
        c = self.config
        return Job(env_index(env), "class", c.seed, c.image_size, c.images_per_class, tuple(self.classes_of(env)))

    def classes_of(self, env: str) -> list[int]:
        """Classes rendered in a classification environment: those of the split part it belongs to."""
        parts = self._split.domains.get("classification", {})
        for part in SPLIT_PARTS:
            if env in parts.get(part, []):
                return list(self._split.classes[part]) if self._split.classes else list(range(N_CLASSES))
        raise DataError(f"synthrooms: environment '{env}' is not a classification domain of this split; "
                        f"classification domains are {sorted(e for p in parts.values() for e in p)[:8]}...")

    def object_pool(self, env: str) -> list[int]:
        """Classes whose objects may appear in an environment's geometric views: those of its split part.

        Keeps held-out classes out of meta-training rooms altogether (not even unlabelled).
        """
        if self._split.classes is None:
            return list(range(N_CLASSES))
        for task in GEOMETRIC_TASKS:
            for part in SPLIT_PARTS:
                if env in self._split.domains.get(task, {}).get(part, []):
                    return list(self._split.classes[part])
        return list(self._split.classes["meta_test"])  # in no geometric part: treat as held out

    def prepare(self) -> None:
        """Render every missing or invalid cache file, in parallel (a no-op when the cache is complete)."""
        missing = [j for j in self.jobs() if j.entry(self.cache_dir).problem() is not None]
        generate(missing, self.cache_dir, self.workers, self.progress)

    def _job(self, env: str, kind: str) -> Job:
        i = env_index(env)
        if not 0 <= i < self.config.n_envs:
            raise DataError(f"synthrooms has no domain '{env}'; this profile has env000..{env_name(self.config.n_envs - 1)}")
        if kind == "geometric":
            c = self.config
            return Job(i, "geometric", c.seed, c.image_size, c.images_per_env, tuple(self.object_pool(env)))
        return self._class_job(env)

    def _arrays_of(self, env: str, kind: str) -> dict[str, np.ndarray]:
        key = (env, kind)
        if key not in self._arrays:
            job = self._job(env, kind)
            entry = job.entry(self.cache_dir)
            arrays = entry.load()
            if arrays is None:
                self.prepare()  # first miss: render everything missing at once, over all cores
                arrays = entry.load()
            if arrays is None:  # only if the file system lost what was just written
                raise DataError(f"synthrooms: could not write or read {entry.data_path}; check that the cache "
                                f"directory is writable (set cache_dir or $MTML_CACHE)")
            self._arrays[key] = arrays
        return self._arrays[key]

    def _tensors_of(self, env: str, kind: str) -> dict[str, torch.Tensor]:
        key = (env, kind)
        if key not in self._tensors:
            a = self._arrays_of(env, kind)
            t = {"images": torch.from_numpy(a["rgb"]).permute(0, 3, 1, 2).float().div_(255.0).contiguous(),
                 "labels": torch.from_numpy(a["labels"].astype(np.int64)),
                 "vp": torch.from_numpy(a["vp"].astype(np.float32))}
            if kind == "geometric":
                t["depth"] = torch.from_numpy(a["depth"]).unsqueeze(1).contiguous()
                t["mask"] = torch.from_numpy(a["mask"]).unsqueeze(1).contiguous()
                t["normals"] = torch.from_numpy(a["normals"]).permute(0, 3, 1, 2).contiguous()
            self._tensors[key] = t
        return self._tensors[key]

    def memory_bytes(self) -> int:
        """Bytes held by the tensors loaded so far (images shared between the geometric tasks)."""
        return sum(v.element_size() * v.nelement() for t in self._tensors.values() for v in t.values())


_INT_OPTIONS = ("n_envs", "images_per_env", "images_per_class", "image_size", "seed", "workers")


def _parse_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise DataError(f"synthrooms option {name}={value!r} is not a boolean; use true or false")


def make_synthrooms(profile: str = "standard", cache_dir: str | Path | None = None, split_file: str | Path | None = None,
                    progress: Any = True, root: str | Path | None = None, **options: Any) -> SynthRoomsSuite:
    """The synthrooms suite from options: a profile (tiny, smoke, standard/default) with optional overrides.

    Overrides: n_envs, images_per_env, images_per_class, image_size, seed, workers,
    class_split / class_envs (three integers, 'a,b,c'), cache_dir (alias root), split_file, progress.
    Values may be strings (from the command line).
    """
    if root is not None:  # the CLI's --root: for a generated suite, where its cache lives
        cache_dir = cache_dir or root
    if profile not in PROFILES:
        raise DataError(f"synthrooms has no profile '{profile}'; choose one of {', '.join(sorted(PROFILES))}")
    known = set(_INT_OPTIONS) | {"class_split", "class_envs"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise DataError(f"synthrooms does not take option(s) {', '.join(unknown)}; it takes profile, cache_dir, "
                        f"split_file, progress, {', '.join(sorted(known))}")
    values: dict[str, Any] = {}
    for name, value in options.items():
        try:
            if name in ("class_split", "class_envs"):
                parts = value.split(",") if isinstance(value, str) else list(value)
                values[name] = tuple(int(v) for v in parts)
                if len(values[name]) != 3:
                    raise ValueError
            else:
                values[name] = int(value)
        except (TypeError, ValueError):
            raise DataError(f"synthrooms option {name}={value!r} is not "
                            f"{'three integers a,b,c' if name in ('class_split', 'class_envs') else 'an integer'}") from None
    workers = values.pop("workers", None)
    config = replace(PROFILES[profile], **{k: v for k, v in values.items() if k in {f.name for f in fields(SynthRoomsConfig)}})
    split = Split.read(Path(split_file)) if split_file is not None else None
    if split is not None and split.params.get("n_envs", config.n_envs) != config.n_envs:
        raise DataError(f"split file {split_file} was written for n_envs={split.params.get('n_envs')}, the suite has "
                        f"{config.n_envs}; pass the same profile/options it was written with")
    return SynthRoomsSuite(config, split=split, cache_dir=Path(cache_dir) if cache_dir else None, workers=workers,
                           progress=_parse_bool("progress", progress))
