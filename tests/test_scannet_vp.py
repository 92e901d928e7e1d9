"""ScanNet-VP loader on fixtures in the NeurVPS layout: frames, splits, errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures.scannet_vp_writer import neurvps_pixel, write_scannet_vp

from domains.catalog import SUITES
from domains.scannet_vp import ScanNetVPSuite
from domains.suite import DataError

torch.set_num_threads(1)


def suite(root: Path, tmp_path: Path, **options) -> ScanNetVPSuite:
    options.setdefault("image_size", 16)
    options.setdefault("cache_dir", tmp_path / "cache")
    return ScanNetVPSuite(root=root, **options)


def test_directions_and_images_round_trip(tmp_path):
    truth = write_scannet_vp(tmp_path / "s")
    first = sorted(truth)[0]
    with np.load(first.with_name(first.name.replace("color.png", "vanish.npz"))) as npz:
        stored = {k: npz[k] for k in "xyz"}
    np.savez(first.with_name(first.name.replace("color.png", "vanish.npz")), x=stored["x"] * 3, y=stored["y"],
             z=stored["z"])  # not unit on disk: the loader normalises
    s = suite(tmp_path / "s", tmp_path)
    assert s.tasks == ("vanishing_point",)
    data = s.load("vanishing_point", "scene0000_00")
    frames = sorted(p for p in truth if p.parent.name == "scene0000_00")
    np.testing.assert_allclose(data.targets.numpy(), np.stack([truth[p] for p in frames]), atol=1e-6)
    assert data.images.shape == (3, 3, 16, 16)


def test_stored_vectors_are_already_in_the_opencv_frame():
    """NeurVPS negates y, then draws at v = -w1/w2 f 256 + 256; an OpenCV pinhole on the stored vector agrees."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        d = rng.normal(size=3)
        d[2] = abs(d[2]) + 0.2  # in front of the camera
        f = 2.408333333333333 * 256
        u_cv, v_cv = d[0] / d[2] * f + 256, d[1] / d[2] * f + 256  # x right, y down, z forward
        assert neurvps_pixel(d) == pytest.approx((u_cv, v_cv))


def test_official_split_and_test_list(tmp_path):
    write_scannet_vp(tmp_path / "s", frames=1)
    split = suite(tmp_path / "s", tmp_path).split()
    parts = split.domains["vanishing_point"]
    assert parts["meta_test"] == ["scene0500_00"]
    assert len(parts["meta_val"]) == 1
    assert sorted(parts["meta_train"] + parts["meta_val"]) == ["scene0000_00", "scene0001_00", "scene0002_00"]
    write_scannet_vp(tmp_path / "t", frames=1, lists={"train": ["a0", "a1"], "val": ["b0"], "test": ["c0"]})
    parts = suite(tmp_path / "t", tmp_path).split().domains["vanishing_point"]
    assert parts == {"meta_train": ["a0", "a1"], "meta_val": ["b0"], "meta_test": ["c0"]}


def test_registry_and_lacking_task_message(tmp_path):
    write_scannet_vp(tmp_path / "s", frames=1)
    s = SUITES.get("scannet_vp")(root=str(tmp_path / "s"), image_size=8, split="auto", cache_dir="off",
                                 skip_unreadable=False)
    assert sum(len(v) for v in s.split().domains["vanishing_point"].values()) == 4
    with pytest.raises(DataError, match=r"has no labels for task\(s\) depth; it offers: vanishing_point"):
        s.require_tasks(["depth"])


def test_missing_scene_folder_error_or_drop(tmp_path):
    write_scannet_vp(tmp_path / "s", frames=1)
    shutil.rmtree(tmp_path / "s" / "scene0001_00")
    with pytest.raises(DataError, match=r"names 1 scene folder\(s\) that are missing \(scene0001_00\)"):
        suite(tmp_path / "s", tmp_path).split()
    with pytest.warns(UserWarning, match="dropping 1 scene"):
        split = suite(tmp_path / "s", tmp_path, missing_scenes="drop").split()
    assert split.params["dropped_scenes"] == ["scene0001_00"]
    with pytest.raises(DataError, match=rf"{tmp_path / 's' / 'scene0001_00'}: scene 'scene0001_00' is listed"):
        suite(tmp_path / "s", tmp_path).load("vanishing_point", "scene0001_00")


def test_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match="nowhere: dataset root for suite 'scannet_vp' does not exist"):
        ScanNetVPSuite(root=tmp_path / "nowhere")
    (tmp_path / "bare").mkdir()
    with pytest.raises(DataError, match=r"bare: no scannetv2_train.txt or scannetv2_valid.txt"):
        ScanNetVPSuite(root=tmp_path / "bare")
    truth = write_scannet_vp(tmp_path / "s")
    frame = sorted(p for p in truth if p.parent.name == "scene0002_00")[0]
    npz = frame.with_name(frame.name.replace("color.png", "vanish.npz"))
    np.savez(npz, x=[1.0, 0, 0], z=[0, 0, 1.0])
    with pytest.raises(DataError, match=rf"{npz}: vanish.npz lacks key\(s\) y"):
        suite(tmp_path / "s", tmp_path).load("vanishing_point", "scene0002_00")
    np.savez(npz, x=[1.0, 0, 0], y=[0, 1.0, 0], z=[0, 0, 1.0])
    frame.write_bytes(frame.read_bytes()[:50])
    with pytest.raises(DataError, match=rf"{frame}: cannot decode image"):
        suite(tmp_path / "s", tmp_path).load("vanishing_point", "scene0002_00")
    with pytest.warns(UserWarning, match=r"skipped 1 sample\(s\)"):
        assert len(suite(tmp_path / "s", tmp_path, skip_unreadable=True).load("vanishing_point", "scene0002_00")) == 2
    for path in (tmp_path / "s" / "scene0500_00").iterdir():
        path.unlink()
    with pytest.raises(DataError, match=rf"{tmp_path / 's' / 'scene0500_00'}: scene 'scene0500_00' has no"):
        suite(tmp_path / "s", tmp_path).load("vanishing_point", "scene0500_00")


def test_frame_without_label_is_reported(tmp_path):
    truth = write_scannet_vp(tmp_path / "s")
    frame = sorted(p for p in truth if p.parent.name == "scene0000_00")[1]
    frame.with_name(frame.name.replace("color.png", "vanish.npz")).unlink()
    with pytest.warns(UserWarning, match="no matching frame-000020-vanish.npz"):
        data = suite(tmp_path / "s", tmp_path).load("vanishing_point", "scene0000_00")
    assert len(data) == 2 and len(data.skipped) == 1


def test_focal_length_and_preview_command(tmp_path):
    from PIL import Image

    from bench.cli import main

    write_scannet_vp(tmp_path / "s", frames=2)
    s = suite(tmp_path / "s", tmp_path, image_size=8)
    np.testing.assert_allclose(s.focal_px("vanishing_point", "scene0001_00"), [2.408333333333333 * 4] * 2)
    out = tmp_path / "grid.png"
    assert main(["preview", "scannet_vp", "--root", str(tmp_path / "s"), "--out", str(out), "-o", "cache_dir=off",
                 "-o", "image_size=16"]) == 0
    assert Image.open(out).format == "PNG"
