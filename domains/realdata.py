"""What the four real-data suites share: options, sample decoding loop, skipping, caching, split files.

A loader only has to say which samples a (task, domain) has and how to decode
one sample into numpy arrays; this base turns them into ``DomainData`` in the
documented layouts, caches them (``domains.realdata_cache``), and applies the
``skip_unreadable`` policy in one place so that skipping is always counted and
reported, never silent.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import sys
import warnings
from abc import abstractmethod
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from domains.image_io import fit_dense, fit_image, parse_image_size, unit_normals
from domains.realdata_cache import DomainCache, fingerprint, resolve_cache_dir
from domains.suite import SPLIT_PARTS, DataError, DataWarning, DomainData, Split, Suite

PART_OF_CSV_COLUMN = {"train": "meta_train", "val": "meta_val", "test": "meta_test"}


@dataclass
class Sample:
    """One sample of a (task, domain): an id for messages and every file it is decoded from."""

    id: str
    files: dict[str, Path]  # role ('image', 'depth', ...) -> path


@dataclass
class Decoded:
    """One decoded sample in numpy: image HxWx3 (uint8 or float [0,1]) and the task's raw target."""

    image: np.ndarray
    target: np.ndarray | int
    mask: np.ndarray | None = None


@dataclass
class SampleListing:
    """The samples of a (task, domain) and files left out because a partner file is missing."""

    samples: list[Sample]
    unmatched: list[str] = field(default_factory=list)


def as_bool(name: str, value: Any) -> bool:
    """A spec or command-line boolean: true/false, 1/0, yes/no (strings accepted)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise DataError(f"option {name}={value!r} is not a boolean; use true or false")


def as_int(name: str, value: Any, minimum: int = 1) -> int:
    """A spec or command-line integer >= minimum (strings accepted)."""
    try:
        number = int(value) if not isinstance(value, bool) and str(value).strip().lstrip("-").isdigit() else None
    except (TypeError, ValueError):
        number = None
    if number is None or number < minimum:
        raise DataError(f"option {name}={value!r} must be an integer >= {minimum}")
    return number


def as_list(value: Any) -> list[str]:
    """``"a,b"`` or ``["a", "b"]`` -> ["a", "b"] (command-line options arrive as strings)."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def as_signs(name: str, value: Any) -> np.ndarray:
    """Three axis signs (+1/-1) for a normal-frame option, e.g. ``[1, -1, -1]`` or ``"1,-1,-1"``."""
    try:
        signs = [float(v) for v in as_list(value)]
    except ValueError:
        signs = []
    if len(signs) != 3 or any(v not in (1.0, -1.0) for v in signs):
        raise DataError(f"option {name}={value!r} must be three of +1/-1, e.g. [1, -1, -1]")
    return np.asarray(signs, dtype=np.float32)


def check_root(root: str | os.PathLike[str] | None, suite: str) -> Path:
    """The dataset folder, or the one-line error every real suite gives for a missing root."""
    if root is None or str(root) == "":
        raise DataError(f"suite '{suite}' needs a dataset folder: pass --root DIR (mtml-bench run, tune, preview, "
                        f"split) or set root = \"/path/to/{suite}\" in the spec's [suite] table; "
                        f"'mtml-bench download {suite} --to DIR' fetches it (or says how to obtain it)")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DataError(f"{path}: dataset root for suite '{suite}' does not exist or is not a folder; "
                        f"point --root (or the spec's suite.root) at the extracted dataset, e.g. the folder "
                        f"'mtml-bench download {suite} --to DIR' filled")
    return path


@dataclass(frozen=True)
class RealOptions:
    """Options every real suite takes (from the spec's [suite] table); a loader adds its own in ``configure``.

    ``root`` the dataset folder; ``image_size`` int or [height, width];
    ``split`` a named split (unset: the suite's ``default_split``), a ``.csv``
    (Taskonomy split format) or a ``.json`` manifest; ``cache_dir`` folder of the
    decoded-tensor cache (unset: the user cache, ``"off"``: none);
    ``skip_unreadable`` skip (and report) corrupt samples instead of failing;
    ``keep_aspect`` centre-crop to the target aspect before resizing;
    ``progress`` show decoding bars (unset: when stderr is a terminal);
    ``workers`` decoding threads; ``max_per_domain`` a deterministic subset of at
    most that many samples per domain (the same views for every task), to bound
    first-load time on large buildings.
    """

    root: str | os.PathLike[str] | None = None
    image_size: int | Sequence[int] = 64
    split: str | os.PathLike[str] | None = None
    cache_dir: str | os.PathLike[str] | bool | None = None
    skip_unreadable: bool = False
    keep_aspect: bool = True
    progress: bool | None = None
    workers: int | None = None
    max_per_domain: int | None = None


