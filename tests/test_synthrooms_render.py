"""Property tests of the ray caster: every label agrees with the scene geometry, independently recomputed."""

from __future__ import annotations

import numpy as np
import pytest

from domains.synthrooms.archetypes import ARCHETYPES, CLASS_NAMES, COLOURS, N_CLASSES, class_parts
from domains.synthrooms.generate import Job, render_job
from domains.synthrooms.renderer import Scene, focal_px, render
from domains.synthrooms.scenes import class_scene, geometric_scene, image_rng
from domains.synthrooms.styles import draw_style

SIZE = 24
ALL = tuple(range(N_CLASSES))


def _scenes(seed: int, env: int, n: int = 4) -> list[Scene]:
    style = draw_style(seed, env)
    geo = [geometric_scene(style, image_rng(seed, env, "geometric", i), ALL) for i in range(n)]
    cls = [class_scene(style, image_rng(seed, env, "class", i), (7 * i + env) % N_CLASSES) for i in range(n)]
    return geo + cls


@pytest.fixture(scope="module", params=[(0, 0), (1, 5), (2, 11)], ids=lambda p: f"seed{p[0]}-env{p[1]}")
def case(request):
    scenes = _scenes(*request.param)
    return scenes, render(scenes, SIZE)


def _rays_cam(scene: Scene, size: int) -> np.ndarray:
    f = focal_px(scene.fov, size)
    pix = np.arange(size) + .5 - size / 2
    return np.stack(np.broadcast_arrays(pix[None, :] / f, pix[:, None] / f, np.ones((size, size))), -1)


def _sdf(scene: Scene, p: np.ndarray) -> np.ndarray:
    """Distance to the nearest surface (positive in free space): room walls, boxes and spheres."""
    room = np.minimum(p, scene.room - p).min(-1)
    d = [room]
    for lo, hi in scene.boxes:
        q = np.maximum(lo - p, p - hi)
        outside = np.linalg.norm(np.maximum(q, 0), axis=-1)
        d.append(outside + np.minimum(q.max(-1), 0))
    for c in scene.spheres:
        d.append(np.linalg.norm(p - c[:3], axis=-1) - c[3])
    return np.min(d, axis=0)


def test_normals_are_unit_and_face_the_camera(case) -> None:
    scenes, out = case
    assert out.mask.all()  # a closed room: every ray hits something
    norms = np.linalg.norm(out.normals, axis=-1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)
    for b, scene in enumerate(scenes):
        facing = (out.normals[b] * _rays_cam(scene, SIZE)).sum(-1)
        assert np.all(facing < 0), f"image {b}: {np.sum(facing >= 0)} normals point away from the camera"


def test_depth_lands_on_the_nearest_surface(case) -> None:
    scenes, out = case
    for b, scene in enumerate(scenes):
        rays_world = _rays_cam(scene, SIZE) @ scene.rotation.T
        hit = scene.origin + out.depth[b][..., None] * rays_world
        assert np.abs(_sdf(scene, hit)).max() < 2e-3, "the z-buffer point is not on any surface"
        for frac in (.2, .5, .8, .97):  # nothing nearer along the ray: the point is in free space
            before = scene.origin + frac * out.depth[b][..., None] * rays_world
            assert _sdf(scene, before).min() > -1e-4


def test_normals_are_the_surface_gradient(case) -> None:
    scenes, out = case
    h = 1e-3
    for b, scene in enumerate(scenes):
        rays_world = _rays_cam(scene, SIZE) @ scene.rotation.T
        hit = scene.origin + (out.depth[b][..., None] - 5e-3) * rays_world  # just in front of the surface
        grad = np.stack([(_sdf(scene, hit + h * e) - _sdf(scene, hit - h * e)) / (2 * h) for e in np.eye(3)], -1)
        grad /= np.linalg.norm(grad, axis=-1, keepdims=True)
        n_world = out.normals[b] @ scene.rotation.T
        agree = (grad * n_world).sum(-1)
        assert np.mean(agree > .99) > .97  # edges and corners are where the gradient is ambiguous


def test_vanishing_directions_are_orthonormal_and_match_the_camera(case) -> None:
    scenes, out = case
    for b, scene in enumerate(scenes):
        v = out.vp[b].astype(np.float64)
        np.testing.assert_allclose(v @ v.T, np.eye(3), atol=1e-6)
        assert np.linalg.det(v) == pytest.approx(1.0, abs=1e-6)
        np.testing.assert_allclose(v, np.stack([scene.rotation.T @ e for e in np.eye(3)]), atol=1e-6)  # R_cw^T e_i
        assert abs(v[2, 0]) < 1e-6  # no roll: world up has no image-x component
        # floors, ceilings and walls: their camera-frame normals are +-(world axis) = +-VP rows
        n = out.normals[b].reshape(-1, 3)
        flat = np.abs(n @ v.T).max(-1) > 1 - 1e-5
        assert flat.mean() > .5  # most pixels are planar Manhattan surfaces
        floor = (n @ v[2]) > 1 - 1e-5
        rows = np.nonzero(floor.reshape(SIZE, SIZE))[0]
        if len(rows):  # the floor is seen below the horizon (camera above it)
            assert rows.mean() > SIZE / 2 - 2


def test_one_seed_gives_identical_bytes_in_any_batch() -> None:
    job = Job(3, "geometric", 5, 16, 6, ALL)
    a, b = render_job(job), render_job(job)
    for field in ("rgb", "depth", "normals", "vp", "mask", "labels"):
        assert getattr(a, field).tobytes() == getattr(b, field).tobytes()
    style = draw_style(5, 3)
    scenes = [geometric_scene(style, image_rng(5, 3, "geometric", i), ALL) for i in range(6)]
    single = [render([s], 16) for s in scenes]  # batch composition must not matter
    for i, one in enumerate(single):
        assert one.rgb[0].tobytes() == a.rgb[i].tobytes()
        assert one.depth[0].tobytes() == a.depth[i].tobytes()
    other = render_job(Job(3, "geometric", 6, 16, 6, ALL))
    assert other.rgb.tobytes() != a.rgb.tobytes()


def test_environments_differ_in_style() -> None:
    styles = [draw_style(0, i) for i in range(12)]
    assert len({s.room for s in styles}) == 12
    assert len({round(s.fov_mean_deg, 3) for s in styles}) == 12
    assert len({tuple(np.round(s.surface_albedo[0], 3)) for s in styles}) == 12
    assert {int(s.surface_texture[4]) for s in styles} != {int(styles[0].surface_texture[4])}


def test_class_catalogue() -> None:
    assert N_CLASSES >= 64 and len(set(CLASS_NAMES)) == N_CLASSES
    assert class_parts(0) == (ARCHETYPES[0], 0)
    assert CLASS_NAMES[5] == f"{COLOURS[1][0]} {ARCHETYPES[1]}"
    with pytest.raises(ValueError, match="outside"):
        class_parts(N_CLASSES)


def test_class_views_show_their_object_at_the_centre() -> None:
    """The class object is what the camera frames: its saturated colour dominates the image centre."""
    style = draw_style(0, 2)
    hits = 0
    classes = list(range(0, N_CLASSES, 5))
    for c in classes:
        out = render([class_scene(style, image_rng(0, 2, "class", c), c)], 32)
        centre = out.rgb[0, 12:20, 12:20].reshape(-1, 3).astype(float) / 255
        sat = (centre.max(1) - centre.min(1)) / np.maximum(centre.max(1), 1e-6)
        hits += np.mean(sat > .45) > .25
    assert hits >= len(classes) - 1
