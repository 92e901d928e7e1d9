"""The ScanNet-VP suite in the NeurVPS layout (zhou13/neurvps ``ScanNetDataset``): scenes are domains.

On disk (docs/datasets.md#scannet-vp-neurvps-layout)::

    {root}/scannetv2_{train,valid,val,test}.txt   scene directory names, one per line
    {root}/{scene}/...color.png                     RGB frames
    {root}/{scene}/...vanish.npz                    same name, color.png -> vanish.npz; keys x, y, z (3-vectors)

Frame: NeurVPS negates y after loading and then projects with
u = w0/w2*f*256 + 256, v = -w1/w2*f*256 + 256, so its working frame is
(x right, y up, z forward) and the *stored* vectors are (x right, y down,
z forward): exactly the benchmark's OpenCV frame. The loader therefore uses the
stored vectors unchanged (normalised); the rows are unordered Manhattan
directions, scored sign- and order-invariantly.

Splits: with a ``scannetv2_test.txt`` the lists map to meta_train / meta_val /
meta_test directly; otherwise (the NeurVPS release: train + valid) the valid
list is meta_test and 10% of the train scenes (at least one, by hash rank)
are meta_val. ``"auto"`` partitions all listed scenes 60/20/20; a ``.csv``/``.json``
path gives a custom split.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from domains.image_io import PICKLE_REFUSED, image_size_of, is_pickle_refusal, read_rgb, resize_scale
from domains.realdata import (
    Decoded,
    RealSuite,
    Sample,
    SampleListing,
    check_split_domains,
    hash_partition,
    hold_out,
    is_path_option,
    read_split_csv,
    read_split_manifest,
    require_nonempty,
)
from domains.suite import SPLIT_PARTS, SUITES, DataError, DataWarning, Split

LIST_NAMES = {"train": ("scannetv2_train.txt",), "val": ("scannetv2_valid.txt", "scannetv2_val.txt"),
              "test": ("scannetv2_test.txt",)}
IMAGE_SUFFIX, LABEL_SUFFIX = "color.png", "vanish.npz"
FOCAL_HALF_WIDTHS = 2.408333333333333  # config/scannet.yaml focal_length: f / (W/2)
SPLIT_VERSION = 1


def read_scene_list(path: Path) -> list[str]:
    """Scene names, one per line (``np.genfromtxt(dtype=str)`` semantics: whitespace-separated tokens)."""
    return [token for line in path.read_text().splitlines() for token in line.split()]


def read_vanish_npz(path: Path) -> np.ndarray:
    """3x3 rows x, y, z as stored (OpenCV frame), unit length."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in "xyz" if k not in npz.files]
            if missing:
                raise DataError(f"{path}: vanish.npz lacks key(s) {', '.join(missing)} (expected x, y, z); "
                                f"re-extract it, or set skip_unreadable = true")
            values = {k: np.asarray(npz[k]) for k in "xyz"}
        wrong = {k: v for k, v in values.items() if v.dtype.kind not in "fiu" or v.size != 3}
        if wrong:
            k, v = next(iter(wrong.items()))
            raise DataError(f"{path}: vanish.npz key '{k}' holds {v.size} value(s) of dtype {v.dtype}, expected a "
                            f"3-vector of numbers (x, y, z directions); re-extract it, or set skip_unreadable = true")
        rows = np.stack([values[k].astype(np.float64).reshape(-1) for k in "xyz"])
    except DataError:
        raise  # already says what is wrong with the file (DataError is a ValueError: keep it unwrapped)
    except FileNotFoundError:
        raise DataError(f"{path}: file does not exist; every *color.png needs its *vanish.npz") from None
    except ValueError as err:
        if is_pickle_refusal(err):
            raise DataError(f"{path}: vanish.npz holds a pickled object array: {PICKLE_REFUSED}") from None
        raise DataError(f"{path}: cannot read vanish.npz ({err}); the file is truncated or corrupt, re-extract "
                        f"it or set skip_unreadable = true") from None
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(f"{path}: cannot read vanish.npz ({err}); the file is truncated or corrupt, re-extract "
                        f"it or set skip_unreadable = true") from None
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    if not np.all(np.isfinite(rows)) or np.any(norms < 1e-9):
        raise DataError(f"{path}: a vanishing direction is zero or not finite; re-extract the file")
    return rows / norms


