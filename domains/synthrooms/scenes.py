"""Scene composition: one environment style + one image seed -> a ``Scene`` to ray-cast.

Two kinds of image exist per environment:
- ``geometric`` views (depth, normals, vanishing points): a camera placed
  inside the room (yaw toward the far half, pitch ~ N(0, 8 deg)), looking at a room with background furniture and one
  class object;
- ``class`` views (classification): the camera frames the class object so
  that it fills roughly half the image, from a random side and distance.

Every random draw comes from the image's own generator, seeded by
(root seed, environment, kind, index), so any image can be regenerated alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from domains.synthrooms.archetypes import BACKGROUND, COLOURS, Shape, class_parts, place
from domains.synthrooms.renderer import Scene, look_rotation
from domains.synthrooms.styles import TEXTURES, EnvStyle, hsv

KIND_CODES = {"geometric": 1, "class": 2}
_MARGIN = 0.5  # camera distance to walls (m)


def image_rng(root_seed: int, env_index: int, kind: str, index: int) -> np.random.Generator:
    return np.random.default_rng([root_seed, env_index, KIND_CODES[kind], index])


def _class_material(colour_index: int, rng: np.random.Generator) -> tuple[np.ndarray, int, float, float]:
    _, hue, texture = COLOURS[colour_index]
    albedo = hsv(hue + rng.normal(0, .012), rng.uniform(.78, .92), rng.uniform(.78, .92))
    return albedo, TEXTURES.index(texture), 5.0, .12 if texture != "plain" else 0.0


def _overlaps(lo: np.ndarray, hi: np.ndarray, others: list[tuple[np.ndarray, np.ndarray]], gap: float) -> bool:
    return any(np.all(lo < ohi + gap) and np.all(olo < hi + gap) for olo, ohi in others)


def _background(style: EnvStyle, rng: np.random.Generator, taken: list[tuple[np.ndarray, np.ndarray]]
                ) -> list[tuple[Shape, np.ndarray]]:
    """Desaturated furniture pushed against the walls, never overlapping anything already placed."""
    w, d, h = style.room
    pieces = []
    count = int(rng.integers(style.furniture_count[0], style.furniture_count[1] + 1))
    for _ in range(count):
        for _attempt in range(6):
            name = BACKGROUND[int(rng.choice(len(BACKGROUND), p=style.furniture_prior))]
            wall = int(rng.integers(4))
            shape = place(name, h, np.zeros(2), wall, rng.uniform(.85, 1.15))
            flo, fhi = shape.footprint()
            half = (fhi - flo) / 2
            along = rng.uniform(0, 1)
            if wall in (0, 2):  # against y = 0 / y = D ... pick the wall by axis
                x = half[0] + .05 + along * max(w - 2 * half[0] - .1, 0)
                y = half[1] + .05 if wall == 0 else d - half[1] - .05
            else:
                x = half[0] + .05 if wall == 1 else w - half[0] - .05
                y = half[1] + .05 + along * max(d - 2 * half[1] - .1, 0)
            centre = np.array([x, y]) - (flo + fhi) / 2
            shape = _moved(shape, centre)
            lo2, hi2 = shape.footprint()
            if np.any(lo2 < 0) or hi2[0] > w or hi2[1] > d or _overlaps(lo2, hi2, taken, .15):
                continue
            taken.append((lo2, hi2))
            colour = style.furniture_albedo[int(rng.integers(len(style.furniture_albedo)))] * rng.uniform(.9, 1.1)
            pieces.append((shape, np.clip(colour, 0, 1)))
            break
    return pieces


def _moved(shape: Shape, xy: np.ndarray) -> Shape:
    b, s = shape.boxes.copy(), shape.spheres.copy()
    b[:, :, :2] += xy
    s[:, :2] += xy
    return Shape(b, s)


def _inside(point: np.ndarray, shapes: list[Shape], gap: float) -> bool:
    for sh in shapes:
        if len(sh.boxes) and np.any(np.all((point > sh.boxes[:, 0] - gap) & (point < sh.boxes[:, 1] + gap), axis=1)):
            return True
        if len(sh.spheres) and np.any(np.linalg.norm(point - sh.spheres[:, :3], axis=1) < sh.spheres[:, 3] + gap):
            return True
    return False


def _segment_blocked(a: np.ndarray, b: np.ndarray, shapes: list[Shape]) -> bool:
    """Does the segment a->b cross any box or sphere of ``shapes``? (slab test on the segment)"""
    d = b - a
    inv = 1.0 / np.where(np.abs(d) < 1e-9, 1e-9, d)
    for sh in shapes:
        if len(sh.boxes):
            t0, t1 = (sh.boxes[:, 0] - a) * inv, (sh.boxes[:, 1] - a) * inv
            near, far = np.minimum(t0, t1).max(1), np.maximum(t0, t1).min(1)
            if np.any((near <= far) & (far > 0) & (near < 1)):
                return True
        if len(sh.spheres):
            c, r = sh.spheres[:, :3], sh.spheres[:, 3]
            t = np.clip(((c - a) @ d) / (d @ d), 0, 1)
            if np.any(np.linalg.norm(a + t[:, None] * d - c, axis=1) < r):
                return True
    return False


def _assemble(style: EnvStyle, rng: np.random.Generator, origin: np.ndarray, rotation: np.ndarray, fov: float,
              parts: list[tuple[Shape, np.ndarray, int, float, float]], label: int) -> Scene:
    boxes, spheres, box_mat, sph_mat = [], [], [], []
    for shape, albedo, tex, freq, amp in parts:
        for bx in shape.boxes:
            boxes.append(bx)
            box_mat.append((albedo, tex, freq, amp))
        for sp in shape.spheres:
            spheres.append(sp)
            sph_mat.append((albedo, tex, freq, amp))
    mats = box_mat + sph_mat
    albedo = np.concatenate([style.surface_albedo, np.array([m[0] for m in mats]).reshape(-1, 3)])
    texture = np.concatenate([style.surface_texture, np.array([m[1] for m in mats], dtype=np.int64)])
    freq = np.concatenate([style.surface_freq, np.array([m[2] for m in mats], dtype=np.float64)])
    amp = np.concatenate([style.surface_amp, np.array([m[3] for m in mats], dtype=np.float64)])
    room = np.array(style.room)
    jitter = rng.normal(0, .15, size=style.light_rel.shape) * np.array([1, 1, 0])
    lights = np.clip(style.light_rel + jitter, .05, .95) * room
    return Scene(
        room=room, origin=origin, rotation=rotation, fov=fov,
        boxes=np.array(boxes, dtype=np.float64).reshape(-1, 2, 3),
        spheres=np.array(spheres, dtype=np.float64).reshape(-1, 4),
        albedo=albedo, texture=texture, freq=freq, amp=amp, lights=lights,
        light_colour=style.light_colour * rng.uniform(.9, 1.1), ambient=style.ambient, falloff=style.falloff,
        exposure=style.exposure * rng.uniform(.92, 1.08), noise_std=style.noise_std,
        noise_seed=int(rng.integers(2**63)), label=label,
    )


def _class_object(style: EnvStyle, rng: np.random.Generator, class_id: int, region: float
                  ) -> tuple[Shape, np.ndarray, int, float, float]:
    """The class object somewhere in the central ``region`` fraction of the floor."""
    w, d, h = style.room
    archetype, colour = class_parts(class_id)
    shape = place(archetype, h, np.zeros(2), int(rng.integers(4)), rng.uniform(.9, 1.1))
    flo, fhi = shape.footprint()
    span = np.array([w, d])
    half = (fhi - flo) / 2
    lo_c = np.maximum(span * (1 - region) / 2, half + .6)
    hi_c = np.maximum(span - lo_c, lo_c + 1e-3)
    centre = rng.uniform(lo_c, hi_c)
    shape = _moved(shape, centre - (flo + fhi) / 2)
    albedo, tex, freq, amp = _class_material(colour, rng)
    return shape, albedo, tex, freq, amp


def geometric_scene(style: EnvStyle, rng: np.random.Generator, classes: Sequence[int]) -> Scene:
    """A free view of the room (the camera model of the geometric views above) with one object of ``classes``.

    The suite passes the classes of the environment's own split part, so meta-training
    rooms never show (even unlabelled) objects of the held-out classes.
    """
    if not classes:
        raise ValueError("geometric_scene needs at least one class for its key object")
    w, d, h = style.room
    label = int(classes[int(rng.integers(len(classes)))])
    key = _class_object(style, rng, label, region=.8)
    taken = [key[0].footprint()]
    background = _background(style, rng, taken)
    shapes = [key[0]] + [s for s, _ in background]
    for _attempt in range(50):
        origin = np.array([rng.uniform(_MARGIN, w - _MARGIN), rng.uniform(_MARGIN, d - _MARGIN),
                           rng.uniform(*style.cam_height)])
        if not _inside(origin, shapes, .25):
            break
    # yaw toward a random point in the half of the room farther from the camera
    span = np.array([w, d])
    reach = .35 + .65 * rng.uniform(size=2)
    target = np.where(origin[:2] < span / 2, origin[:2] + reach * (span - origin[:2]), origin[:2] * (1 - reach))
    yaw = float(np.arctan2(target[1] - origin[1], target[0] - origin[0]))
    pitch = float(np.radians(np.clip(rng.normal(0, 8), -20, 20)))
    fov = float(np.radians(np.clip(rng.normal(style.fov_mean_deg, 5), 35, 85)))
    parts = [key] + [(s, c, 0, 1.0, 0.0) for s, c in background]
    return _assemble(style, rng, origin, look_rotation(yaw, pitch), fov, parts, label)


def class_scene(style: EnvStyle, rng: np.random.Generator, class_id: int) -> Scene:
    """A view framing the class object (it fills about half the image) from a random side."""
    w, d, h = style.room
    key = _class_object(style, rng, class_id, region=.5)
    shapes_key = [key[0]]
    taken = [key[0].footprint()]
    background = _background(style, rng, taken)
    fov = float(np.radians(np.clip(rng.normal(style.fov_mean_deg, 5), 35, 85)))
    blo, bhi = key[0].bounds()
    if class_parts(class_id)[0] in ("pillar", "hanging globe"):  # frame the visible middle, not the whole height
        blo, bhi = blo.copy(), bhi.copy()
        blo[2] = max(blo[2], bhi[2] - 1.6)
        bhi[2] = min(bhi[2], blo[2] + 1.6)
    centre = (blo + bhi) / 2
    extent = float(np.max(bhi - blo))
    best = None
    for _attempt in range(30):
        fill = rng.uniform(.5, .75)
        dist = max(extent / fill / (2 * np.tan(fov / 2)) + extent / 3, 1.0)
        az = rng.uniform(0, 2 * np.pi)
        height = rng.uniform(*style.cam_height)
        origin = np.array([centre[0] - dist * np.cos(az), centre[1] - dist * np.sin(az), height])
        if not (_MARGIN / 2 < origin[0] < w - _MARGIN / 2 and _MARGIN / 2 < origin[1] < d - _MARGIN / 2):
            continue
        others = [s for s, _ in background]
        if _inside(origin, shapes_key + others, .25):
            continue
        best = origin
        if not _segment_blocked(origin, centre, others):
            break
    if best is None:  # room too small for the preferred distance: stand as far back as the walls allow
        az = rng.uniform(0, 2 * np.pi)
        direction = -np.array([np.cos(az), np.sin(az)])
        lim = [((w - _MARGIN / 2) - centre[0]) / direction[0] if direction[0] > 0 else (centre[0] - _MARGIN / 2) / -direction[0],
               ((d - _MARGIN / 2) - centre[1]) / direction[1] if direction[1] > 0 else (centre[1] - _MARGIN / 2) / -direction[1]]
        dist = max(min(lim), .3)
        best = np.array([centre[0] + dist * direction[0], centre[1] + dist * direction[1], rng.uniform(*style.cam_height)])
    origin = best
    # drop background pieces that would hide the object or contain the camera
    background = [(s, c) for s, c in background if not _segment_blocked(origin, centre, [s])
                  and not _inside(origin, [s], .25)]
    to = centre - origin
    yaw = float(np.arctan2(to[1], to[0]) + rng.normal(0, np.radians(2.5)))
    pitch = float(np.clip(np.arctan2(to[2], np.hypot(to[0], to[1])) + rng.normal(0, np.radians(2)),
                          np.radians(-35), np.radians(35)))
    parts = [key] + [(s, c, 0, 1.0, 0.0) for s, c in background]
    return _assemble(style, rng, origin, look_rotation(yaw, pitch), fov, parts, class_id)
