"""Taskonomy vanishing points: the generator's algorithm, its pixel projection, and frame conversion.

``point_info``/``fixatedpose`` JSON stores, for each Manhattan world axis, a
unit direction in the *Blender* camera frame (x right, y up, z backward). The
benchmark's frame is OpenCV (x right, y down, z forward), so a direction
(x, y, z) becomes (x, -y, -z). The generator below is the one of EPFL-VILAB/
omnidata ``create_vanishing_points.py`` (identical to Taskonomy's); it lets the
loader fill in directions when a JSON lacks them but has the camera pose, and
lets fixtures write JSON exactly as the dataset does. A golden sample of the
dataset's own JSON is its unit test (tests/test_taskonomy.py).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

AXES = ("x", "y", "z")
BLENDER_TO_OPENCV = np.diag([1.0, -1.0, -1.0])


def _rot_z(quarter_turns: int) -> np.ndarray:
    return Rotation.from_euler("z", quarter_turns * np.pi / 2).as_matrix()


def gaussian_sphere_vps(camera_rotation_final: list[float] | np.ndarray) -> dict[str, np.ndarray]:
    """The three Manhattan directions in the Blender camera frame, as the Taskonomy generator computes them.

    The generator relabels the world x/y axes by a quarter turn about z, picking
    the relabelling whose (flip_xy-quirked) y axis is closest to the camera's
    viewing direction; only that choice makes the x/y order of real files
    reproducible.
    """
    r = Rotation.from_euler("xyz", np.asarray(camera_rotation_final, dtype=np.float64)).as_matrix()  # cam -> world
    c = np.stack([r[1], -r[0], r[2]])  # the generator's "flip_xy" quirk
    e = np.eye(3)
    angles = []
    for k in range(4):
        direction = c.T @ _rot_z(k) @ e[1]
        angles.append(np.degrees(np.arccos(np.clip(direction @ np.array([0.0, 0.0, -1.0]), -1.0, 1.0))))
    best = _rot_z(int(np.argmin(angles)))
    return {axis: r.T @ best @ e[i] for i, axis in enumerate(AXES)}


def intrinsics(field_of_view_rads: float, resolution: int) -> tuple[float, float]:
    """(focal length in pixels, principal point) of Taskonomy's square images."""
    return (resolution / 2) / np.tan(field_of_view_rads / 2), resolution / 2


def vanishing_points_image(vps: dict[str, np.ndarray], field_of_view_rads: float,
                           resolution: int) -> dict[str, np.ndarray]:
    """The generator's ``vanishing_points_image``: the projection of 0.1*vp - (0,0,0.2), always finite."""
    f, c = intrinsics(field_of_view_rads, resolution)
    k = np.array([[f, 0.0, -c], [0.0, -f, -c], [0.0, 0.0, -1.0]])
    out = {}
    for axis, vp in vps.items():
        p = k @ (0.1 * np.asarray(vp, dtype=np.float64) - np.array([0.0, 0.0, 0.2]))
        out[axis] = (p / p[2])[:2]
    return out


def blender_to_opencv(vps: dict[str, np.ndarray] | np.ndarray) -> np.ndarray:
    """x, y, z Blender-frame directions -> 3x3 rows in the OpenCV frame, unit length."""
    rows = np.stack([np.asarray(vps[a], dtype=np.float64) for a in AXES]) if isinstance(vps, dict) else np.asarray(vps)
    rows = rows @ BLENDER_TO_OPENCV
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)
