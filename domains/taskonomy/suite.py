"""The Taskonomy suite: buildings are domains; tasks are whatever label folders are on disk.

Samples of a building are keyed by (point, view) and kept where the rgb file
and the task's label file both exist (as the omnidata loader does); files
without a partner are reported in ``DomainData.skipped``, never dropped
silently.

Splits (option ``split``):
- ``"tiny"`` / ``"medium"``: the official building lists (train -> meta_train,
  val -> meta_val, test -> meta_test). Buildings of the list that are not on
  disk are an error unless ``missing_buildings = "drop"``, which records them
  in the split's params and warns.
- ``"auto"`` (default): the buildings on disk, 60/20/20 by hash rank.
- a ``.csv`` path in the official format, or a ``.json`` split manifest.
Classification classes are split 60/20/20 by a seeded permutation of the
subset's global ids (``class_seed``), so meta-test classes are never seen.

Options beyond those of ``RealSuite``: ``layout`` (auto, A, B, C);
``depth_max_metres`` (the distance the 16-bit depth's full scale stands for:
128, the default, for Taskonomy's 1/512 m steps; Omnidata renders of other
datasets use less, see ``formats.DEPTH_FULL_SCALE``), with a warning once per
domain whose median depth is implausible for an indoor scene;
``classification`` (``scene``: 63 Places classes from ``class_scene``, or
``object``: 100 ImageNet classes from ``class_object``); ``missing_buildings``
(error, drop); ``exclude_omnidata_forbidden`` (drop the 7 buildings omnidata
leaves out); ``class_seed``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from domains.catalog import SUITES
from domains.image_io import image_size_of, read_rgb, resize_scale
from domains.realdata import Decoded, RealSuite, Sample, SampleListing, as_bool, as_int
from domains.suite import DataError, DataWarning, DomainData, Split
from domains.taskonomy import formats
from domains.taskonomy.classes import LABEL_SPACES
from domains.taskonomy.layout import FILE_RE, TaskonomyTree
from domains.taskonomy.official_splits import OFFICIAL, OMNIDATA_FORBIDDEN
from domains.tasks import TASK_NAMES


@SUITES.register("taskonomy", "Taskonomy buildings as domains (layouts A/B/C, official splits)")
class TaskonomySuite(RealSuite):
    """Taskonomy (or Omnidata's taskonomy component, or anything exported in its format)."""


    default_split = "auto"
    official_splits = tuple(OFFICIAL)
    missing_option = "missing_buildings"
    missing_units = "building(s) not on disk"
    missing_fix = "download them"

    def configure(self, layout: str = "auto", classification: str = "scene", exclude_omnidata_forbidden: bool = False,
                  class_seed: int = 0, depth_max_metres: float | str = "taskonomy") -> None:
        self.tree = TaskonomyTree(self.root, layout)
        if classification not in LABEL_SPACES:
            raise DataError(f"taskonomy classification '{classification}' is unknown; use one of "
                            f"{', '.join(LABEL_SPACES)}")
        self.space = LABEL_SPACES[classification]
        self.exclude_forbidden = as_bool("exclude_omnidata_forbidden", exclude_omnidata_forbidden)
        self.class_seed = as_int("class_seed", class_seed, minimum=0)
        self.depth_scale = formats.depth_full_scale(depth_max_metres)
        self.candidates = {"classification": (self.space.folder,), "depth": ("depth_zbuffer",),
                           "normals": ("normal",), "vanishing_point": ("point_info", "points")}
        self.label_folders = self._label_folders()
        self._depth_checked: set[str] = set()

    def _label_folders(self) -> dict[str, tuple[str, ...]]:
        """task -> its label folders that exist for some building (``point_info`` and ``points`` may mix)."""
        found = {}
        for task in TASK_NAMES:
            present = tuple(f for f in self.candidates[task] if self.tree.has_folder(f))
            if present:
                found[task] = present
        return found

    def folder_of(self, task: str, building: str) -> str | None:
        """The building's label folder for ``task`` (the first candidate it has), or None."""
        for folder in self.label_folders.get(task, ()):
            if self.tree.folder(building, folder).is_dir():
                return folder
        return None

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(self.label_folders)

    def no_labels(self, tasks: Sequence[str]) -> DataError:
        looked = ", ".join(f for t in tasks for f in self.candidates[t])
        offers = f"; it offers: {', '.join(self.tasks)}" if self.tasks else ""
        return DataError(f"no label folders found under {self.root} for {', '.join(tasks)} (looked for: {looked}, "
                         f"in layout {self.tree.layout}){offers}; extract the label archives next to rgb/ or remove "
                         f"the task(s) from the spec")

    def require_tasks(self, wanted: list[str] | tuple[str, ...]) -> None:
        lacking = [t for t in wanted if t not in self.tasks and t in self.candidates]
        if lacking:
            raise self.no_labels(lacking)
        super().require_tasks(wanted)

    def cache_params(self) -> dict[str, Any]:
        return {"layout": self.tree.layout, "classes": self.space.kind, "depth_max_metres": self.depth_scale}

    def load(self, task: str, domain: str) -> DomainData:
        data = super().load(task, domain)
        if task == "depth" and domain not in self._depth_checked:
            self._depth_checked.add(domain)
            assert data.mask is not None
            message = formats.implausible_depth(data.targets[data.mask].numpy(), self.depth_scale)
            if message:
                warnings.warn(f"suite 'taskonomy': domain '{domain}' {message}", DataWarning, stacklevel=2)
        return data

    # ---- domains and samples ----------------------------------------------------------------------
    def domains(self, task: str) -> list[str]:
        if task not in self.label_folders:
            return []
        return [b for b in self.tree.buildings() if self.folder_of(task, b) is not None]

    def list_samples(self, task: str, domain: str) -> SampleListing:
        if domain not in self.tree.buildings():
            raise self.unknown_domain(task, domain)
        folder = self.folder_of(task, domain) or self.candidates[task][0]
        rgb = self.tree.files(domain, "rgb")
        labels = self.tree.files(domain, folder)
        if not rgb:
            raise DataError(f"{self.tree.folder(domain, 'rgb')}: building '{domain}' has no rgb images "
                            f"(point_P_view_V_domain_rgb.png); re-extract it or remove it from the split")
        if not labels:
            raise DataError(f"{self.tree.folder(domain, folder)}: building '{domain}' has no {folder} files; "
                            f"re-extract it or remove it from the split")
        keys = sorted(rgb.keys() & labels.keys())
        unmatched = [f"{p}: no matching {folder} file" for k, p in sorted(rgb.items()) if k not in labels]
        unmatched += [f"{p}: no matching rgb image" for k, p in sorted(labels.items()) if k not in rgb]
        samples = [Sample(f"{domain}/point_{p}_view_{v}", {"image": rgb[(p, v)], "label": labels[(p, v)]})
                   for p, v in keys]
        return SampleListing(samples, unmatched)

    def decode(self, task: str, sample: Sample) -> Decoded:
        image = read_rgb(sample.files["image"])
        label = sample.files["label"]
        if task == "classification":
            return Decoded(image, formats.hard_label(label, self.space))
        if task == "vanishing_point":
            return Decoded(image, formats.vanishing_points(label))
        if task == "depth":
            values, mask = formats.decode_depth_zbuffer(label, self.depth_scale)
        else:
            values, mask = formats.decode_normal(label)
        if values.shape[:2] != image.shape[:2]:
            raise DataError(f"{label}: {label.parent.name} is {values.shape[1]}x{values.shape[0]} but its rgb "
                            f"image is {image.shape[1]}x{image.shape[0]}; re-extract the building")
        return Decoded(image, values, mask)

    def focal_px(self, task: str, domain: str) -> np.ndarray:
        """Per-sample focal length in loaded pixels, from each view's ``field_of_view_rads`` (full width).

        f = (W/2) / tan(fov/2) on the original W-pixel image (docs/datasets.md#taskonomy), scaled like the image.
        Used by the preview to draw vanishing points where they are.
        """
        folder = self.folder_of("vanishing_point", domain)
        if folder is None:
            raise DataError(f"taskonomy under {self.root} has no point_info/points folder for building '{domain}', "
                            f"so no field of view")
        out = []
        for sample in self.loaded_samples(task, domain):
            match = FILE_RE.match(sample.files["image"].name)
            assert match is not None
            pose = self.tree.files(domain, folder).get((int(match["point"]), int(match["view"])))
            if pose is None:
                raise DataError(f"{sample.files['image']}: no {folder} JSON for this view, so no field of view")
            info = formats.read_point_info(pose)
            if "field_of_view_rads" not in info:
                raise DataError(f"{pose}: JSON lacks 'field_of_view_rads'; re-extract it")
            h, w = image_size_of(sample.files["image"])
            _, sx = resize_scale((h, w), self.image_size, self.keep_aspect)
            out.append((w / 2) / np.tan(float(info["field_of_view_rads"]) / 2) * sx)
        return np.asarray(out)

    # ---- split ------------------------------------------------------------------------------------
    def make_split(self) -> Split:
        if not self.tasks:
            raise self.no_labels(list(self.candidates))
        return super().make_split()

    def present_units(self) -> list[str]:
        return sorted(set().union(*(self.domains(t) for t in self.tasks)))

    def split_units(self) -> list[str]:
        return [b for b in self.present_units() if not (self.exclude_forbidden and b in OMNIDATA_FORBIDDEN)]

    def official_parts(self, name: str) -> dict[str, list[str]]:
        return {p: list(v) for p, v in OFFICIAL[name].items()}

    def filter_units(self, parts: dict[str, list[str]], params: dict[str, Any]) -> dict[str, list[str]]:
        if not self.exclude_forbidden:
            return parts
        return {p: [b for b in names if b not in OMNIDATA_FORBIDDEN] for p, names in parts.items()}

    def split_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"classification": self.space.kind, "class_seed": self.class_seed}
        if self.exclude_forbidden:
            params["excluded_omnidata_forbidden"] = True
        return params

    def unlabelled(self, task: str, lacking: list[str]) -> DataError:
        folder = self.candidates[task][0]
        named = " or ".join(f"'{f}'" for f in self.candidates[task])
        return DataError(f"{self.tree.folder(lacking[0], folder)}: modality folder {named} is missing "
                         f"for {len(lacking)} building(s) of the split ({', '.join(lacking[:5])}); extract "
                         f"them or remove the buildings from the split")

    def class_split(self) -> tuple[dict[str, list[int]] | None, list[str] | None]:
        if "classification" not in self.tasks:
            return None, None
        return self._class_parts(), list(self.space.names)

    def _class_parts(self) -> dict[str, list[int]]:
        ids = np.random.default_rng(self.class_seed).permutation(len(self.space.indices))
        n = len(ids)
        n_train, n_val = round(0.6 * n), round(0.2 * n)
        cut = {"meta_train": ids[:n_train], "meta_val": ids[n_train:n_train + n_val], "meta_test": ids[n_train + n_val:]}
        return {p: sorted(int(i) for i in v) for p, v in cut.items()}