SHARED_OPTIONS: tuple[str, ...] = tuple(f.name for f in fields(RealOptions))
MISSING_POLICIES = ("error", "drop")


class RealSuite(Suite):
    """Base of the real-data suites: options, split dispatch, missing-data policy, decoding loop and cache.

    A loader implements only what is its own: ``configure`` (its extra options),
    ``domains`` / ``list_samples`` (listing samples), ``decode`` (one sample), and
    its split parts (``split_units``, ``official_parts`` and, where it has them,
    the hooks below). The split option is dispatched here, once: a ``.json``
    manifest, ``"auto"`` (60/20/20 by hash rank of ``split_units``), one of
    ``official_splits``, or a ``.csv`` in the Taskonomy split format.
    """

    loader_version: int = 1
    split_version: int = 1
    default_split: str = "official"
    official_splits: tuple[str, ...] = ("official",)
    # The missing-data policy: a split (official list or CSV) may name units that are not on disk. With
    # ``missing_option`` set, the suite takes that option ("error" or "drop"); without it, missing is an error.
    missing_option: str | None = None
    missing_units: str = "domain(s) not on disk"  # how the message counts them: "building(s) not on disk", ...
    missing_fix: str = "add their files"  # what the user does instead of dropping them

    def __init__(self, root: str | os.PathLike[str] | None = None, **options: Any):
        shared = RealOptions(root=root, **{k: options.pop(k) for k in SHARED_OPTIONS[1:] if k in options})
        self.options = shared
        self.root = check_root(shared.root, self.name)
        self.workers = as_int("workers", shared.workers) if shared.workers is not None else min(8, os.cpu_count() or 1)
        self.max_per_domain = as_int("max_per_domain", shared.max_per_domain) if shared.max_per_domain is not None else None
        self.image_size = parse_image_size(shared.image_size)
        self.split_option = shared.split if shared.split not in (None, "") else self.default_split
        self.cache = DomainCache(resolve_cache_dir(shared.cache_dir), self.name)
        self.skip_unreadable = as_bool("skip_unreadable", shared.skip_unreadable)
        self.keep_aspect = as_bool("keep_aspect", shared.keep_aspect)
        self.progress = None if shared.progress is None else as_bool("progress", shared.progress)
        self.missing = "error"
        if self.missing_option is not None:
            self.missing = str(options.pop(self.missing_option, "error"))
            if self.missing not in MISSING_POLICIES:
                raise DataError(f"{self.name} {self.missing_option} '{self.missing}' is unknown; use 'error' or 'drop'")
        self._split: Split | None = None
        self.configure(**options)

    def configure(self) -> None:
        """The loader's own options, as keyword arguments with defaults (an unknown one is a TypeError)."""

    # ---- subclass hooks ------------------------------------------------------------------------
    @abstractmethod
    def domains(self, task: str) -> list[str]:
        """Every domain on disk that has samples for ``task`` (sorted)."""

    @abstractmethod
    def list_samples(self, task: str, domain: str) -> SampleListing:
        """The samples of one (task, domain); raise DataError for a missing folder or an empty domain."""

    @abstractmethod
    def decode(self, task: str, sample: Sample) -> Decoded:
        """Decode one sample; raise DataError naming the file for anything wrong with it."""

    def cache_params(self) -> dict[str, Any]:
        """Options that change decoded tensors; part of the cache key."""
        return {}

    # ---- Suite API -------------------------------------------------------------------------------
    def split(self) -> Split:
        if self._split is None:
            split = self.make_split()
            split.validate()
            self._split = split
        return self._split

    def make_split(self) -> Split:
        """The split the ``split`` option names: one dispatch and one missing-data policy for every real suite."""
        option = self.split_option
        available = {t: self.domains(t) for t in self.tasks}
        if is_path_option(option) and str(option).endswith(".json"):
            split = read_split_manifest(Path(option), self.name, self.tasks)
            check_split_domains(split, available, str(option))
            return split
        params: dict[str, Any] = {"split": str(option), **self.split_params()}
        if option == "auto":
            parts = hash_partition(self.split_units(), f"{self.name}-auto")
        elif option in self.official_splits:
            parts = self.official_parts(str(option))
        elif is_path_option(option):
            parts = read_split_csv(Path(option))
        else:
            named = ", ".join(dict.fromkeys((*self.official_splits, "auto")))
            raise DataError(f"{self.name} split '{option}' is unknown; use {named}, a .csv in the Taskonomy split "
                            f"format or a .json split manifest")
        parts = self.domain_parts(self.keep_present(self.filter_units(parts, params), str(option), params))
        require_nonempty(parts, self.name, str(option))
        for task in self.tasks:
            lacking = sorted({d for names in parts.values() for d in names} - set(available[task]))
            if lacking:
                raise self.unlabelled(task, lacking)
        classes, class_names = self.class_split()
        return Split(self.name, self.split_version, {t: {p: list(parts[p]) for p in SPLIT_PARTS} for t in self.tasks},
                     classes, class_names, params)

    def keep_present(self, parts: dict[str, list[str]], origin: str, params: dict[str, Any]) -> dict[str, list[str]]:
        """The missing-data policy: units the split names that are not on disk fail the split, or are dropped
        (recorded in the split's params as ``dropped_<unit>s`` and warned about) when the policy is "drop"."""
        have = set(self.present_units())
        missing = sorted({u for names in parts.values() for u in names} - have)
        if missing and self.missing == "error":
            drop = f", or set {self.missing_option} = \"drop\" to run on the rest" if self.missing_option else ""
            raise DataError(f"{self.root}: split '{origin}' names {len(missing)} {self.missing_units} "
                            f"({', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}); {self.missing_fix}{drop}")
        if missing:
            assert self.missing_option is not None
            warnings.warn(f"{self.name} split '{origin}': dropping {len(missing)} {self.missing_units}: "
                          f"{', '.join(missing)}", DataWarning, stacklevel=4)
            params[f"dropped_{self.missing_option.removeprefix('missing_')}"] = missing
        return {p: [u for u in names if u in have] for p, names in parts.items()}

    # ---- split hooks: what a loader's split is made of -------------------------------------------
    @abstractmethod
    def split_units(self) -> list[str]:
        """What an automatic split partitions (domains, or scenes that group domains), sorted."""

    @abstractmethod
    def official_parts(self, name: str) -> dict[str, list[str]]:
        """The units of each part of the official split ``name`` (one of ``official_splits``)."""

    def present_units(self) -> list[str]:
        """Units a split may name because they are on disk (default: ``split_units``)."""
        return self.split_units()

    def split_params(self) -> dict[str, Any]:
        """Options the split depends on, recorded in its params (and so in its hash)."""
        return {}

    def filter_units(self, parts: dict[str, list[str]], params: dict[str, Any]) -> dict[str, list[str]]:
        """Units a suite leaves out by option before the missing-data policy (default: none)."""
        return parts

    def domain_parts(self, parts: dict[str, list[str]]) -> dict[str, list[str]]:
        """Units -> domains per part (default: units are domains)."""
        return parts

    def unlabelled(self, task: str, lacking: list[str]) -> DataError:
        """The error for domains of the split that have no labels for ``task`` (names what to extract)."""
        return DataError(f"{self.root}: {len(lacking)} domain(s) of the split have no {task} labels "
                         f"({', '.join(lacking[:5])}); extract them or remove them from the split")

    def class_split(self) -> tuple[dict[str, list[int]] | None, list[str] | None]:
        """Classification classes per part and their names, for suites with a classification task."""
        return None, None

    def load(self, task: str, domain: str) -> DomainData:
        self.require_tasks([task])
        listing = self.list_samples(task, domain)
        if not listing.samples:
            raise DataError(f"suite '{self.name}': domain '{domain}' has no samples for task '{task}' under "
                            f"{self.root}; add its files or remove it from the split")
        if self.max_per_domain is not None and len(listing.samples) > self.max_per_domain:
            listing = self._subsample(listing, domain)
        files = [p for s in listing.samples for p in s.files.values()]
        params = {"suite": self.name, "version": self.loader_version, "task": task, "domain": domain,
                  "size": self.image_size, "keep_aspect": self.keep_aspect, "skip": self.skip_unreadable,
                  "max_per_domain": self.max_per_domain, **self.cache_params()}
        variant = hashlib.sha256(repr(sorted(params.items())).encode()).hexdigest()[:10]
        key = fingerprint(files, params | {"unmatched": listing.unmatched}, self.root)
        data = self.cache.load_or_build(task, domain, key, lambda: self._build(task, domain, listing), variant)
        if data.skipped:
            warnings.warn(f"suite '{self.name}': skipped {len(data.skipped)} sample(s) of domain '{domain}' "
                          f"(task {task}): {'; '.join(data.skipped[:3])}{' ...' if len(data.skipped) > 3 else ''}", DataWarning, stacklevel=2)
        return data

    def _subsample(self, listing: SampleListing, domain: str) -> SampleListing:
        """A deterministic subset, by hash rank of sample id: the same views for every task and run."""
        assert self.max_per_domain is not None
        keep = set(hash_rank([s.id for s in listing.samples], salt=f"{self.name}\x1f{domain}")[: self.max_per_domain])
        return SampleListing([s for s in listing.samples if s.id in keep], listing.unmatched)

    def loaded_samples(self, task: str, domain: str) -> list[Sample]:
        """The samples behind ``load(task, domain)``, in its order (subset applied, skipped ones removed).

        Lets a suite attach per-sample metadata that is not a target (e.g. the
        focal length a preview needs to draw vanishing points).
        """
        data = self.load(task, domain)
        listing = self.list_samples(task, domain)
        if self.max_per_domain is not None and len(listing.samples) > self.max_per_domain:
            listing = self._subsample(listing, domain)
        failed = [msg for msg in data.skipped if ": no matching " not in msg]
        kept = [s for s in listing.samples if not any(m.startswith(f"{p}:") for p in s.files.values() for m in failed)]
        if len(kept) != len(data):
            raise DataError(f"suite '{self.name}': domain '{domain}' changed on disk while loading; load it again")
        return kept

    # ---- building --------------------------------------------------------------------------------
    def _build(self, task: str, domain: str, listing: SampleListing) -> DomainData:
        images, targets, masks, skipped = [], [], [], list(listing.unmatched)

        def work(sample: Sample) -> tuple[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None] | None,
                                          DataError | None]:
            try:
                return self._to_tensors(task, self.decode(task, sample)), None
            except DataError as err:
                return None, err

        # Pillow, numpy and torch release the GIL while decoding and resizing, so threads scale;
        # map() keeps the file order, so the result does not depend on the worker count.
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            results = tqdm(pool.map(work, listing.samples), total=len(listing.samples), unit="img", leave=False,
                           desc=f"{self.name} {task}/{domain}", file=sys.stderr,
                           disable=(not self.progress) if self.progress is not None else None)
            for out, err in results:
                if err is not None:
                    if not self.skip_unreadable:
                        raise err
                    skipped.append(str(err))
                    continue
                assert out is not None
                images.append(out[0])
                targets.append(out[1])
                masks.append(out[2])
        if not images:
            raise DataError(f"suite '{self.name}': every one of the {len(listing.samples)} sample(s) of domain "
                            f"'{domain}' (task {task}) was unreadable; first: {skipped[0] if skipped else '?'}")
        stacked_mask = None if masks[0] is None else torch.stack(masks)
        return DomainData(task, domain, torch.stack(images).float() / 255.0, torch.stack(targets), stacked_mask,
                          skipped)

    def _to_tensors(self, task: str, d: Decoded) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        image = fit_image(d.image, self.image_size, self.keep_aspect)
        if task == "classification":
            return image, torch.tensor(int(d.target), dtype=torch.int64), None
        if task == "vanishing_point":
            vps = torch.as_tensor(np.asarray(d.target, dtype=np.float32))
            return image, vps / vps.norm(dim=1, keepdim=True), None
        assert d.mask is not None
        values, mask = fit_dense(np.asarray(d.target), d.mask, self.image_size, self.keep_aspect)
        if task == "normals":
            values, mask = unit_normals(values, mask)
        return image, values, mask

    def unknown_domain(self, task: str, domain: str) -> DataError:
        known = self.domains(task)
        shown = ", ".join(known[:8]) + (" ..." if len(known) > 8 else "")
        return DataError(f"suite '{self.name}' has no domain '{domain}' for task '{task}' under {self.root}; "
                         f"known: {shown or '(none)'}")


