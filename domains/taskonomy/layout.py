"""Finding Taskonomy files in any of the three released directory layouts.

- A, building-first (original tarballs): ``{root}/{building}/{folder}/point_P_view_V_domain_{token}.{ext}``
- B, folder-first (omnidata/XTConsistency): ``{root}/{folder}/{building}/point_...``
- C, omnitools download: ``{root}/{folder}/taskonomy/{building}/point_...``

Files are keyed by (point, view) parsed with the omnidata regex; the domain
token is not trusted to equal the folder name (``class_scene`` files say
``class_places``, ``points`` files say ``fixatedpose``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from domains.suite import DataError

FILE_RE = re.compile(r"^point_(?P<point>\d+)_view_(?P<view>\d+)_domain_(?P<token>\w+)\.(?P<ext>png|npy|json)$")
KNOWN_FOLDERS = ("rgb", "depth_zbuffer", "normal", "class_scene", "class_object", "point_info", "points")
COMPONENT = "taskonomy"
LAYOUTS = ("A", "B", "C")

SampleKey = tuple[int, int]  # (point, view)


def _subdirs(path: Path) -> list[str]:
    try:
        return sorted(e.name for e in os.scandir(path) if e.is_dir() and not e.name.startswith("."))
    except FileNotFoundError:
        return []


def detect_layout(root: Path) -> str:
    """A, B or C from where the ``rgb`` folder sits; a DataError listing the three when none fits."""
    if (root / "rgb").is_dir():
        if any(FILE_RE.match(e.name) for e in os.scandir(root / "rgb") if e.is_file()):
            raise DataError(f"{root}: this is one building's folder (rgb/ holds images directly); point root at "
                            f"the folder that holds the buildings ({root.parent})")
        return "C" if (root / "rgb" / COMPONENT).is_dir() else "B"
    for building in _subdirs(root):
        if (root / building / "rgb").is_dir():
            return "A"
    raise DataError(f"{root}: no Taskonomy 'rgb' folder found in any layout: expected {root}/BUILDING/rgb (A), "
                    f"{root}/rgb/BUILDING (B) or {root}/rgb/taskonomy/BUILDING (C); point root at the extracted data")


class TaskonomyTree:
    """An index of which buildings and modality folders exist; file listing is per (building, folder)."""

    def __init__(self, root: Path, layout: str = "auto"):
        self.root = root
        if layout == "auto":
            layout = detect_layout(root)
        if layout not in LAYOUTS:
            raise DataError(f"unknown Taskonomy layout '{layout}'; use one of auto, A, B, C")
        self.layout = layout

    def folder(self, building: str, folder: str) -> Path:
        if self.layout == "A":
            return self.root / building / folder
        if self.layout == "B":
            return self.root / folder / building
        return self.root / folder / COMPONENT / building

    def buildings(self) -> list[str]:
        """Every building that has at least one known modality folder."""
        found: set[str] = set()
        if self.layout == "A":
            found = {b for b in _subdirs(self.root) if any((self.root / b / f).is_dir() for f in KNOWN_FOLDERS)}
        else:
            for folder in KNOWN_FOLDERS:
                base = self.root / folder / COMPONENT if self.layout == "C" else self.root / folder
                found.update(_subdirs(base))
        return sorted(found)

    def has_folder(self, folder: str) -> bool:
        """True when any building has this modality folder."""
        if self.layout == "A":
            return any((self.root / b / folder).is_dir() for b in _subdirs(self.root))
        base = self.root / folder / COMPONENT if self.layout == "C" else self.root / folder
        return base.is_dir() and bool(_subdirs(base))

    def files(self, building: str, folder: str) -> dict[SampleKey, Path]:
        """(point, view) -> file in one modality folder; a DataError naming the folder when it is missing."""
        path = self.folder(building, folder)
        if not path.is_dir():
            raise DataError(f"{path}: modality folder '{folder}' of building '{building}' is missing; extract "
                            f"{building}_{folder}.tar there (layout {self.layout}) or remove '{building}' from the split")
        out: dict[SampleKey, Path] = {}
        for entry in os.scandir(path):
            match = FILE_RE.match(entry.name)
            if match is None or not entry.is_file():
                continue
            key = (int(match["point"]), int(match["view"]))
            if key in out:
                raise DataError(f"{path}: two files for point {key[0]} view {key[1]} ({out[key].name}, {entry.name}); "
                                f"remove the stray one")
            out[key] = Path(entry.path)
        return out
