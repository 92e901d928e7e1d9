"""Furniture archetypes and the classification classes built from them.

A class is an (archetype, colour) pair, e.g. "red bed": the shape is a
silhouette a person recognises at 32x32 and the colour is one of four well
separated saturated hues, while every environment draws walls and background
furniture from desaturated palettes. That is what makes the class visible in
the image whatever the environment, and what lets meta-test classes be
genuinely new combinations never seen in meta-training.

Shapes are unions of axis-aligned boxes and spheres so that every scene stays
Manhattan (the vanishing-direction labels are exact).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# (name, hue in [0, 1), texture family of its material)
COLOURS: tuple[tuple[str, float, str], ...] = (
    ("red", 0.0, "plain"),
    ("yellow", 0.15, "stripes"),
    ("green", 0.36, "checker"),
    ("blue", 0.61, "plain"),
)

ARCHETYPES: tuple[str, ...] = (
    "cube", "cabinet", "table", "bed", "ball", "floor lamp", "snowman", "pillar",
    "stairs", "arch", "chair", "sofa", "shelf", "hanging globe", "twin towers", "ball pyramid",
)

# background furniture drawn by environments (desaturated, against the walls)
BACKGROUND: tuple[str, ...] = ("cabinet", "cube", "table", "shelf", "ball", "sofa")

CLASS_NAMES: tuple[str, ...] = tuple(f"{c[0]} {a}" for a in ARCHETYPES for c in COLOURS)
N_CLASSES = len(CLASS_NAMES)


def class_parts(class_id: int) -> tuple[str, int]:
    """(archetype name, colour index) of a global class id."""
    if not 0 <= class_id < N_CLASSES:
        raise ValueError(f"class id {class_id} is outside 0..{N_CLASSES - 1}")
    return ARCHETYPES[class_id // len(COLOURS)], class_id % len(COLOURS)


@dataclass
class Shape:
    """Boxes (K,2,3: lo, hi) and spheres (M,4: centre, radius) in world coordinates."""

    boxes: np.ndarray
    spheres: np.ndarray

    def footprint(self) -> tuple[np.ndarray, np.ndarray]:
        """xy bounding rectangle (lo, hi) of all parts."""
        los, his = [], []
        if len(self.boxes):
            los.append(self.boxes[:, 0, :2].min(0))
            his.append(self.boxes[:, 1, :2].max(0))
        if len(self.spheres):
            los.append((self.spheres[:, :2] - self.spheres[:, 3:]).min(0))
            his.append((self.spheres[:, :2] + self.spheres[:, 3:]).max(0))
        return np.min(los, axis=0), np.max(his, axis=0)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """3-D bounding box (lo, hi)."""
        los, his = [], []
        if len(self.boxes):
            los.append(self.boxes[:, 0].min(0))
            his.append(self.boxes[:, 1].max(0))
        if len(self.spheres):
            los.append((self.spheres[:, :3] - self.spheres[:, 3:]).min(0))
            his.append((self.spheres[:, :3] + self.spheres[:, 3:]).max(0))
        return np.min(los, axis=0), np.max(his, axis=0)


def _b(x0: float, x1: float, y0: float, y1: float, z0: float, z1: float) -> list[list[float]]:
    return [[x0, y0, z0], [x1, y1, z1]]


def _local_parts(name: str, room_h: float) -> tuple[list, list]:
    """Boxes and spheres in the object's frame (x width, y depth, z up; centred on the floor at 0,0)."""
    boxes: list = []
    spheres: list = []
    if name == "cube":
        boxes.append(_b(-.4, .4, -.4, .4, 0, .8))
    elif name == "cabinet":
        boxes.append(_b(-.35, .35, -.3, .3, 0, 1.9))
    elif name == "table":
        boxes.append(_b(-.7, .7, -.45, .45, .68, .8))
        for sx in (-1, 1):
            for sy in (-1, 1):
                boxes.append(_b(sx * .62 - .05, sx * .62 + .05, sy * .37 - .05, sy * .37 + .05, 0, .68))
    elif name == "bed":
        boxes.append(_b(-.75, .75, -1.0, 1.0, 0, .45))
        boxes.append(_b(-.75, .75, .88, 1.0, .45, 1.1))
    elif name == "ball":
        spheres.append([0, 0, .45, .45])
    elif name == "floor lamp":
        boxes.append(_b(-.22, .22, -.22, .22, 0, .06))
        boxes.append(_b(-.05, .05, -.05, .05, .06, 1.45))
        spheres.append([0, 0, 1.62, .24])
    elif name == "snowman":
        spheres += [[0, 0, .36, .36], [0, 0, .94, .26], [0, 0, 1.36, .17]]
    elif name == "pillar":
        boxes.append(_b(-.22, .22, -.22, .22, 0, room_h))
    elif name == "stairs":
        for i in range(3):
            boxes.append(_b(-.6, .6, -.6 + .4 * i, .6, 0, .35 * (i + 1)))
    elif name == "arch":
        boxes.append(_b(-.8, -.55, -.12, .12, 0, 1.8))
        boxes.append(_b(.55, .8, -.12, .12, 0, 1.8))
        boxes.append(_b(-.8, .8, -.12, .12, 1.8, 2.05))
    elif name == "chair":
        boxes.append(_b(-.3, .3, -.3, .3, .42, .52))
        for sx in (-1, 1):
            for sy in (-1, 1):
                boxes.append(_b(sx * .25 - .04, sx * .25 + .04, sy * .25 - .04, sy * .25 + .04, 0, .42))
        boxes.append(_b(-.3, .3, .22, .3, .52, 1.15))
    elif name == "sofa":
        boxes.append(_b(-.95, .95, -.42, .42, 0, .45))
        boxes.append(_b(-.95, .95, .22, .42, .45, .9))
        boxes.append(_b(-.95, -.75, -.42, .22, .45, .66))
        boxes.append(_b(.75, .95, -.42, .22, .45, .66))
    elif name == "shelf":
        boxes.append(_b(-.55, -.48, -.2, .2, 0, 1.7))
        boxes.append(_b(.48, .55, -.2, .2, 0, 1.7))
        for z in (.1, .6, 1.1, 1.62):
            boxes.append(_b(-.48, .48, -.2, .2, z, z + .07))
    elif name == "hanging globe":
        spheres.append([0, 0, room_h - .85, .34])
        boxes.append(_b(-.03, .03, -.03, .03, room_h - .55, room_h))
    elif name == "twin towers":
        boxes.append(_b(-.5, -.15, -.17, .17, 0, 1.75))
        boxes.append(_b(.15, .5, -.17, .17, 0, 1.75))
    elif name == "ball pyramid":
        spheres += [[-.27, -.16, .26, .26], [.27, -.16, .26, .26], [0, .31, .26, .26], [0, 0, .66, .23]]
    else:
        raise ValueError(f"unknown archetype '{name}'; known: {', '.join(ARCHETYPES)}")
    return boxes, spheres


