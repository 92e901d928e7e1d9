"""NYUv2 as preprocessed by MTAN (lorenmt/mtan) and LibMTL: depth and normals; scenes or chunks are domains.

On disk (docs/datasets.md#nyuv2-mtan--libmtl-preprocessing)::

    {root}/{train,val}/image/{i}.npy    (288,384,3) float in [0,1]  (uint8 0..255 accepted)
    {root}/{train,val}/depth/{i}.npy    (288,384,1) metres, 0 = invalid
    {root}/{train,val}/normal/{i}.npy   (288,384,3) unit vectors, all-zero = invalid
    {root}/{train,val}/label/{i}.npy    13-class segmentation (not a benchmark task; unused)

i runs 0..N-1 with N counted from ``image/*.npy``; a missing index is an error.

Domains: the MTAN files carry no scene names. With ``scenes`` (a CSV with
header ``part,index,scene``, e.g. made from the labelled .mat's ``scenes``
field and the official split indices) domains are real scenes; otherwise they
are chunks of ``chunk_size`` consecutive images of one part
(``train/0000-0049``), which in NYUv2's scene-ordered files mostly share a scene.

Normal frame: channel 0 is the horizontal axis (a horizontal flip negates it);
the signs of the axes are not documented, so normals are used as stored times
``normal_signs`` (default (1, 1, 1)); unverified against real files.

Splits: ``"official"`` (default) puts val in meta_test and holds out 10% of the
train domains (at least one, by hash rank) as meta_val; ``"auto"`` partitions
all domains 60/20/20; or a ``.csv``/``.json`` path.
"""

from __future__ import annotations

import csv
import fnmatch
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from domains.catalog import SUITES
from domains.image_io import check_shape, load_npy
from domains.realdata import Decoded, RealSuite, Sample, SampleListing, as_int, as_signs, hold_out
from domains.suite import DataError

PARTS = ("train", "val")
LABEL_FOLDERS = {"depth": "depth", "normals": "normal"}