# ---- splits ------------------------------------------------------------------------------------------


def hash_rank(names: Iterable[str], salt: str) -> list[str]:
    """Names ordered by sha256(salt, name): a deterministic shuffle that does not depend on listing order."""
    return sorted(names, key=lambda n: hashlib.sha256(f"{salt}\x1f{n}".encode()).hexdigest())


def hash_partition(names: Sequence[str], salt: str, fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
                   ) -> dict[str, list[str]]:
    """Split names into the three parts by hash rank; each part gets at least one name when >= 3 exist."""
    ranked = hash_rank(names, salt)
    n = len(ranked)
    if n < 3:
        raise DataError(f"an automatic split needs at least 3 domains, found {n} ({', '.join(ranked)}); "
                        f"add domains or pass a split file")
    n_val = max(1, round(n * fractions[1]))
    n_test = max(1, round(n * fractions[2]))
    n_train = n - n_val - n_test
    if n_train < 1:
        n_train, n_val = 1, n - 1 - n_test
    return {"meta_train": sorted(ranked[:n_train]), "meta_val": sorted(ranked[n_train:n_train + n_val]),
            "meta_test": sorted(ranked[n_train + n_val:])}


def hold_out(names: Sequence[str], salt: str, fraction: float = 0.1) -> tuple[list[str], list[str]]:
    """(kept, held) with ceil(fraction * n) >= 1 names held out by hash rank, when n >= 2."""
    if len(names) < 2:
        return sorted(names), []
    ranked = hash_rank(names, salt)
    k = max(1, math.ceil(fraction * len(ranked)))
    return sorted(ranked[k:]), sorted(ranked[:k])