class ScanNetVPSuite(RealSuite):
    """ScanNet frames with three Manhattan vanishing directions each (NeurVPS release)."""

    name = "scannet_vp"
    loader_version = 1

    def __init__(self, root: str | os.PathLike[str] | None = None, image_size: int | Sequence[int] = 64,
                 split: str | os.PathLike[str] | None = "official",
                 cache_dir: str | os.PathLike[str] | bool | None = None, skip_unreadable: bool = False,
                 missing_scenes: str = "error", keep_aspect: bool = True, progress: bool | None = None,
                 workers: int | None = None, max_per_domain: int | None = None):
        super().__init__(root, image_size, split, cache_dir, skip_unreadable, keep_aspect, progress, workers,
                         max_per_domain)
        if missing_scenes not in ("error", "drop"):
            raise DataError(f"scannet_vp missing_scenes '{missing_scenes}' is unknown; use 'error' or 'drop'")
        self.missing_scenes = missing_scenes
        self.lists = self._read_lists()

    def _read_lists(self) -> dict[str, list[str]]:
        lists: dict[str, list[str]] = {}
        for part, names in LIST_NAMES.items():
            for name in names:
                if (self.root / name).is_file():
                    lists[part] = read_scene_list(self.root / name)
                    break
        if "train" not in lists and "val" not in lists:
            raise DataError(f"{self.root}: no scannetv2_train.txt or scannetv2_valid.txt; point root at the "
                            f"NeurVPS scannet-vp folder (data/scannet-vp)")
        return lists

    @property
    def tasks(self) -> tuple[str, ...]:
        return ("vanishing_point",)

    def domains(self, task: str) -> list[str]:
        listed = sorted({s for names in self.lists.values() for s in names})
        return [s for s in listed if (self.root / s).is_dir()]

    def list_samples(self, task: str, domain: str) -> SampleListing:
        folder = self.root / domain
        if not folder.is_dir():
            if domain in {s for names in self.lists.values() for s in names}:
                raise DataError(f"{folder}: scene '{domain}' is listed but its folder is missing; extract it or "
                                f"remove it from the split")
            raise self.unknown_domain(task, domain)
        names = sorted(e.name for e in os.scandir(folder) if e.is_file())
        present = set(names)
        samples, unmatched = [], []
        for name in names:
            if not name.endswith(IMAGE_SUFFIX):
                continue
            label = name[: -len(IMAGE_SUFFIX)] + LABEL_SUFFIX
            if label not in present:
                unmatched.append(f"{folder / name}: no matching {label}")
                continue
            samples.append(Sample(f"{domain}/{name}", {"image": folder / name, "label": folder / label}))
        if not samples:
            raise DataError(f"{folder}: scene '{domain}' has no *{IMAGE_SUFFIX} frames with a *{LABEL_SUFFIX}; "
                            f"re-extract it or remove it from the split")
        return SampleListing(samples, unmatched)

    def decode(self, task: str, sample: Sample) -> Decoded:
        return Decoded(read_rgb(sample.files["image"]), read_vanish_npz(sample.files["label"]))

    def focal_px(self, task: str, domain: str) -> np.ndarray:
        """Per-sample focal length in loaded pixels: NeurVPS's 2.4083 half-widths, scaled like the image."""
        out = []
        for sample in self.loaded_samples(task, domain):
            h, w = image_size_of(sample.files["image"])
            _, sx = resize_scale((h, w), self.image_size, self.keep_aspect)
            out.append(FOCAL_HALF_WIDTHS * w / 2 * sx)
        return np.asarray(out)

    def make_split(self) -> Split:
        option = self.split_option if self.split_option not in (None, "") else "official"
        available = {"vanishing_point": self.domains("vanishing_point")}
        if is_path_option(option) and str(option).endswith(".json"):
            split = read_split_manifest(Path(option), self.name, self.tasks)
            check_split_domains(split, available, str(option))
            return split
        listed = sorted({s for names in self.lists.values() for s in names})
        if option == "official":
            if "test" in self.lists:
                parts = {"meta_train": self.lists.get("train", []), "meta_val": self.lists.get("val", []),
                         "meta_test": self.lists["test"]}
            else:
                kept, held = hold_out(self.lists.get("train", []), salt="scannet_vp-val")
                parts = {"meta_train": kept, "meta_val": held, "meta_test": self.lists.get("val", [])}
        elif option == "auto":
            parts = hash_partition(listed, "scannet_vp-auto")
        elif is_path_option(option):
            parts = read_split_csv(Path(option))
        else:
            raise DataError(f"scannet_vp split '{option}' is unknown; use official, auto, a .csv or a .json manifest")
        have = set(available["vanishing_point"])
        missing = sorted({s for names in parts.values() for s in names} - have)
        params: dict[str, Any] = {"split": str(option)}
        if missing and self.missing_scenes == "error":
            raise DataError(f"{self.root}: split '{option}' names {len(missing)} scene folder(s) that are missing "
                            f"({', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}); extract them or set "
                            f"missing_scenes = \"drop\"")
        if missing:
            warnings.warn(f"scannet_vp split '{option}': dropping {len(missing)} scene(s) whose folder is missing: "
                          f"{', '.join(missing)}", DataWarning, stacklevel=3)
            params["dropped_scenes"] = missing
        parts = {p: sorted(s for s in parts[p] if s in have) for p in SPLIT_PARTS}
        require_nonempty(parts, self.name, str(option))
        return Split(self.name, SPLIT_VERSION, {"vanishing_point": parts}, None, None, params)


def make_scannet_vp(**options: Any) -> ScanNetVPSuite:
    """ScanNet-VP (NeurVPS layout): scenes as domains, three vanishing directions per frame."""
    return ScanNetVPSuite(**options)


if "scannet_vp" not in SUITES:
    SUITES.add("scannet_vp", make_scannet_vp, "ScanNet-VP (NeurVPS layout) scenes as domains, vanishing points")
