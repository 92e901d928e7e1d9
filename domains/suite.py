"""What a suite (SynthRooms, Taskonomy, DIODE, ...) must provide, and the split file.

A suite turns a dataset into per-(task, domain) tensors; the episode sampler
(``domains.episodes``) does the rest, identically for every suite. Keeping the
contract this narrow is what lets one loader file add a real dataset.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from domains.tasks import TASKS

SPLIT_PARTS: tuple[str, ...] = ("meta_train", "meta_val", "meta_test")
SPLIT_SCHEMA = "mtml-bench/split/1"


class DataError(ValueError):
    """Bad or missing data on disk; the message names the file and the fix."""


class DataWarning(UserWarning):
    """Data a run can go on with but the user must hear about (skipped samples, dropped domains, units).

    Printed as one line, ``warning: <message>``: Python's default format adds
    the file and line that raised it and echoes that source line underneath,
    which is noise to someone reading about their dataset. Filters and
    ``pytest.warns`` see an ordinary ``UserWarning`` subclass.
    """


_plain_format = warnings.formatwarning


def _format_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                    line: str | None = None) -> str:
    if isinstance(category, type) and issubclass(category, DataWarning):
        return f"warning: {' '.join(str(message).split())}\n"
    return _plain_format(message, category, filename, lineno, line)


warnings.formatwarning = _format_warning


@dataclass
class DomainData:
    """All samples of one (task, domain), decoded and resized.

    images: N3HW float32 in [0, 1].
    targets: classification -> N int64 global class ids; depth -> N1HW float32 metres;
             normals -> N3HW float32 unit (camera frame); vanishing_point -> N33 float32 unit rows.
    mask: N1HW bool for dense tasks (valid pixels), else None.
    """

    task: str
    domain: str
    images: torch.Tensor
    targets: torch.Tensor
    mask: torch.Tensor | None = None
    skipped: list[str] = field(default_factory=list)  # files skipped by option, reported, never silent

    def __len__(self) -> int:
        return int(self.images.shape[0])


@dataclass(frozen=True)
class Split:
    """Which domains (and classes) are meta-train / meta-val / meta-test; hashed so results can cite it."""

    suite: str
    version: int
    domains: dict[str, dict[str, list[str]]]  # task -> part -> domain ids
    classes: dict[str, list[int]] | None = None  # part -> global class ids (classification)
    class_names: list[str] | None = None
    params: dict[str, Any] = field(default_factory=dict)  # generator/profile parameters it depends on

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "schema": SPLIT_SCHEMA,
            "suite": self.suite,
            "version": self.version,
            "params": self.params,
            "domains": {t: {p: list(self.domains[t][p]) for p in SPLIT_PARTS} for t in sorted(self.domains)},
            "classes": None if self.classes is None else {p: list(self.classes[p]) for p in SPLIT_PARTS},
            "class_names": self.class_names,
        }

    @property
    def sha256(self) -> str:
        canonical = json.dumps(self.to_json_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def tasks(self) -> tuple[str, ...]:
        return tuple(t for t in TASKS.names() if t in self.domains)

    def validate(self) -> None:
        """Disjointness and completeness; raises DataError naming the overlap."""
        for task, parts in self.domains.items():
            if task not in TASKS:
                raise DataError(f"split for suite '{self.suite}' names unknown task '{task}'")
            missing = [p for p in SPLIT_PARTS if p not in parts]
            if missing:
                raise DataError(f"split for task '{task}' lacks part(s) {missing}")
            for i, a in enumerate(SPLIT_PARTS):
                for b in SPLIT_PARTS[i + 1:]:
                    both = set(parts[a]) & set(parts[b])
                    if both:
                        raise DataError(f"split for task '{task}': domains {sorted(both)[:5]} are in both {a} and {b}")
        if self.classes is not None:
            for i, a in enumerate(SPLIT_PARTS):
                for b in SPLIT_PARTS[i + 1:]:
                    both = set(self.classes[a]) & set(self.classes[b])
                    if both:
                        raise DataError(f"split classes {sorted(both)[:5]} are in both {a} and {b}")

    def write(self, path: Path) -> str:
        """Write the manifest with its sha256; returns the hash."""
        payload = self.to_json_dict() | {"sha256": self.sha256}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
        return self.sha256

    @classmethod
    def read(cls, path: Path) -> Split:
        """Read and verify a manifest: a hash mismatch means the file was edited by hand."""
        try:
            raw = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise DataError(f"split file {path} does not exist; write one with 'mtml-bench split SUITE --out {path}'") from None
        except json.JSONDecodeError as err:
            raise DataError(f"split file {path} is not valid JSON ({err}); regenerate it with 'mtml-bench split'") from None
        if raw.get("schema") != SPLIT_SCHEMA:
            raise DataError(f"split file {path} has schema {raw.get('schema')!r}, expected {SPLIT_SCHEMA!r}")
        split = cls(suite=raw["suite"], version=raw["version"], domains=raw["domains"],
                    classes=raw.get("classes"), class_names=raw.get("class_names"), params=raw.get("params", {}))
        if raw.get("sha256") != split.sha256:
            raise DataError(f"split file {path}: recorded sha256 {str(raw.get('sha256'))[:12]}... does not match its "
                            f"content ({split.sha256[:12]}...); it was edited. Regenerate it with 'mtml-bench split'.")
        split.validate()
        return split


class Suite(ABC):
    """A family of domains with labels for the tasks it offers."""

    name: str = ""  # set by the registry (``@SUITES.register("name", ...)`` in ``domains.catalog``)

    @classmethod
    def from_options(cls, **options: Any) -> Suite:
        """The suite from the spec's [suite] options (command-line values may arrive as strings)."""
        return cls(**options)

    @property
    @abstractmethod
    def tasks(self) -> tuple[str, ...]:
        """Tasks this suite has labels for (a subset of TASK_NAMES)."""

    @abstractmethod
    def split(self) -> Split:
        """The suite's default split (or the one it was constructed with)."""

    @abstractmethod
    def load(self, task: str, domain: str) -> DomainData:
        """All samples of one (task, domain). May be cached; must be deterministic."""

    def class_names(self) -> list[str] | None:
        return self.split().class_names

    def require_tasks(self, wanted: list[str] | tuple[str, ...]) -> None:
        lacking = [t for t in wanted if t not in self.tasks]
        if lacking:
            raise DataError(f"suite '{self.name}' has no labels for task(s) {', '.join(lacking)}; "
                            f"it offers: {', '.join(self.tasks)}. Remove them from the spec's tasks.")