def read_split_csv(path: Path) -> dict[str, list[str]]:
    """The official Taskonomy CSV format (header ``id,train,val,test``, rows ``name,0|1,0|1,0|1``).

    The StanfordVL files use bare carriage returns as line ends, so the text is
    read with universal newlines. Returns meta part -> names in file order.
    """
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"split file {path} does not exist; pass an official name (e.g. 'tiny') or an existing CSV") from None
    rows = list(csv.reader(io.StringIO(text, newline=None)))
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows or [c.strip().lower() for c in rows[0][:4]] != ["id", "train", "val", "test"]:
        raise DataError(f"split file {path}: first row must be 'id,train,val,test' (the Taskonomy split format); "
                        f"found {','.join(rows[0]) if rows else 'an empty file'}")
    parts: dict[str, list[str]] = {p: [] for p in SPLIT_PARTS}
    for line_no, row in enumerate(rows[1:], start=2):
        if len(row) < 4 or any(c.strip() not in ("0", "1") for c in row[1:4]):
            raise DataError(f"split file {path}, row {line_no}: expected 'name,0|1,0|1,0|1', found {','.join(row)}")
        flags = [c.strip() == "1" for c in row[1:4]]
        if sum(flags) > 1:
            raise DataError(f"split file {path}, row {line_no}: '{row[0].strip()}' is in more than one of "
                            f"train/val/test; a benchmark split must keep held-out domains unseen. Fix the row.")
        for flag, column in zip(flags, ("train", "val", "test")):
            if flag:
                parts[PART_OF_CSV_COLUMN[column]].append(row[0].strip())
    return parts