@SUITES.register("nyuv2", "NYUv2 (MTAN layout): depth and normals, scenes or chunks as domains")
class NYUv2Suite(RealSuite):
    """NYUv2 (MTAN/LibMTL preprocessing, 288x384): depth and surface normals."""


    missing_units = "domain(s) that do not exist"
    missing_fix = "domains are chunks like train/0000-0049, or the scenes of the scenes file; fix the rows"

    def configure(self, scenes: str | os.PathLike[str] | None = None, chunk_size: int = 50,
                  normal_signs: Sequence[float] | str = (1, 1, 1)) -> None:
        self.normal_signs = as_signs("normal_signs", normal_signs)
        self.chunk_size = as_int("chunk_size", chunk_size)
        self.counts = self._count()
        self.scene_file = Path(scenes).expanduser() if scenes else None
        self.domain_members = self._domains()

    def _count(self) -> dict[str, int]:
        counts = {}
        for part in PARTS:
            folder = self.root / part / "image"
            if folder.is_dir():
                counts[part] = len(fnmatch.filter(os.listdir(folder), "*.npy"))
        if not counts:
            raise DataError(f"{self.root}: no MTAN NYUv2 'train/image' or 'val/image' folder; point root at the "
                            f"folder holding train/ and val/ (each with image/, depth/, normal/)")
        for part, n in counts.items():
            if n == 0:
                raise DataError(f"{self.root / part / 'image'}: no *.npy images; re-extract the {part} part")
        return counts

    def _domains(self) -> dict[str, list[tuple[str, int]]]:
        """domain -> [(part, index)], from the scene file or by chunks."""
        members: dict[str, list[tuple[str, int]]] = {}
        if self.scene_file is None:
            for part, n in self.counts.items():
                for start in range(0, n, self.chunk_size):
                    stop = min(n, start + self.chunk_size) - 1
                    members[f"{part}/{start:04d}-{stop:04d}"] = [(part, i) for i in range(start, stop + 1)]
            return members
        try:
            rows = list(csv.DictReader(self.scene_file.read_text().splitlines()))
        except FileNotFoundError:
            raise DataError(f"{self.scene_file}: scenes file does not exist; write a CSV 'part,index,scene' or "
                            f"leave scenes unset to use chunks") from None
        if not rows or not {"part", "index", "scene"} <= set(rows[0]):
            raise DataError(f"{self.scene_file}: scenes file needs a header 'part,index,scene'")
        covered: set[tuple[str, int]] = set()
        for line_no, row in enumerate(rows, start=2):
            part, scene = row["part"].strip(), row["scene"].strip()
            try:
                index = int(row["index"])
            except ValueError:
                raise DataError(f"{self.scene_file}, row {line_no}: index {row['index']!r} is not an integer") from None
            if part not in self.counts or not 0 <= index < self.counts[part]:
                raise DataError(f"{self.scene_file}, row {line_no}: ({part}, {index}) is not an image on disk")
            members.setdefault(scene, []).append((part, index))
            covered.add((part, index))
        for scene, items in members.items():
            if len({p for p, _ in items}) > 1:
                raise DataError(f"{self.scene_file}: scene '{scene}' has images in both train and val; a scene "
                                f"must stay in one part")
        uncovered = [(p, i) for p, n in self.counts.items() for i in range(n) if (p, i) not in covered]
        if uncovered:
            raise DataError(f"{self.scene_file}: {len(uncovered)} image(s) have no scene (first: {uncovered[0][0]} "
                            f"index {uncovered[0][1]}); a domain is never dropped silently, list every image")
        return members

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(t for t, f in LABEL_FOLDERS.items() if any((self.root / p / f).is_dir() for p in self.counts))

    def cache_params(self) -> dict[str, Any]:
        return {"normal_signs": self.normal_signs.tolist()}

    def domains(self, task: str) -> list[str]:
        folder = LABEL_FOLDERS.get(task)
        if folder is None:
            return []
        return sorted(d for d, items in self.domain_members.items()
                      if (self.root / items[0][0] / folder).is_dir())

    def list_samples(self, task: str, domain: str) -> SampleListing:
        items = self.domain_members.get(domain)
        if items is None:
            raise self.unknown_domain(task, domain)
        folder = LABEL_FOLDERS[task]
        samples = []
        for part, i in items:
            label_dir = self.root / part / folder
            if not label_dir.is_dir():
                raise DataError(f"{label_dir}: modality folder '{folder}' of the {part} part is missing; extract it "
                                f"or drop the {task} task")
            samples.append(Sample(f"{part}/{i}", {"image": self.root / part / "image" / f"{i}.npy",
                                                  "label": label_dir / f"{i}.npy"}))
        for sample in samples:
            for path in sample.files.values():
                if not path.is_file():
                    raise DataError(f"{path}: missing; MTAN files are numbered 0..N-1 without gaps (N = "
                                    f"{self.counts[sample.id.split('/')[0]]} images), re-extract the part")
        return SampleListing(samples)

    def decode(self, task: str, sample: Sample) -> Decoded:
        image_path, label_path = sample.files["image"], sample.files["label"]
        image = read_image_npy(image_path)
        h, w = image.shape[:2]
        if task == "depth":
            depth = load_npy(label_path, "NYUv2 depth", kinds="f")
            check_shape(depth, label_path, "NYUv2 depth", (h, w, 1))
            depth = depth[..., 0].astype(np.float32)
            if np.any(depth < 0):
                raise DataError(f"{label_path}: NYUv2 depth has negative values (down to {float(np.nanmin(depth)):g}); "
                                f"expected metres >= 0 with 0 = invalid. Re-export the depth")
            valid = np.isfinite(depth) & (depth > 0)
            return Decoded(image, np.where(valid, depth, 0), valid)
        normals = load_npy(label_path, "NYUv2 normals", kinds="f")
        check_shape(normals, label_path, "NYUv2 normals", (h, w, 3))
        normals = np.nan_to_num(normals.astype(np.float32)) * self.normal_signs
        return Decoded(image, normals, np.linalg.norm(normals, axis=-1) > 1e-6)

    # ---- split -------------------------------------------------------------------------------------
    def split_units(self) -> list[str]:
        return sorted(self.domain_members)

    def official_parts(self, name: str) -> dict[str, list[str]]:
        """val -> meta_test; 10% of the train domains (at least one, by hash rank) -> meta_val."""
        part_of = {d: items[0][0] for d, items in self.domain_members.items()}
        kept, held = hold_out(sorted(d for d, p in part_of.items() if p == "train"), salt="nyuv2-val")
        return {"meta_train": kept, "meta_val": held, "meta_test": sorted(d for d, p in part_of.items() if p == "val")}

    def split_params(self) -> dict[str, Any]:
        return {"domains": "scenes" if self.scene_file else f"chunks of {self.chunk_size}"}

    def unlabelled(self, task: str, lacking: list[str]) -> DataError:
        part = self.domain_members[lacking[0]][0][0]
        return DataError(f"{self.root / part / LABEL_FOLDERS[task]}: modality folder is missing, so "
                         f"{len(lacking)} domain(s) of the split have no {task} labels; extract it")


def read_image_npy(path: Path) -> np.ndarray:
    """HxWx3 float32 in [0, 1] from a float [0, 1] or uint8 array; anything else names its dtype and range.

    A wrong dtype is never rescaled into range: a uint16 image divided by 255
    and clamped is all white, a float image in 0..255 clamped is nearly so.
    """
    image = load_npy(path, "NYUv2 image", kinds="fui")
    check_shape(image, path, "NYUv2 image", (None, None, 3))
    low, high = (float(np.nanmin(image)), float(np.nanmax(image))) if image.size else (0.0, 0.0)
    expected = "expected float32 in [0, 1] (the MTAN format) or uint8 in 0..255"
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if image.dtype.kind in "ui":
        raise DataError(f"{path}: NYUv2 image has dtype {image.dtype} with values {low:g}..{high:g}; {expected}. "
                        f"Convert it (e.g. scale to [0, 1] as float32) instead of relying on a guess")
    if not np.all(np.isfinite(image)) or low < -1e-3 or high > 1.0 + 1e-3:
        shown = "non-finite values" if not np.all(np.isfinite(image)) else f"values {low:g}..{high:g}"
        raise DataError(f"{path}: NYUv2 image has dtype {image.dtype} with {shown}; {expected}. "
                        f"Rescale it to [0, 1]")
    return np.clip(image.astype(np.float32), 0.0, 1.0)