def place(name: str, room_h: float, xy: np.ndarray, quarter_turns: int, scale: float) -> Shape:
    """The archetype in world coordinates: scaled about its floor centre, turned by 90-degree steps, moved to xy.

    Quarter turns keep boxes axis-aligned (the room stays Manhattan). Parts anchored
    to the ceiling (pillar, hanging globe) keep their ceiling contact.
    """
    boxes, spheres = _local_parts(name, room_h)
    anchored_top = name in ("pillar", "hanging globe")
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 2, 3)
    s = np.asarray(spheres, dtype=np.float64).reshape(-1, 4)
    if anchored_top:
        b = b.copy()
        b[:, :, :2] *= scale
        s = s.copy()
        s[:, :2] *= scale
        s[:, 3] *= scale
    else:
        b = b * scale
        s = s * scale
    k = quarter_turns % 4
    for _ in range(k):  # (x, y) -> (-y, x)
        if len(b):
            x0, x1 = b[:, 0, 0].copy(), b[:, 1, 0].copy()
            b[:, 0, 0], b[:, 1, 0] = -b[:, 1, 1], -b[:, 0, 1]
            b[:, 0, 1], b[:, 1, 1] = x0, x1
        if len(s):
            s[:, 0], s[:, 1] = -s[:, 1].copy(), s[:, 0].copy()
    b[:, :, 0] += xy[0]
    b[:, :, 1] += xy[1]
    s[:, 0] += xy[0]
    s[:, 1] += xy[1]
    if anchored_top:
        b[:, 1, 2] = np.minimum(b[:, 1, 2], room_h)
    return Shape(b, s)