def write_split_csv(parts: dict[str, list[str]], path: Path, line_end: str = "\r") -> None:
    """Write parts in the official CSV format (bare CR line ends by default, like the StanfordVL files)."""
    lines = ["id,train,val,test"]
    for part in SPLIT_PARTS:
        for name in parts[part]:
            lines.append(",".join([name] + ["1" if p == part else "0" for p in SPLIT_PARTS]))
    path.write_bytes((line_end.join(lines) + line_end).encode())


def is_path_option(split: str | os.PathLike[str]) -> bool:
    text = str(split)
    return text.endswith((".csv", ".json")) or os.sep in text or Path(text).exists()


def read_split_manifest(path: Path, suite: str, tasks: Sequence[str]) -> Split:
    """A hashed JSON split written by ``Split.write``; its suite must match and its tasks must be offered."""
    split = Split.read(path)
    if split.suite != suite:
        raise DataError(f"split file {path} is for suite '{split.suite}', not '{suite}'; pass a split written "
                        f"for '{suite}'")
    lacking = [t for t in split.domains if t not in tasks]
    if lacking:
        raise DataError(f"split file {path} names task(s) {', '.join(lacking)} that suite '{suite}' has no labels "
                        f"for here; it offers: {', '.join(tasks)}")
    return split


def check_split_domains(split: Split, available: dict[str, list[str]], origin: str) -> None:
    """Every domain a split names must exist on disk: a domain is never dropped silently."""
    for task, parts in split.domains.items():
        have = set(available.get(task, []))
        missing = sorted({d for p in SPLIT_PARTS for d in parts[p]} - have)
        if missing:
            raise DataError(f"split {origin} names {len(missing)} domain(s) of task '{task}' that are not on disk "
                            f"under the dataset root: {', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}; "
                            f"add their files or remove them from the split")


def require_nonempty(parts: dict[str, list[str]], suite: str, origin: str) -> None:
    empty = [p for p in SPLIT_PARTS if not parts.get(p)]
    if empty:
        raise DataError(f"suite '{suite}': split {origin} leaves {', '.join(empty)} without domains; "
                        f"add domains on disk or pass a split file that fills every part")
