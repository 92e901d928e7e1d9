"""The Taskonomy exporter writes exactly the documented format (docs/datasets.md#taskonomy)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image
from scipy.spatial.transform import Rotation

from domains.synthrooms.export_taskonomy import (
    blender_euler,
    domain_dir,
    generator_vps,
    vp_image,
    write_taskonomy,
)
from domains.synthrooms.renderer import render
from domains.synthrooms.scenes import geometric_scene, image_rng
from domains.synthrooms.styles import draw_style

_NAME = re.compile(r"point_(?P<point>\d+)_view_(?P<view>\d+)_domain_(?P<domain>\w+)\.(png|json)$")


@pytest.fixture(scope="module")
def rendered():
    style = draw_style(7, 3)
    return render([geometric_scene(style, image_rng(7, 3, "geometric", i), range(64)) for i in range(3)], 32)


def test_golden_vector_of_the_taskonomy_generator() -> None:
    euler = np.array([1.5115954875946045, -0.004465199075639248, -1.702255129814148])
    vps = generator_vps(euler)
    np.testing.assert_allclose(vps[0], [0.13107919091388934, -0.05924003526327522, 0.989600355664531], atol=1e-7)
    np.testing.assert_allclose(vps[1], [0.9913618450591504, 0.0033366408789566784, -0.13111277202684024], atol=1e-7)
    np.testing.assert_allclose(vps[2], [0.004465184237795439, 0.9982381905385361, 0.0591656748467535], atol=1e-7)
    image = vp_image(vps, 1.180512021910271, 512)
    np.testing.assert_allclose(image["x"], [305.5739, 278.4045], atol=1e-3)
    np.testing.assert_allclose(image["y"], [433.7619, 255.4017], atol=1e-3)
    np.testing.assert_allclose(image["z"], [256.8792, 59.4566], atol=1e-3)


@pytest.mark.parametrize("layout", ["A", "B", "C"])
def test_export_round_trips_every_label(tmp_path, rendered, layout) -> None:
    files = write_taskonomy(rendered, tmp_path, layout=layout, building="envx")
    assert len(files) == 3 * 5
    for f in files:
        m = _NAME.search(f.name)
        assert m, f.name
        assert f.parent == domain_dir(tmp_path, layout, "envx", m["domain"])  # folder name = file token here
    d = lambda dom: domain_dir(tmp_path, layout, "envx", dom)  # noqa: E731
    for i in range(len(rendered)):
        rgb = np.asarray(Image.open(d("rgb") / f"point_{i}_view_0_domain_rgb.png"))
        assert rgb.dtype == np.uint8 and rgb.shape == (32, 32, 3)
        np.testing.assert_array_equal(rgb, rendered.rgb[i])
        raw = Image.open(d("depth_zbuffer") / f"point_{i}_view_0_domain_depth_zbuffer.png")
        assert raw.mode in ("I;16", "I;16B", "I")
        depth = np.asarray(raw).astype(np.float64) / 512.0
        assert np.abs(depth - rendered.depth[i]).max() <= 0.5 / 512 + 1e-6
        eu = np.asarray(Image.open(d("depth_euclidean") / f"point_{i}_view_0_domain_depth_euclidean.png")) / 512.0
        assert np.all(eu >= depth - 1.0 / 512)  # a ray is never shorter than its z
        normal = np.asarray(Image.open(d("normal") / f"point_{i}_view_0_domain_normal.png")).astype(np.float64)
        decoded = normal / 255 * 2 - 1
        assert np.abs(decoded - rendered.normals[i]).max() <= 1.0 / 255 + 1e-6
        info = json.loads((d("point_info") / f"point_{i}_view_0_domain_point_info.json").read_text())
        sphere = np.array([info["vanishing_points_gaussian_sphere"][a] for a in "xyz"])
        np.testing.assert_allclose(sphere * np.array([1, -1, -1]), rendered.vp[i], atol=1e-6)  # Blender -> OpenCV
        assert info["resolution"] == 32
        assert info["field_of_view_rads"] == pytest.approx(rendered.fov[i])
        # the Euler angles give back the camera: Blender cam->world = R_cw diag(1, -1, -1)
        r_blender = Rotation.from_euler("xyz", info["camera_rotation_final"]).as_matrix()
        np.testing.assert_allclose(r_blender @ np.diag([1, -1, -1]), rendered.rotation[i], atol=1e-9)
        np.testing.assert_allclose(info["camera_location"], rendered.origin[i])


def test_relabelled_export_holds_the_same_directions(tmp_path, rendered) -> None:
    write_taskonomy(rendered, tmp_path, building="b", vp_relabel=True)
    for i in range(len(rendered)):
        info = json.loads((tmp_path / "b" / "point_info" / f"point_{i}_view_0_domain_point_info.json").read_text())
        sphere = np.array([info["vanishing_points_gaussian_sphere"][a] for a in "xyz"]) * np.array([1, -1, -1])
        cos = np.abs(sphere @ rendered.vp[i].astype(np.float64).T)
        np.testing.assert_allclose(np.sort(cos.max(1)), 1.0, atol=1e-6)  # each axis matches one true axis


def test_invalid_pixels_use_the_reserved_codes(tmp_path, rendered) -> None:
    holes = rendered
    holes.mask[0, :4, :4] = False
    write_taskonomy(holes, tmp_path, building="h")
    depth = np.asarray(Image.open(tmp_path / "h" / "depth_zbuffer" / "point_0_view_0_domain_depth_zbuffer.png"))
    normal = np.asarray(Image.open(tmp_path / "h" / "normal" / "point_0_view_0_domain_normal.png"))
    assert np.all(depth[:4, :4] == 65535) and np.all(depth[4:, 4:] < 65535)
    assert np.all(normal[:4, :4] == 128)
    holes.mask[0, :4, :4] = True


def test_euler_conversion_is_the_documented_one() -> None:
    rot = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
    rot *= np.sign(np.linalg.det(rot))
    euler = blender_euler(rot)
    np.testing.assert_allclose(Rotation.from_euler("xyz", euler).as_matrix(), rot @ np.diag([1, -1, -1]), atol=1e-12)


def test_unknown_layout_is_refused(tmp_path, rendered) -> None:
    with pytest.raises(ValueError, match="layout 'D'"):
        write_taskonomy(rendered, tmp_path, layout="D")
