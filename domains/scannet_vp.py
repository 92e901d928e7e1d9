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
import zipfile
from pathlib import Path

import numpy as np

from domains.catalog import SUITES
from domains.image_io import PICKLE_REFUSED, image_size_of, is_pickle_refusal, read_rgb, resize_scale
from domains.realdata import Decoded, RealSuite, Sample, SampleListing, hold_out
from domains.suite import SPLIT_PARTS, DataError

LIST_NAMES = {"train": ("scannetv2_train.txt",), "val": ("scannetv2_valid.txt", "scannetv2_val.txt"),
              "test": ("scannetv2_test.txt",)}
IMAGE_SUFFIX, LABEL_SUFFIX = "color.png", "vanish.npz"
FOCAL_HALF_WIDTHS = 2.408333333333333  # config/scannet.yaml focal_length: f / (W/2)


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


@SUITES.register("scannet_vp", "ScanNet-VP (NeurVPS layout) scenes as domains, vanishing points")
class ScanNetVPSuite(RealSuite):
    """ScanNet frames with three Manhattan vanishing directions each (NeurVPS release)."""


    missing_option = "missing_scenes"
    missing_units = "scene folder(s) that are missing"
    missing_fix = "extract them"

    def configure(self) -> None:
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

    # ---- split -------------------------------------------------------------------------------------
    def split_units(self) -> list[str]:
        return sorted({s for names in self.lists.values() for s in names})

    def present_units(self) -> list[str]:
        return self.domains("vanishing_point")

    def official_parts(self, name: str) -> dict[str, list[str]]:
        """The scene lists; without a test list, val -> meta_test and 10% of train -> meta_val."""
        if "test" in self.lists:
            return {"meta_train": self.lists.get("train", []), "meta_val": self.lists.get("val", []),
                    "meta_test": self.lists["test"]}
        kept, held = hold_out(self.lists.get("train", []), salt="scannet_vp-val")
        return {"meta_train": kept, "meta_val": held, "meta_test": self.lists.get("val", [])}

    def domain_parts(self, parts: dict[str, list[str]]) -> dict[str, list[str]]:
        return {p: sorted(parts[p]) for p in SPLIT_PARTS}
