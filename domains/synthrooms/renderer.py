"""A vectorised numpy ray caster for Manhattan-world rooms (docs/datasets.md#synthrooms-generated-no-download).

One call renders a batch of scenes: every array is (images x rays), objects are
visited one at a time so memory stays at a few (B, N) arrays whatever the
furniture count. All arithmetic is element-wise (no BLAS reductions), so an
image's bytes do not depend on which batch it was rendered in.

Conventions: the world is z-up, the room is the box [0,W]x[0,D]x[0,H]; the
camera is OpenCV-style (x right, y down, z forward) with ``R_cw`` mapping
camera to world. A ray's camera-z component is 1, so the hit parameter t *is*
the z-buffer depth. Normals are returned in the camera frame; the Manhattan
vanishing directions are the rows of ``R_cw`` (``R_cw^T e_i`` for world axes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_EPS = 1e-4
_BIG = np.float32(1e9)


@dataclass
class Scene:
    """One image's scene. Materials are ordered: 6 room surfaces, then boxes, then spheres."""

    room: np.ndarray  # (3,) W, D, H
    origin: np.ndarray  # (3,) camera centre, world
    rotation: np.ndarray  # (3, 3) R_cw, columns = camera x (right), y (down), z (forward) in world
    fov: float  # full horizontal = vertical field of view, radians (square images)
    boxes: np.ndarray  # (K, 2, 3) lo, hi
    spheres: np.ndarray  # (M, 4) centre, radius
    albedo: np.ndarray  # (6 + K + M, 3)
    texture: np.ndarray  # (6 + K + M,) int, index into styles.TEXTURES
    freq: np.ndarray  # (6 + K + M,)
    amp: np.ndarray  # (6 + K + M,)
    lights: np.ndarray  # (L, 3) positions
    light_colour: np.ndarray  # (L, 3)
    ambient: np.ndarray  # (3,)
    falloff: float
    exposure: float
    noise_std: float
    noise_seed: int
    label: int = -1


@dataclass
class Rendered:
    """A rendered batch. Images are HWC here (what PNG exporters want); the suite converts to NCHW."""

    rgb: np.ndarray  # (B, H, W, 3) uint8
    depth: np.ndarray  # (B, H, W) float32 z-buffer metres
    mask: np.ndarray  # (B, H, W) bool, valid depth/normal pixels
    normals: np.ndarray  # (B, H, W, 3) float32 unit, camera frame (OpenCV)
    vp: np.ndarray  # (B, 3, 3) float32 rows = camera-frame directions of world x, y, z
    labels: np.ndarray  # (B,) int64 class ids (-1 where none)
    origin: np.ndarray  # (B, 3) float64
    rotation: np.ndarray  # (B, 3, 3) float64 R_cw
    fov: np.ndarray  # (B,) float64 radians

    def __len__(self) -> int:
        return int(self.rgb.shape[0])

    @staticmethod
    def concat(parts: list[Rendered]) -> Rendered:
        fields = Rendered.__dataclass_fields__
        return Rendered(**{k: np.concatenate([getattr(p, k) for p in parts]) for k in fields})


def look_rotation(yaw: float, pitch: float) -> np.ndarray:
    """R_cw for a roll-free camera looking along (cos p cos y, cos p sin y, sin p)."""
    f = np.array([np.cos(pitch) * np.cos(yaw), np.cos(pitch) * np.sin(yaw), np.sin(pitch)])
    r = np.cross(f, [0.0, 0.0, 1.0])
    r /= np.linalg.norm(r)
    d = np.cross(f, r)
    return np.column_stack([r, d, f])


def focal_px(fov: float | np.ndarray, size: int) -> float | np.ndarray:
    """Pixels per unit camera-plane distance: f = (size / 2) / tan(fov / 2) (as Taskonomy's get_K)."""
    return (size / 2.0) / np.tan(np.asarray(fov) / 2.0)


def _pad(arrays: list[np.ndarray], width: int, fill: float) -> np.ndarray:
    shape = (len(arrays), width) + arrays[0].shape[1:]
    out = np.full(shape, fill, dtype=np.float32)
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
    return out


def _texture(family: np.ndarray, u: np.ndarray, v: np.ndarray, freq: np.ndarray, amp: np.ndarray) -> np.ndarray:
    """Multiplicative albedo modulation in [1 - amp, 1 + amp] for each texture family."""
    fu, fv = u * freq, v * freq
    cu, cv = np.floor(fu), np.floor(fv)
    pattern = np.full(u.shape, 0.5, dtype=np.float32)
    for code, fn in (
        (1, lambda: np.mod(cu + cv, 2.0)),
        (2, lambda: np.mod(cu, 2.0)),
        (3, lambda: ((fu - cu < .08) | (fv - cv < .08)).astype(np.float32) * -1.0 + 1.0),
        (4, lambda: np.mod(np.sin(cu * 12.9898 + cv * 78.233) * 43758.547, 1.0)),
        (5, lambda: .5 + .5 * np.sin(6.2831853 * (fu + .35 * np.sin(fv * .9)))),
    ):
        sel = family == code
        if sel.any():
            pattern = np.where(sel, fn().astype(np.float32), pattern)
    return 1.0 + amp * (pattern - 0.5) * 2.0


