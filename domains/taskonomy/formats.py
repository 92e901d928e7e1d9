"""Decoding one Taskonomy file per modality into the benchmark's units and frames.

Conventions (docs/datasets.md#taskonomy):
- ``depth_zbuffer``: 16-bit PNG, metres = value * full_scale / 65536, 65535 = no geometry.
  Taskonomy's full scale is 128 m (value / 512). The Omnidata annotator writes the same
  format with a configurable full scale (its DEPTH_ZBUFFER_MAX_DISTANCE_METERS); its
  documented renders of Replica use 16 m and of HM3D 8 m, so read under Taskonomy's unit
  they come out 8 or 16 times too deep. Zero is also masked: a z-buffer of 0 m cannot
  occur in a real view and AbsRel divides by it.
- ``normal``: 8-bit RGB, n = c / 255 * 2 - 1, already in the OpenCV camera frame
  (x right, y down, z forward); (128, 128, 128) = invalid.
- ``class_scene``/``class_object``: .npy soft labels over 365/1000 classes, reduced to the
  63/100-class subsets and renormalised; the hard label is the argmax. Assumed, not
  confirmed on a released file: a float vector (any float dtype, any shape that squeezes
  to 365/1000 entries) holding either probabilities (non-negative, summing to 1 within
  0.01) or logits/log-probabilities (with negative entries, turned into probabilities by
  a softmax). A non-negative vector that does not sum to 1 is neither and is refused.
- ``point_info``/``points`` JSON: ``vanishing_points_gaussian_sphere`` in the Blender
  camera frame, converted to OpenCV rows (x, -y, -z).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from domains.image_io import check_shape, load_npy, read_png16, read_rgb8_strict
from domains.suite import DataError
from domains.taskonomy.classes import LabelSpace
from domains.taskonomy.vanishing import AXES, blender_to_opencv, gaussian_sphere_vps

DEPTH_UNITS_PER_METRE = 512.0
DEPTH_INVALID = 65535
NORMAL_INVALID = 128
# metres that the 16-bit range stands for, by renderer setting (option depth_max_metres)
DEPTH_FULL_SCALE = {"taskonomy": 128.0, "replica": 16.0, "hm3d": 8.0}
# median depth of a view's valid pixels that an indoor scene can have; real Taskonomy views: 2.0-5.7 m
INDOOR_MEDIAN_METRES = (0.3, 15.0)


def depth_full_scale(value: float | str) -> float:
    """The ``depth_max_metres`` option: a preset name or a positive number of metres."""
    if isinstance(value, str) and value.strip().lower() in DEPTH_FULL_SCALE:
        return DEPTH_FULL_SCALE[value.strip().lower()]
    try:
        metres = float(value)
    except (TypeError, ValueError):
        metres = math.nan
    if not math.isfinite(metres) or metres <= 0:
        raise DataError(f"option depth_max_metres={value!r} must be a positive number of metres or one of "
                        f"{', '.join(f'{k} ({v:g})' for k, v in DEPTH_FULL_SCALE.items())}")
    return metres


def decode_depth_zbuffer(path: Path, full_scale: float = DEPTH_FULL_SCALE["taskonomy"]) -> tuple[np.ndarray, np.ndarray]:
    """HxW metres (float32) and HxW bool mask; ``full_scale`` metres = 65536 steps."""
    raw = read_png16(path, "depth_zbuffer")
    mask = (raw != DEPTH_INVALID) & (raw != 0)
    return (raw.astype(np.float64) * (full_scale / 65536.0)).astype(np.float32), mask


def implausible_depth(valid_metres: np.ndarray, full_scale: float) -> str | None:
    """A sentence when a domain's median depth cannot be an indoor scene under this unit, else None."""
    if valid_metres.size == 0:
        return None
    median = float(np.median(valid_metres))
    low, high = INDOOR_MEDIAN_METRES
    if low <= median <= high:
        return None
    presets = ", ".join(f"{k} {v:g}" for k, v in DEPTH_FULL_SCALE.items())
    return (f"has a median depth of {median:.3g} m under depth_max_metres = {full_scale:g} "
            f"(1/{65536 / full_scale:g} m per 16-bit step); indoor views have medians of {low:g}-{high:g} m. If the "
            f"files were rendered with another depth range, set depth_max_metres to it ({presets})")


