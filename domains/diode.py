"""The DIODE suite (diode-dataset/diode-devkit layout): scenes (or scans) are domains.

On disk (docs/datasets.md#diode)::

    {root}/{train|val}/{indoors|outdoor}/scene_XXXXX/scan_YYYYY/XXXXX_YYYYY_{type}_AAA_BBB.png
                                                              ..._depth.npy       (H,W,1) float metres
                                                              ..._depth_mask.npy  (H,W)   1 = valid return
                                                              ..._normal.npy      (H,W,3) unit, (0,0,0) invalid

Normals ship as separate tarballs with the same tree; ``normals_root`` points
at them when they were not extracted into ``root``. The filesystem is globbed
(``diode_meta.json`` may list fewer files than the tarballs hold).

Conventions: depth is valid where the mask is set *and* depth > 0 (the devkit
scores gt > 0). The devkit does not document the normal frame, so normals are
passed through as stored and then multiplied by ``normal_signs`` (default
(1, 1, 1)); this is unverified against real files (see the module's tests).

Splits: ``"official"`` (default) puts the released val scenes (and test/, if present) in meta_test and
holds out 10% (at least one) of the train scenes of each scene type, by hash
rank, as meta_val; ``"auto"`` partitions all scenes 60/20/20 by hash rank;
or a ``.json`` split manifest / ``.csv`` in the Taskonomy split format.
Scans of one scene always stay in one part.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from domains.catalog import SUITES
from domains.image_io import check_shape, load_npy, read_rgb
from domains.realdata import Decoded, RealSuite, Sample, SampleListing, as_list, as_signs, hold_out
from domains.suite import SPLIT_PARTS, DataError

SCENE_TYPES = ("indoors", "outdoor")
OFFICIAL_SPLITS = ("train", "val", "test")  # the devkit also accepts test/, never released
_SCENE_RE = re.compile(r"^scene_\d+$")
_SCAN_RE = re.compile(r"^scan_\d+$")


@dataclass(frozen=True)
class DiodeImage:
    official: str  # train | val
    scene_type: str
    scene: str
    scan: str
    png: Path
    depth: Path | None
    depth_mask: Path | None
    normal: Path | None

    @property
    def stem(self) -> str:
        return self.png.name[: -len(".png")]


def _dirs(path: Path, pattern: re.Pattern[str]) -> list[str]:
    try:
        return sorted(e.name for e in os.scandir(path) if e.is_dir() and pattern.match(e.name))
    except FileNotFoundError:
        return []


def _names(path: Path) -> set[str]:
    try:
        return {e.name for e in os.scandir(path)}
    except FileNotFoundError:
        return set()


@SUITES.register("diode", "DIODE indoor/outdoor scenes as domains (depth + masks, normals)")
class DiodeSuite(RealSuite):
    """DIODE indoor and outdoor RGB-D scans with depth masks and normals."""


    missing_units = "name(s) that are not a DIODE scene or scan under the root"
    missing_fix = "fix the rows or extract the scenes"

    def configure(self, domain_level: str = "scene", scene_types: Sequence[str] | str = SCENE_TYPES,
                  normals_root: str | os.PathLike[str] | None = None,
                  normal_signs: Sequence[float] | str = (1, 1, 1)) -> None:
        if domain_level not in ("scene", "scan"):
            raise DataError(f"diode domain_level '{domain_level}' is unknown; use 'scene' or 'scan'")
        scene_types = as_list(scene_types)
        bad = [t for t in scene_types if t not in SCENE_TYPES]
        if bad or not scene_types:
            raise DataError(f"diode scene_types {list(scene_types)} must be a non-empty subset of {list(SCENE_TYPES)}")
        self.domain_level = domain_level
        self.scene_types = tuple(scene_types)
        self.normals_root = Path(normals_root).expanduser() if normals_root else self.root
        if not self.normals_root.is_dir():
            raise DataError(f"{self.normals_root}: normals_root does not exist; point it at the extracted "
                            f"*_normals.tar.gz tree or leave it unset")
        self.normal_signs = as_signs("normal_signs", normal_signs)
        present = [s for s in OFFICIAL_SPLITS if (self.root / s).is_dir()]
        if not present:
            raise DataError(f"{self.root}: no DIODE 'train' or 'val' folder; point root at the folder that holds "
                            f"train/ and val/ (from train.tar.gz / val.tar.gz)")
        self._index: dict[str, list[DiodeImage]] | None = None

    # ---- index -----------------------------------------------------------------------------------
    def index(self) -> dict[str, list[DiodeImage]]:
        """domain -> its images, from one walk of the tree."""
        if self._index is None:
            index: dict[str, list[DiodeImage]] = {}
            for official in OFFICIAL_SPLITS:
                for scene_type in self.scene_types:
                    base = self.root / official / scene_type
                    for scene in _dirs(base, _SCENE_RE):
                        for scan in _dirs(base / scene, _SCAN_RE):
                            folder = base / scene / scan
                            names = _names(folder)
                            normal_names = _names(self.normals_root / official / scene_type / scene / scan)
                            domain = scene if self.domain_level == "scene" else f"{scene}/{scan}"
                            images = index.setdefault(domain, [])
                            if images and images[0].official != official:
                                raise DataError(f"{folder}: {scene} appears under both {images[0].official}/ "
                                                f"and {official}/; keep one copy")
                            for png in sorted(n for n in names if n.endswith(".png")):
                                stem = png[:-4]
                                images.append(DiodeImage(
                                    official, scene_type, scene, scan, folder / png,
                                    folder / f"{stem}_depth.npy" if f"{stem}_depth.npy" in names else None,
                                    folder / f"{stem}_depth_mask.npy" if f"{stem}_depth_mask.npy" in names else None,
                                    (self.normals_root / official / scene_type / scene / scan / f"{stem}_normal.npy")
                                    if f"{stem}_normal.npy" in normal_names else None))
            self._index = index
        return self._index

    @property
    def tasks(self) -> tuple[str, ...]:
        images = [im for ims in self.index().values() for im in ims]
        offered = []
        if any(im.depth is not None for im in images):
            offered.append("depth")
        if any(im.normal is not None for im in images):
            offered.append("normals")
        return tuple(offered)

    def cache_params(self) -> dict[str, Any]:
        return {"normal_signs": self.normal_signs.tolist(), "normals_root": str(self.normals_root)}

    def _has_label(self, task: str, im: DiodeImage) -> bool:
        return im.depth is not None if task == "depth" else im.normal is not None

    def domains(self, task: str) -> list[str]:
        return sorted(d for d, ims in self.index().items() if any(self._has_label(task, im) for im in ims))

    def list_samples(self, task: str, domain: str) -> SampleListing:
        images = self.index().get(domain)
        if images is None:
            raise self.unknown_domain(task, domain)
        samples, unmatched = [], []
        for im in images:
            if not self._has_label(task, im):
                wanted = f"{im.stem}_depth.npy" if task == "depth" else f"{im.stem}_normal.npy"
                unmatched.append(f"{im.png}: no matching {wanted}")
                continue
            files = {"image": im.png}
            if task == "depth":
                assert im.depth is not None
                files["depth"] = im.depth
                if im.depth_mask is not None:  # absent: decode() names the missing file
                    files["mask"] = im.depth_mask
            else:
                assert im.normal is not None
                files["normal"] = im.normal
            samples.append(Sample(f"{domain}/{im.stem}", files))
        if not samples and images:
            raise DataError(f"{images[0].png.parent}: domain '{domain}' has images but no "
                            f"{'*_depth.npy' if task == 'depth' else '*_normal.npy'} files; extract them or drop the "
                            f"domain from the split")
        return SampleListing(samples, unmatched)

    def decode(self, task: str, sample: Sample) -> Decoded:
        image = read_rgb(sample.files["image"])
        h, w = image.shape[:2]
        if task == "depth":
            path = sample.files["depth"]
            depth = load_npy(path, "DIODE depth", kinds="f")
            depth = depth[..., 0] if depth.ndim == 3 else depth
            check_shape(depth, path, "DIODE depth", (h, w))
            mask_path = sample.files.get("mask", path.with_name(path.name.replace("_depth.npy", "_depth_mask.npy")))
            if not mask_path.exists():
                raise DataError(f"{mask_path}: depth mask is missing (every *_depth.npy has a *_depth_mask.npy); "
                                f"re-extract the scan")
            mask = load_npy(mask_path, "DIODE depth mask", kinds="fuib")
            mask = mask[..., 0] if mask.ndim == 3 else mask
            check_shape(mask, mask_path, "DIODE depth mask", (h, w))
            valid = (mask > 0.5) & np.isfinite(depth) & (depth > 0)
            return Decoded(image, np.where(valid, depth, 0).astype(np.float32), valid)
        path = sample.files["normal"]
        normals = load_npy(path, "DIODE normals", kinds="f")
        check_shape(normals, path, "DIODE normals", (h, w, 3))
        finite = np.all(np.isfinite(normals), axis=-1)
        normals = np.where(finite[..., None], normals, 0).astype(np.float32) * self.normal_signs
        valid = finite & (np.linalg.norm(normals, axis=-1) > 1e-6)
        return Decoded(image, normals, valid)

    # ---- split -------------------------------------------------------------------------------------
    def _scene_of(self, domain: str) -> str:
        return domain.split("/")[0]

    def _scene_info(self) -> dict[str, tuple[str, str]]:
        """scene -> (official part, scene type)."""
        return {self._scene_of(d): (ims[0].official, ims[0].scene_type) for d, ims in self.index().items() if ims}

    def split_units(self) -> list[str]:
        return sorted(self._scene_info())

    def present_units(self) -> list[str]:
        return sorted(set(self._scene_info()) | set(self.index()))  # a CSV may name scenes or scans

    def official_parts(self, name: str) -> dict[str, list[str]]:
        """Released val (and test) scenes -> meta_test; 10% of each scene type's train scenes -> meta_val."""
        scene_info = self._scene_info()
        parts: dict[str, list[str]] = {p: [] for p in SPLIT_PARTS}
        for scene_type in self.scene_types:
            train = [s for s, (o, t) in scene_info.items() if o == "train" and t == scene_type]
            kept, held = hold_out(train, salt=f"diode-{scene_type}")
            parts["meta_train"] += kept
            parts["meta_val"] += held
        parts["meta_test"] = [s for s, (o, _) in scene_info.items() if o in ("val", "test")]
        return parts

    def domain_parts(self, parts: dict[str, list[str]]) -> dict[str, list[str]]:
        """Scenes (or scans) -> the domains of each part: scans of one scene always stay in one part."""
        unit_part = {u: p for p, names in parts.items() for u in names}
        return {p: sorted(d for d in self.index() if unit_part.get(d, unit_part.get(self._scene_of(d))) == p)
                for p in SPLIT_PARTS}

    def split_params(self) -> dict[str, Any]:
        return {"domain_level": self.domain_level, "scene_types": list(self.scene_types)}

    def unlabelled(self, task: str, lacking: list[str]) -> DataError:
        hint = "extract the *_normals.tar.gz tarballs (or set normals_root)" if task == "normals" else \
            "re-extract their *_depth.npy files"
        return DataError(f"{self.root}: {len(lacking)} DIODE domain(s) of the split have no {task} labels "
                         f"({', '.join(lacking[:5])}); {hint}")