def render(scenes: list[Scene], size: int) -> Rendered:
    """Render scenes at size x size: RGB, z-buffer depth, mask, camera-frame normals, VPs, labels."""
    if size < 2:
        raise ValueError(f"image size must be at least 2 pixels, got {size}")
    b = len(scenes)
    n = size * size
    f32 = np.float32
    origin = np.stack([s.origin for s in scenes]).astype(f32)  # (B, 3)
    rot = np.stack([s.rotation for s in scenes]).astype(f32)  # (B, 3, 3)
    room = np.stack([s.room for s in scenes]).astype(f32)
    fpx = np.array([focal_px(s.fov, size) for s in scenes], dtype=f32)
    pix = (np.arange(size, dtype=f32) + f32(0.5) - f32(size / 2))
    xs = np.tile(pix, size)[None, :] / fpx[:, None]  # (B, N) camera x / z
    ys = np.repeat(pix, size)[None, :] / fpx[:, None]
    # world ray directions (not normalised): r * x + d * y + f
    d = [rot[:, a, 0, None] * xs + rot[:, a, 1, None] * ys + rot[:, a, 2, None] for a in range(3)]
    inv = [f32(1.0) / np.where(np.abs(da) < 1e-9, f32(1e-9), da) for da in d]
    o = [origin[:, a, None] for a in range(3)]

    # room interior: leave through the nearest far plane
    t_axis = [np.maximum((f32(0) - o[a]) * inv[a], (room[:, a, None] - o[a]) * inv[a]) for a in range(3)]
    best = np.minimum(np.minimum(t_axis[0], t_axis[1]), t_axis[2])
    axis = np.where(t_axis[0] <= np.minimum(t_axis[1], t_axis[2]), 0, np.where(t_axis[1] <= t_axis[2], 1, 2))
    d_on_axis = np.choose(axis, d)
    material = (2 * axis + (d_on_axis > 0)).astype(np.int32)  # surfaces 0..5

    n_box = max(len(s.boxes) for s in scenes)
    n_sph = max(len(s.spheres) for s in scenes)
    if n_box:
        lo = _pad([s.boxes[:, 0] for s in scenes], n_box, np.nan)
        hi = _pad([s.boxes[:, 1] for s in scenes], n_box, np.nan)
        for k in range(n_box):
            t0 = [(lo[:, k, a, None] - o[a]) * inv[a] for a in range(3)]
            t1 = [(hi[:, k, a, None] - o[a]) * inv[a] for a in range(3)]
            tmin = [np.minimum(t0[a], t1[a]) for a in range(3)]
            near = np.maximum(np.maximum(tmin[0], tmin[1]), tmin[2])
            far = np.minimum(np.minimum(np.maximum(t0[0], t1[0]), np.maximum(t0[1], t1[1])),
                             np.maximum(t0[2], t1[2]))
            hit = (near <= far) & (near > _EPS) & (near < best)  # NaN padding never hits
            if not hit.any():
                continue
            box_axis = np.where(tmin[0] >= np.maximum(tmin[1], tmin[2]), 0, np.where(tmin[1] >= tmin[2], 1, 2))
            best = np.where(hit, near, best)
            axis = np.where(hit, box_axis, axis)
            material = np.where(hit, 6 + k, material)
    sph_c = sph_r = None
    if n_sph:
        sph = _pad([s.spheres for s in scenes], n_sph, np.nan)
        sph_c, sph_r = sph[:, :, :3], sph[:, :, 3]
        dd = d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
        for k in range(n_sph):
            oc = [o[a] - sph_c[:, k, a, None] for a in range(3)]
            bb = oc[0] * d[0] + oc[1] * d[1] + oc[2] * d[2]
            cc = oc[0] * oc[0] + oc[1] * oc[1] + oc[2] * oc[2] - sph_r[:, k, None] ** 2
            disc = bb * bb - dd * cc
            with np.errstate(invalid="ignore"):
                t = (-bb - np.sqrt(np.maximum(disc, 0))) / dd
                hit = (disc > 0) & (t > _EPS) & (t < best)
            if not hit.any():
                continue
            best = np.where(hit, t, best)
            axis = np.where(hit, 3, axis)
            material = np.where(hit, 6 + n_box + k, material)

    p = [o[a] + best * d[a] for a in range(3)]
    # world normal: planar hits face against the ray; sphere hits are radial
    normal = [np.where(axis == a, -np.sign(d[a]), f32(0)).astype(f32) for a in range(3)]
    is_sph = axis == 3
    if n_sph and is_sph.any():
        k_idx = np.clip(material - 6 - n_box, 0, n_sph - 1)
        c = [np.take_along_axis(sph_c[:, :, a], k_idx, axis=1) for a in range(3)]
        r = np.take_along_axis(sph_r, k_idx, axis=1)
        for a in range(3):
            normal[a] = np.where(is_sph, (p[a] - c[a]) / r, normal[a])
        length = np.sqrt(normal[0] ** 2 + normal[1] ** 2 + normal[2] ** 2)
        normal = [nc / length for nc in normal]

    # appearance
    n_mat = 6 + n_box + n_sph

    def materials(field: str, fill: float) -> np.ndarray:  # [6 surfaces | boxes padded to n_box | spheres]
        out = []
        for s in scenes:
            values = np.asarray(getattr(s, field), dtype=np.float32)
            k = len(s.boxes)
            pad = np.full((n_box - k,) + values.shape[1:], fill, dtype=np.float32)
            out.append(np.concatenate([values[: 6 + k], pad, values[6 + k:]]))
        return _pad(out, n_mat, fill)

    albedo = materials("albedo", 0.0)
    tex = materials("texture", 0.0).astype(np.int32)
    freq = materials("freq", 1.0)
    amp = materials("amp", 0.0)
    u = np.where(axis == 0, p[1], np.where(axis == 1, p[2], np.where(axis == 2, p[0], p[0] + p[1])))
    v = np.where(axis == 0, p[2], np.where(axis == 1, p[0], np.where(axis == 2, p[1], p[2])))
    modulation = _texture(np.take_along_axis(tex, material, 1), u, v, np.take_along_axis(freq, material, 1),
                          np.take_along_axis(amp, material, 1))
    n_light = max(len(s.lights) for s in scenes)
    lights = _pad([s.lights for s in scenes], n_light, np.nan)
    lcol = _pad([s.light_colour for s in scenes], n_light, 0.0)
    falloff = np.array([s.falloff for s in scenes], dtype=f32)[:, None]
    irradiance = [np.repeat(np.array([s.ambient[a] for s in scenes], dtype=f32)[:, None], n, 1) for a in range(3)]
    for k in range(n_light):
        valid = ~np.isnan(lights[:, k, 0])
        to_l = [np.where(valid[:, None], lights[:, k, a, None], p[a]) - p[a] for a in range(3)]
        dist2 = to_l[0] ** 2 + to_l[1] ** 2 + to_l[2] ** 2 + f32(1e-6)
        lambert = np.maximum(normal[0] * to_l[0] + normal[1] * to_l[1] + normal[2] * to_l[2], 0) / np.sqrt(dist2)
        gain = lambert / (f32(1) + falloff * dist2)
        for a in range(3):
            irradiance[a] = irradiance[a] + lcol[:, k, a, None] * gain
    exposure = np.array([s.exposure for s in scenes], dtype=f32)[:, None]
    linear = np.stack([np.take_along_axis(albedo[:, :, a], material, 1) * modulation * irradiance[a] * exposure
                       for a in range(3)], axis=-1)
    colour = np.clip(linear, 0, 1) ** f32(1 / 2.2)
    noise = np.stack([np.random.default_rng(s.noise_seed).standard_normal((n, 3), dtype=f32) * f32(s.noise_std)
                      for s in scenes])
    rgb = np.clip(np.round((colour + noise) * 255), 0, 255).astype(np.uint8).reshape(b, size, size, 3)

    # labels in the camera frame: n_cam = R_cw^T n_world
    n_cam = np.stack([rot[:, 0, j, None] * normal[0] + rot[:, 1, j, None] * normal[1] + rot[:, 2, j, None] * normal[2]
                      for j in range(3)], axis=-1)
    depth = best.reshape(b, size, size).astype(f32)
    mask = np.isfinite(depth) & (depth > 0) & (depth < 1e3)
    return Rendered(
        rgb=rgb, depth=depth, mask=mask, normals=n_cam.reshape(b, size, size, 3).astype(f32),
        vp=rot.astype(f32).copy(), labels=np.array([s.label for s in scenes], dtype=np.int64),
        origin=np.stack([s.origin for s in scenes]).astype(np.float64),
        rotation=np.stack([s.rotation for s in scenes]).astype(np.float64),
        fov=np.array([s.fov for s in scenes], dtype=np.float64),
    )
