"""Write SynthRooms in Taskonomy's on-disk format (docs/datasets.md#taskonomy).

Why: one loader (``domains/taskonomy``) then serves real and synthetic data, and the
synthetic export doubles as a realistic fixture of the real format. Per view it writes
``rgb`` (8-bit PNG), ``depth_zbuffer`` and ``depth_euclidean`` (16-bit PNG, metres x 512,
65535 = invalid), ``normal`` (8-bit PNG, round((n + 1) / 2 * 255) in the OpenCV camera
frame, (128,128,128) = invalid) and ``point_info`` (JSON with every field of section 1.4,
including both vanishing-point fields in the Blender camera frame).

Each environment becomes a building; each view is ``point_{P}_view_0`` with P its index.
By default ``vanishing_points_gaussian_sphere`` holds the exact world x, y, z directions,
so a loader's (x, -y, -z) conversion gives back the suite's labels bit for bit;
``vp_relabel=True`` instead applies the Taskonomy generator's axis relabelling (the same
three directions up to order and sign, as the real generator would have written them).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image
from scipy.spatial.transform import Rotation

from domains.synthrooms.archetypes import CLASS_NAMES
from domains.synthrooms.renderer import Rendered, focal_px

LAYOUTS = ("A", "B", "C")
DEPTH_UNITS_PER_METRE = 512.0
DEPTH_INVALID = 65535
NORMAL_INVALID = 128
AXES = ("x", "y", "z")
_BLENDER_FROM_OPENCV = np.diag([1.0, -1.0, -1.0])


class RenderSource(Protocol):
    """What the exporter needs from a suite: its environments and their geometric renders."""

    def environments(self) -> list[str]: ...

    def rendered(self, env: str, kind: str = "geometric") -> Rendered: ...


def domain_dir(root: Path, layout: str, building: str, domain: str) -> Path:
    """The folder of one (building, domain) in layout A, B or C (docs/datasets.md#taskonomy)."""
    if layout == "A":
        return root / building / domain
    if layout == "B":
        return root / domain / building
    if layout == "C":
        return root / domain / "taskonomy" / building
    raise ValueError(f"unknown Taskonomy layout '{layout}'; use one of {', '.join(LAYOUTS)}")


def encode_depth(metres: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """uint16 round(d * 512), 65535 where invalid (and clipped to 1..65534 where valid)."""
    raw = np.clip(np.round(metres * DEPTH_UNITS_PER_METRE), 1, DEPTH_INVALID - 1).astype(np.uint16)
    return np.where(mask, raw, DEPTH_INVALID).astype(np.uint16)


def encode_normal(normals: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """uint8 round((n + 1) / 2 * 255), (128, 128, 128) where invalid."""
    rgb = np.clip(np.round((normals + 1.0) / 2.0 * 255.0), 0, 255).astype(np.uint8)
    return np.where(mask[..., None], rgb, NORMAL_INVALID).astype(np.uint8)


def blender_euler(rotation_cw: np.ndarray) -> np.ndarray:
    """``camera_rotation_final``: static-XYZ Euler angles of the Blender camera->world rotation."""
    return Rotation.from_matrix(rotation_cw @ _BLENDER_FROM_OPENCV).as_euler("xyz")


def generator_vps(euler_xyz: np.ndarray) -> np.ndarray:
    """The Taskonomy/Omnidata generator's VPs (Blender camera frame, rows x, y, z) from camera_rotation_final.

    A transcription of omnidata ``create_vanishing_points.py`` (docs/datasets.md#taskonomy),
    including its axis-relabelling quirk: the world x/y axes are turned by the multiple of
    90 degrees that best aligns the y term with the camera.
    """
    r = Rotation.from_euler("xyz", euler_xyz).as_matrix()
    c = np.stack([r[1], -r[0], r[2]])
    angles, turns = [], []
    for k in range(4):
        w = Rotation.from_euler("z", k * np.pi / 2).as_matrix()
        turns.append(w)
        cosine = float(np.clip((c.T @ w @ np.array([0.0, 1.0, 0.0])) @ np.array([0.0, 0.0, -1.0]), -1, 1))
        angles.append(np.degrees(np.arccos(cosine)))
    w = turns[int(np.argmin(angles))]
    return np.stack([r.T @ w @ e for e in np.eye(3)])


def vp_image(vps_blender: np.ndarray, fov: float, resolution: int) -> dict[str, list[float]]:
    """``vanishing_points_image``: the generator's finite stand-in, pix(K, 0.1 vp - (0, 0, 0.2))."""
    f, c = float(focal_px(fov, resolution)), resolution / 2.0
    k = np.array([[f, 0, -c], [0, -f, -c], [0, 0, -1.0]])
    out = {}
    for axis, vp in zip(AXES, vps_blender):
        h = k @ (0.1 * vp - np.array([0, 0, 0.2]))
        out[axis] = [float(h[0] / h[2]), float(h[1] / h[2])]
    return out


def point_info(rendered: Rendered, i: int, building: str, room_box: np.ndarray | None,
               vp_relabel: bool = False) -> dict[str, Any]:
    """The point_info JSON of view ``i`` (every field listed in docs/datasets.md#taskonomy)."""
    size = rendered.rgb.shape[1]
    rot, origin, fov = rendered.rotation[i], rendered.origin[i], float(rendered.fov[i])
    euler = blender_euler(rot)
    if vp_relabel:
        vps = generator_vps(euler)
    else:
        vps = (rendered.vp[i].astype(np.float64) * np.array([1.0, -1.0, -1.0]))  # OpenCV rows -> Blender
        vps /= np.linalg.norm(vps, axis=1, keepdims=True)
    cy = cx = size // 2
    ray_cam = np.array([(cx + .5 - size / 2) / focal_px(fov, size), (cy + .5 - size / 2) / focal_px(fov, size), 1.0])
    t = float(rendered.depth[i, cy, cx])
    point = origin + t * (rot @ ray_cam)
    normal_world = rot @ rendered.normals[i, cy, cx].astype(np.float64)
    ray_world = rot @ ray_cam / np.linalg.norm(ray_cam)
    lo = room_box[0] if room_box is not None else None
    hi = room_box[1] if room_box is not None else None
    return {
        "camera_location": origin.tolist(),
        "camera_rotation_final": euler.tolist(),
        "camera_rotation_original": euler.tolist(),
        "camera_rotation_from_original_to_final": [0.0, 0.0, 0.0],
        "field_of_view_rads": fov,
        "resolution": int(size),
        "point_uuid": str(i),
        "view_id": 0,
        "camera_uuid": f"{building}-{i}",
        "room": building,
        "point_location": point.tolist(),
        "point_normal": normal_world.tolist(),
        "camera_distance": float(np.linalg.norm(point - origin)),
        "obliqueness_angle": float(np.arccos(np.clip(-ray_world @ normal_world, -1, 1))),
        "point_pitch": float(np.arcsin(np.clip(ray_world[2], -1, 1))),
        "bounding_box_ranges": None if lo is None else {a: [float(lo[j]), float(hi[j])] for j, a in enumerate(AXES)},
        "nonfixated_points_in_view": [],
        "vanishing_points_gaussian_sphere": {a: vps[j].tolist() for j, a in enumerate(AXES)},
        "vanishing_points_image": vp_image(vps, fov, size),
        "synthrooms_class": {"id": int(rendered.labels[i]),
                             "name": CLASS_NAMES[int(rendered.labels[i])] if rendered.labels[i] >= 0 else None},
    }


def _name(point: int, domain: str, ext: str) -> str:
    return f"point_{point}_view_0_domain_{domain}.{ext}"


def write_building(rendered: Rendered, root: Path, building: str, layout: str = "A",
                   room_box: np.ndarray | None = None, vp_relabel: bool = False) -> list[Path]:
    """Write every view of one rendered building; returns the files written."""
    root = Path(root)
    size = rendered.rgb.shape[1]
    written: list[Path] = []
    dirs = {d: domain_dir(root, layout, building, d)
            for d in ("rgb", "depth_zbuffer", "depth_euclidean", "normal", "point_info")}
    for folder in dirs.values():
        folder.mkdir(parents=True, exist_ok=True)
    pix = (np.arange(size) + .5 - size / 2)
    for i in range(len(rendered)):
        f = float(focal_px(rendered.fov[i], size))
        ray_len = np.sqrt((pix[None, :] / f) ** 2 + (pix[:, None] / f) ** 2 + 1.0)
        mask = rendered.mask[i]
        outputs = {
            "rgb": Image.fromarray(rendered.rgb[i], mode="RGB"),
            "depth_zbuffer": Image.fromarray(encode_depth(rendered.depth[i], mask)),
            "depth_euclidean": Image.fromarray(encode_depth(rendered.depth[i] * ray_len, mask)),
            "normal": Image.fromarray(encode_normal(rendered.normals[i], mask), mode="RGB"),
        }
        for domain, image in outputs.items():
            path = dirs[domain] / _name(i, domain, "png")
            image.save(path)
            written.append(path)
        path = dirs["point_info"] / _name(i, "point_info", "json")
        path.write_text(json.dumps(point_info(rendered, i, building, room_box, vp_relabel), indent=1))
        written.append(path)
    return written


def write_taskonomy(source: Rendered | RenderSource, root: Path | str, layout: str = "A",
                    building: str = "synthrooms", environments: Iterable[str] | None = None,
                    vp_relabel: bool = False) -> list[Path]:
    """Export renders (one building) or a whole suite (one building per environment) in Taskonomy format.

    ``source`` is a ``Rendered`` batch (written as ``building``) or a SynthRooms suite, whose
    geometric views of each environment become one building named after the environment.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown Taskonomy layout '{layout}'; use one of {', '.join(LAYOUTS)}")
    root = Path(root)
    if isinstance(source, Rendered):
        return write_building(source, root, building, layout, vp_relabel=vp_relabel)
    written: list[Path] = []
    for env in (list(environments) if environments is not None else source.environments()):
        room = getattr(source, "room_box", lambda _e: None)(env)
        written += write_building(source.rendered(env, "geometric"), root, env, layout, room, vp_relabel)
    return written