def encode_depth_zbuffer(metres: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The inverse, for fixtures and exporters: uint16 round(d * 512), 65535 where invalid."""
    raw = np.clip(np.round(metres * DEPTH_UNITS_PER_METRE), 1, DEPTH_INVALID - 1).astype(np.uint16)
    return np.where(mask, raw, DEPTH_INVALID).astype(np.uint16)


def decode_normal(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """HxWx3 camera-frame normals (not yet renormalised) and HxW bool mask."""
    rgb = read_rgb8_strict(path, "normal")
    mask = ~np.all(rgb == NORMAL_INVALID, axis=-1)
    return rgb.astype(np.float32) / 255.0 * 2.0 - 1.0, mask


def encode_normal(normals: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The inverse, for fixtures and exporters: round((n + 1) / 2 * 255), (128,128,128) where invalid."""
    rgb = np.clip(np.round((normals + 1.0) / 2.0 * 255.0), 0, 255).astype(np.uint8)
    return np.where(mask[..., None], rgb, NORMAL_INVALID).astype(np.uint8)


def soft_label(path: Path, space: LabelSpace) -> np.ndarray:
    """The renormalised distribution over the subset's classes (length 63 or 100)."""
    raw = load_npy(path, f"{space.folder} soft label", kinds="f")
    vector = np.squeeze(raw).astype(np.float64)
    if vector.shape != (space.full_length,):
        raise DataError(f"{path}: {space.folder} soft label has shape {'x'.join(map(str, raw.shape))}, expected "
                        f"{space.full_length} entries; is it from a different label space?")
    if not np.all(np.isfinite(vector)):
        raise DataError(f"{path}: {space.folder} soft label contains NaN or inf; re-extract the file")
    if np.any(vector < 0):  # logits or log-probabilities
        vector = np.exp(vector - vector.max())
        vector /= vector.sum()
    elif abs(vector.sum() - 1.0) > 1e-2:
        raise DataError(f"{path}: {space.folder} soft label ({raw.dtype}, values {vector.min():.3g}..{vector.max():.3g}) "
                        f"sums to {vector.sum():.4g}: it is neither probabilities (non-negative, summing to 1) nor "
                        f"logits (which have negative entries); re-export it as either, or set skip_unreadable = true")
    selected = vector[list(space.indices)]
    total = selected.sum()
    if total <= 0:
        raise DataError(f"{path}: {space.folder} soft label puts no mass on the {len(space.indices)} benchmark "
                        f"classes; set skip_unreadable = true to skip such samples")
    return selected / total


def hard_label(path: Path, space: LabelSpace) -> int:
    """Global class id = argmax of the renormalised subset distribution (a pseudo-label)."""
    return int(np.argmax(soft_label(path, space)))


def read_point_info(path: Path) -> dict[str, Any]:
    try:
        info = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{path}: file does not exist; restore it or re-extract the archive") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not valid JSON ({err}); the file is truncated or corrupt, re-extract it") from None
    if not isinstance(info, dict):
        raise DataError(f"{path}: expected a JSON object of camera fields, found {type(info).__name__}")
    return info


def vanishing_points(path: Path) -> np.ndarray:
    """3x3 OpenCV-frame unit rows (world x, y, z directions) from a point_info/fixatedpose JSON.

    Uses ``vanishing_points_gaussian_sphere``; when a file lacks it (the dataset
    notes some models do) but has ``camera_rotation_final``, the directions are
    recomputed with the generator's own algorithm.
    """
    info = read_point_info(path)
    sphere = info.get("vanishing_points_gaussian_sphere")
    if sphere is None:
        if "camera_rotation_final" not in info:
            raise DataError(f"{path}: JSON lacks 'vanishing_points_gaussian_sphere' and 'camera_rotation_final'; "
                            f"re-extract it, or set skip_unreadable = true to skip such samples")
        rotation = np.asarray(info["camera_rotation_final"], dtype=np.float64)
        check_shape(rotation, path, "camera_rotation_final", (3,))
        return blender_to_opencv(gaussian_sphere_vps(rotation))
    if not isinstance(sphere, dict) or any(a not in sphere for a in AXES):
        raise DataError(f"{path}: 'vanishing_points_gaussian_sphere' must have keys x, y, z, found "
                        f"{sorted(sphere) if isinstance(sphere, dict) else type(sphere).__name__}; re-extract it")
    try:
        rows = np.array([sphere[a] for a in AXES], dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{path}: 'vanishing_points_gaussian_sphere' entries must be 3-vectors of numbers") from None
    check_shape(rows, path, "vanishing_points_gaussian_sphere", (3, 3))
    if not np.all(np.isfinite(rows)) or np.any(np.linalg.norm(rows, axis=1) < 1e-6):
        raise DataError(f"{path}: 'vanishing_points_gaussian_sphere' has a zero or non-finite direction; re-extract it")
    return blender_to_opencv(rows)
