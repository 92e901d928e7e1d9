"""Taskonomy loader: formats, units, frames, layouts, splits, errors and the cache, on written fixtures."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures.taskonomy_writer import opencv_world_axes, path_for, write_taskonomy
from PIL import Image

from domains.catalog import SUITES
from domains.episodes import EpisodeSampler, EpisodeShape
from domains.realdata import read_split_csv
from domains.suite import DataError
from domains.taskonomy import TaskonomySuite
from domains.taskonomy.classes import SCENE_INDICES
from domains.taskonomy.official_splits import MEDIUM, TINY, write_official_csv
from domains.taskonomy.vanishing import blender_to_opencv, gaussian_sphere_vps, vanishing_points_image

torch.set_num_threads(1)
SIZE = 24


def suite(root: Path, tmp_path: Path, **options) -> TaskonomySuite:
    options.setdefault("image_size", SIZE)
    options.setdefault("cache_dir", tmp_path / "cache")
    return TaskonomySuite(root=root, **options)


def keys_of(truth: dict, building: str) -> list:
    return sorted(k for k in truth if k[0] == building)


def assert_same_axes(loaded: np.ndarray, rotation: np.ndarray) -> None:
    """z (world up) exactly; x and y up to the generator's quarter-turn relabelling (swap and signs)."""
    expected = opencv_world_axes(rotation)
    np.testing.assert_allclose(loaded[2], expected[2], atol=1e-6)
    for row in loaded[:2]:
        best = max(abs(row @ expected[0]), abs(row @ expected[1]))
        assert best == pytest.approx(1.0, abs=1e-6)


# ---- vanishing points: the generator and the frame ---------------------------------------------------


def test_golden_vector_of_the_generator():
    vps = gaussian_sphere_vps([1.5115954875946045, -0.004465199075639248, -1.702255129814148])
    np.testing.assert_allclose(vps["x"], [0.13107919091388934, -0.05924003526327522, 0.989600355664531], atol=1e-7)
    np.testing.assert_allclose(vps["y"], [0.9913618450591504, 0.0033366408789566784, -0.13111277202684024], atol=1e-7)
    np.testing.assert_allclose(vps["z"], [0.004465184237795439, 0.9982381905385361, 0.0591656748467535], atol=1e-7)
    image = vanishing_points_image(vps, 1.180512021910271, 512)
    np.testing.assert_allclose(image["x"], [305.5739, 278.4045], atol=1e-3)
    np.testing.assert_allclose(image["y"], [433.7619, 255.4017], atol=1e-3)
    np.testing.assert_allclose(image["z"], [256.8792, 59.4566], atol=1e-3)


def pinhole(direction: np.ndarray, fov: float, resolution: int) -> np.ndarray:
    """Standard OpenCV pinhole (u = f x/z + c, v = f y/z + c) of the point 0.1*d + (0, 0, 0.2)."""
    f, c = (resolution / 2) / np.tan(fov / 2), resolution / 2
    p = 0.1 * direction + np.array([0.0, 0.0, 0.2])
    return np.array([f * p[0] / p[2] + c, f * p[1] / p[2] + c])


def test_opencv_rows_reproduce_the_real_files_pixel_field():
    """The dataset's own ``vanishing_points_image`` (golden sample) follows from our OpenCV rows by a plain pinhole.

    The generator projects 0.1*vp - (0,0,0.2) in the Blender frame with a flipped K; in the OpenCV frame that is
    0.1*vp_cv + (0,0,0.2) with the ordinary K, so this checks the (x, -y, -z) conversion against real data.
    """
    sphere = {"x": [0.13107919091388934, -0.05924003526327522, 0.989600355664531],
              "y": [0.9913618450591504, 0.0033366408789566784, -0.13111277202684024],
              "z": [0.004465184237795439, 0.9982381905385361, 0.0591656748467535]}
    golden_pixels = [[305.5739, 278.4045], [433.7619, 255.4017], [256.8792, 59.4566]]
    rows = blender_to_opencv({a: np.array(v) for a, v in sphere.items()})
    for row, pixel in zip(rows, golden_pixels):
        np.testing.assert_allclose(pinhole(row, 1.180512021910271, 512), pixel, atol=1e-3)
    assert rows[2, 1] < -0.99  # world up is image-up, i.e. -y in the OpenCV frame


def test_level_camera_maps_world_up_to_opencv_minus_y(tmp_path):
    """A Blender camera rotated 90 deg about x looks along world +y with world +z up.

    In the OpenCV frame world up must be (0, -1, 0) and the viewing direction
    (0, 0, +-1); the world x axis is the camera's horizontal axis.
    """
    truth = write_taskonomy(tmp_path / "t", buildings=("b",), points=1, views=1, size=SIZE,
                            folders=("rgb", "point_info"))
    json_path = path_for(tmp_path / "t", "A", "b", "point_info", 7, 0, "point_info", "json")
    info = json.loads(json_path.read_text())
    vps = gaussian_sphere_vps([np.pi / 2, 0.0, 0.0])
    info["vanishing_points_gaussian_sphere"] = {a: vps[a].tolist() for a in "xyz"}
    json_path.write_text(json.dumps(info))
    rows = suite(tmp_path / "t", tmp_path).load("vanishing_point", "b").targets[0].numpy()
    assert truth
    np.testing.assert_allclose(rows[2], [0, -1, 0], atol=1e-6)
    horizontal = sorted(np.abs(rows[:2]).round(6).tolist())
    assert horizontal == [[0, 0, 1], [1, 0, 0]]


# ---- layouts and round-trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["A", "B", "C"])
def test_every_modality_round_trips_in_each_layout(tmp_path, layout):
    root = tmp_path / layout
    truth = write_taskonomy(root, layout)
    s = suite(root, tmp_path)
    assert s.tree.layout == layout
    assert s.tasks == ("classification", "depth", "normals", "vanishing_point")
    for building in ("adairsville", "cauthron"):
        keys = keys_of(truth, building)
        views = [truth[k] for k in keys]
        images = s.load("depth", building).images
        np.testing.assert_array_equal((images * 255).round().byte().permute(0, 2, 3, 1).numpy(),
                                      np.stack([v.rgb for v in views]))
        depth = s.load("depth", building)
        np.testing.assert_array_equal(depth.mask[:, 0].numpy(), np.stack([v.depth_mask for v in views]))
        np.testing.assert_allclose(depth.targets[:, 0].numpy(),
                                   np.stack([np.where(v.depth_mask, v.depth, 0) for v in views]), rtol=1e-6)
        normals = s.load("normals", building)
        np.testing.assert_array_equal(normals.mask[:, 0].numpy(), np.stack([v.normal_mask for v in views]))
        expected = np.stack([np.where(v.normal_mask[..., None], v.normals, 0) for v in views]).transpose(0, 3, 1, 2)
        np.testing.assert_allclose(normals.targets.numpy(), expected, atol=1e-6)
        assert (normals.targets[:, 2][normals.mask[:, 0]] < 0).all()  # facing the camera: z < 0 (OpenCV)
        vps = s.load("vanishing_point", building).targets.numpy()
        for rows, view, key in zip(vps, views, keys):
            assert_same_axes(rows, view.rotation)
            info = json.loads(path_for(root, layout, building, "point_info", key[1], key[2], "point_info",
                                       "json").read_text())
            for row, axis in zip(rows, "xyz"):
                np.testing.assert_allclose(pinhole(row.astype(np.float64), info["field_of_view_rads"], SIZE),
                                           info["vanishing_points_image"][axis], atol=1e-3)
        classes = s.load("classification", building)
        assert classes.targets.tolist() == [v.scene for v in views]


def test_depth_units_and_invalid_value(tmp_path):
    """Raw 512 -> 1 m, 1536 -> 3 m, 65535 -> masked; checked on hand-written pixels."""
    write_taskonomy(tmp_path / "t", buildings=("b",), points=1, views=1, size=4, folders=("rgb", "depth_zbuffer"))
    raw = np.array([[512, 1536, 65535, 256]] * 4, dtype=np.uint16)
    Image.fromarray(raw).save(path_for(tmp_path / "t", "A", "b", "depth_zbuffer", 7, 0, "depth_zbuffer", "png"))
    data = suite(tmp_path / "t", tmp_path, image_size=4).load("depth", "b")
    assert data.targets[0, 0, 0].tolist() == [1.0, 3.0, 0.0, 0.5]
    assert data.mask[0, 0, 0].tolist() == [True, True, False, True]


def test_normal_decoding_on_hand_written_colours(tmp_path):
    """(255,128,128) is +x (right), (128,0,128) is -y (up: a floor), (128,128,0) is -z (facing the camera).

    128 decodes to 128/255*2-1 = 0.0039, not 0: the tolerance is that quantisation step.
    """
    write_taskonomy(tmp_path / "t", buildings=("b",), points=1, views=1, size=3, folders=("rgb", "normal"))
    rgb = np.array([[[255, 128, 128], [128, 0, 128], [128, 128, 0]]] * 3, dtype=np.uint8)
    rgb[2, 2] = 128
    Image.fromarray(rgb).save(path_for(tmp_path / "t", "A", "b", "normal", 7, 0, "normal", "png"))
    data = suite(tmp_path / "t", tmp_path, image_size=3).load("normals", "b")
    n = data.targets[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(n[0, 0], [1, 0, 0], atol=0.005)
    np.testing.assert_allclose(n[0, 1], [0, -1, 0], atol=0.005)
    np.testing.assert_allclose(n[0, 2], [0, 0, -1], atol=0.005)
    assert not data.mask[0, 0, 2, 2] and data.mask[0, 0, 1, 2]


def test_object_labels_and_logit_soft_labels(tmp_path):
    truth = write_taskonomy(tmp_path / "t", buildings=("b",), size=8, folders=("rgb", "class_object", "class_scene"))
    s = suite(tmp_path / "t", tmp_path, image_size=8, classification="object")
    assert s.load("classification", "b").targets.tolist() == [truth[k].obj for k in keys_of(truth, "b")]
    # A file of log-probabilities with a leading axis must give the same scene label (squeeze + softmax).
    key = keys_of(truth, "b")[0]
    path = path_for(tmp_path / "t", "A", "b", "class_scene", key[1], key[2], "class_places", "npy")
    np.save(path, np.log(np.load(path))[None].astype(np.float64))
    labels = suite(tmp_path / "t", tmp_path, image_size=8).load("classification", "b").targets.tolist()
    assert labels == [truth[k].scene for k in keys_of(truth, "b")]


def test_subset_is_selected_before_argmax(tmp_path):
    """The fixture puts the largest mass outside the 63 classes; the label must still be the subset argmax."""
    truth = write_taskonomy(tmp_path / "t", buildings=("b",), size=8, folders=("rgb", "class_scene"))
    key = keys_of(truth, "b")[0]
    raw = np.load(path_for(tmp_path / "t", "A", "b", "class_scene", key[1], key[2], "class_places", "npy"))
    assert int(np.argmax(raw)) not in SCENE_INDICES
    assert suite(tmp_path / "t", tmp_path, image_size=8).load("classification", "b").targets[0] == truth[key].scene


def test_fixatedpose_points_folder_and_pose_fallback(tmp_path):
    truth = write_taskonomy(tmp_path / "t", buildings=("b",), size=8, folders=("rgb", "points"))
    s = suite(tmp_path / "t", tmp_path, image_size=8)
    assert s.tasks == ("vanishing_point",)
    stored = s.load("vanishing_point", "b").targets.numpy()
    for key in keys_of(truth, "b"):  # drop the VP field: the loader recomputes it from the pose
        path = path_for(tmp_path / "t", "A", "b", "points", key[1], key[2], "fixatedpose", "json")
        info = json.loads(path.read_text())
        del info["vanishing_points_gaussian_sphere"]
        path.write_text(json.dumps(info))
    recomputed = suite(tmp_path / "t", tmp_path, image_size=8).load("vanishing_point", "b").targets.numpy()
    np.testing.assert_allclose(recomputed, stored, atol=1e-6)


def test_resizing_uses_nearest_labels_and_keeps_masks_consistent(tmp_path):
    truth = write_taskonomy(tmp_path / "t", buildings=("b",), size=SIZE)
    data = suite(tmp_path / "t", tmp_path, image_size=[8, 12]).load("depth", "b")
    assert data.images.shape == (4, 3, 8, 12) and data.targets.shape == (4, 1, 8, 12)
    stored = {float(v) for k in keys_of(truth, "b") for v in truth[k].depth[truth[k].depth_mask]}
    assert {float(v) for v in data.targets[data.mask]} <= stored  # nearest: no blended depths
    assert (data.targets[~data.mask] == 0).all()
    normals = suite(tmp_path / "t", tmp_path, image_size=8).load("normals", "b")
    norms = normals.targets.norm(dim=1, keepdim=True)[normals.mask]
    torch.testing.assert_close(norms, torch.ones_like(norms))


def test_unmatched_files_are_reported_not_dropped_silently(tmp_path):
    write_taskonomy(tmp_path / "t", buildings=("b",), size=8)
    lone = path_for(tmp_path / "t", "A", "b", "depth_zbuffer", 7, 1, "depth_zbuffer", "png")
    lone.unlink()
    with pytest.warns(UserWarning, match="skipped 1 sample"):
        data = suite(tmp_path / "t", tmp_path, image_size=8).load("depth", "b")
    assert len(data) == 3
    assert len(data.skipped) == 1 and "point_7_view_1_domain_rgb.png" in data.skipped[0]
    assert "no matching depth_zbuffer" in data.skipped[0]


# ---- splits ----------------------------------------------------------------------------------------------


def test_official_csv_has_bare_carriage_returns_and_round_trips(tmp_path):
    for name, lists in (("tiny", TINY), ("medium", MEDIUM)):
        path = tmp_path / f"train_val_test_{name}.csv"
        write_official_csv(name, path)
        raw = path.read_bytes()
        assert b"\r" in raw and b"\n" not in raw
        assert read_split_csv(path) == lists
    assert [len(TINY[p]) for p in ("meta_train", "meta_val", "meta_test")] == [25, 5, 5]
    assert [len(MEDIUM[p]) for p in ("meta_train", "meta_val", "meta_test")] == [99, 20, 19]


def test_tiny_split_uses_buildings_as_domains(tmp_path):
    buildings = tuple(TINY["meta_train"] + TINY["meta_val"] + TINY["meta_test"])
    write_taskonomy(tmp_path / "t", "B", buildings=buildings, points=1, views=1, size=4,
                    folders=("rgb", "depth_zbuffer"))
    split = suite(tmp_path / "t", tmp_path, split="tiny").split()
    assert split.domains["depth"] == TINY
    assert split.tasks() == ("depth",)
    custom = tmp_path / "custom.csv"
    custom.write_bytes(b"id,train,val,test\rhanson,1,0,0\rmerom,1,0,0\rwiconisco,0,1,0\rihlen,0,0,1\r")
    split = suite(tmp_path / "t", tmp_path, split=str(custom)).split()
    assert split.domains["depth"] == {"meta_train": ["hanson", "merom"], "meta_val": ["wiconisco"],
                                      "meta_test": ["ihlen"]}


def test_missing_official_buildings_error_or_drop_with_a_record(tmp_path):
    write_taskonomy(tmp_path / "t", buildings=("hanson", "wiconisco", "ihlen"), points=1, views=1, size=4,
                    folders=("rgb", "depth_zbuffer"))
    with pytest.raises(DataError, match=r"names 32 building\(s\) not on disk .*missing_buildings = \"drop\""):
        suite(tmp_path / "t", tmp_path, split="tiny").split()
    with pytest.warns(UserWarning, match="dropping 32 building"):
        split = suite(tmp_path / "t", tmp_path, split="tiny", missing_buildings="drop").split()
    assert split.domains["depth"] == {"meta_train": ["hanson"], "meta_val": ["wiconisco"], "meta_test": ["ihlen"]}
    assert len(split.params["dropped_buildings"]) == 32


def test_csv_with_a_building_in_two_parts_is_refused(tmp_path):
    write_taskonomy(tmp_path / "t", buildings=("a", "b", "c"), points=1, views=1, size=4, folders=("rgb", "normal"))
    bad = tmp_path / "debug.csv"
    bad.write_text("id,train,val,test\nallensville,1,1,1\n")
    with pytest.raises(DataError, match=r"debug.csv, row 2: 'allensville' is in more than one"):
        suite(tmp_path / "t", tmp_path, split=str(bad)).split()


def test_auto_split_classes_and_manifest_round_trip(tmp_path):
    write_taskonomy(tmp_path / "t", buildings=("a", "b", "c", "d", "e"), points=1, views=1, size=4)
    split = suite(tmp_path / "t", tmp_path).split()
    parts = split.domains["depth"]
    assert sorted(parts["meta_train"] + parts["meta_val"] + parts["meta_test"]) == ["a", "b", "c", "d", "e"]
    assert all(parts[p] for p in parts)
    assert sorted(sum(split.classes.values(), [])) == list(range(63))
    assert len(split.class_names) == 63 and split.class_names[9] == "bedroom"
    manifest = tmp_path / "split.json"
    split.write(manifest)
    again = suite(tmp_path / "t", tmp_path, split=str(manifest)).split()
    assert again.sha256 == split.sha256


# ---- the suite contract and integration --------------------------------------------------------------------


def test_registered_factory_and_lacking_task_message(tmp_path):
    write_taskonomy(tmp_path / "t", buildings=("a", "b", "c"), points=1, views=1, size=4,
                    folders=("rgb", "depth_zbuffer"))
    s = SUITES.get("taskonomy")(root=str(tmp_path / "t"), image_size=4, split="auto", cache_dir="off",
                                skip_unreadable=False)
    assert s.tasks == ("depth",)
    with pytest.raises(DataError, match=r"no label folders found under .* for normals \(looked for: normal, in "
                                        r"layout A\); it offers: depth; extract the label archives"):
        s.require_tasks(["depth", "normals"])
    with pytest.raises(DataError, match="it offers: depth"):
        s.load("normals", "a")


def test_episodes_draw_from_loaded_buildings(tmp_path):
    write_taskonomy(tmp_path / "t", buildings=("a", "b", "c"), points=3, views=2, size=8)
    s = suite(tmp_path / "t", tmp_path, image_size=8)
    sampler = EpisodeSampler(s, s.split(), EpisodeShape(shots=2, queries=3, ways=5), tasks=("depth", "vanishing_point"))
    episode = sampler.episode("test", "vanishing_point", s.split().domains["vanishing_point"]["meta_test"][0], 0, 0)
    assert episode.support.images.shape == (2, 3, 8, 8) and episode.query.targets.shape == (3, 3, 3)


def test_cache_hits_and_invalidates_on_file_change(tmp_path):
    write_taskonomy(tmp_path / "t", buildings=("b",), size=8)
    first = suite(tmp_path / "t", tmp_path, image_size=8)
    a = first.load("depth", "b")
    assert (first.cache.hits, first.cache.misses) == (0, 1)
    second = suite(tmp_path / "t", tmp_path, image_size=8)
    b = second.load("depth", "b")
    assert (second.cache.hits, second.cache.misses) == (1, 0)
    assert torch.equal(a.images, b.images) and torch.equal(a.targets, b.targets) and torch.equal(a.mask, b.mask)
    depth_file = path_for(tmp_path / "t", "A", "b", "depth_zbuffer", 7, 0, "depth_zbuffer", "png")
    raw = np.asarray(Image.open(depth_file)).copy()
    raw[0, 0] = 1024
    Image.fromarray(raw).save(depth_file)
    os.utime(depth_file, ns=(1, 1))  # a different mtime even on coarse clocks
    third = suite(tmp_path / "t", tmp_path, image_size=8)
    c = third.load("depth", "b")
    assert third.cache.misses == 1 and c.targets[0, 0, 0, 0] == 2.0
    assert suite(tmp_path / "t", tmp_path, image_size=4).load("depth", "b").images.shape[-1] == 4
    off = suite(tmp_path / "t", tmp_path, image_size=8, cache_dir="off")
    off.load("depth", "b")
    assert off.cache.folder is None and off.cache.misses == 1


# ---- errors name the file ------------------------------------------------------------------------------------


def test_missing_root_and_unrecognised_layout(tmp_path):
    with pytest.raises(DataError, match=r"nowhere: dataset root for suite 'taskonomy' does not exist"):
        TaskonomySuite(root=tmp_path / "nowhere")
    with pytest.raises(DataError, match="needs a dataset folder: pass --root DIR"):
        TaskonomySuite(root=None)
    write_taskonomy(tmp_path / "t", buildings=("b",), points=1, views=1, size=4, folders=("rgb",))
    with pytest.raises(DataError, match=rf"{tmp_path / 't' / 'b'}: this is one building's folder"):
        TaskonomySuite(root=tmp_path / "t" / "b")
    (tmp_path / "empty" / "junk").mkdir(parents=True)
    with pytest.raises(DataError, match=r"empty: no Taskonomy 'rgb' folder found in any layout"):
        TaskonomySuite(root=tmp_path / "empty")


def test_missing_modality_folder_names_the_folder(tmp_path):
    write_taskonomy(tmp_path / "t", buildings=("a", "b", "c"), points=1, views=1, size=4)
    for path in (tmp_path / "t" / "b" / "normal").iterdir():
        path.unlink()
    (tmp_path / "t" / "b" / "normal").rmdir()
    s = suite(tmp_path / "t", tmp_path, image_size=4)
    missing = str(tmp_path / "t" / "b" / "normal")
    with pytest.raises(DataError, match=rf"{missing}: modality folder 'normal' of building 'b' is missing"):
        s.load("normals", "b")
    with pytest.raises(DataError, match=rf"{missing}: modality folder 'normal' is missing for 1 building"):
        s.split()


def test_truncated_image_names_the_file_and_can_be_skipped(tmp_path):
    write_taskonomy(tmp_path / "t", buildings=("b",), size=16, folders=("rgb", "depth_zbuffer"))
    rgb = path_for(tmp_path / "t", "A", "b", "rgb", 107, 1, "rgb", "png")
    rgb.write_bytes(rgb.read_bytes()[: len(rgb.read_bytes()) // 2])
    with pytest.raises(DataError, match=rf"{rgb}: cannot decode image .*truncated or corrupt"):
        suite(tmp_path / "t", tmp_path, image_size=16).load("depth", "b")
    with pytest.warns(UserWarning, match=r"skipped 1 sample\(s\) of domain 'b'"):
        data = suite(tmp_path / "t", tmp_path, image_size=16, skip_unreadable=True).load("depth", "b")
    assert len(data) == 3 and str(rgb) in data.skipped[0]


def test_wrong_depth_dtype_and_wrong_label_shape(tmp_path):
    write_taskonomy(tmp_path / "t", buildings=("b",), points=1, views=1, size=8,
                    folders=("rgb", "depth_zbuffer", "class_scene"))
    depth = path_for(tmp_path / "t", "A", "b", "depth_zbuffer", 7, 0, "depth_zbuffer", "png")
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(depth)
    with pytest.raises(DataError, match=rf"{depth}: depth_zbuffer must be a 16-bit greyscale PNG .*mode L"):
        suite(tmp_path / "t", tmp_path, image_size=8).load("depth", "b")
    label = path_for(tmp_path / "t", "A", "b", "class_scene", 7, 0, "class_places", "npy")
    np.save(label, np.full(1000, 1e-3, dtype=np.float32))
    with pytest.raises(DataError, match=rf"{label}: class_scene soft label has shape 1000, expected 365"):
        suite(tmp_path / "t", tmp_path, image_size=8).load("classification", "b")
    np.save(label, np.ones(365, dtype=np.int64))
    with pytest.raises(DataError, match=rf"{label}: class_scene soft label has dtype int64, expected float"):
        suite(tmp_path / "t", tmp_path, image_size=8).load("classification", "b")


def test_json_missing_fields_names_the_file(tmp_path):
    write_taskonomy(tmp_path / "t", buildings=("b",), points=1, views=1, size=8, folders=("rgb", "point_info"))
    path = path_for(tmp_path / "t", "A", "b", "point_info", 7, 0, "point_info", "json")
    path.write_text(json.dumps({"resolution": 8, "field_of_view_rads": 1.0}))
    with pytest.raises(DataError, match=rf"{path}: JSON lacks 'vanishing_points_gaussian_sphere' and "
                                        r"'camera_rotation_final'"):
        suite(tmp_path / "t", tmp_path, image_size=8).load("vanishing_point", "b")
    path.write_text(json.dumps({"vanishing_points_gaussian_sphere": {"x": [1, 0, 0], "y": [0, 1, 0]}}))
    with pytest.raises(DataError, match=rf"{path}: 'vanishing_points_gaussian_sphere' must have keys x, y, z"):
        suite(tmp_path / "t", tmp_path, image_size=8).load("vanishing_point", "b")


def test_empty_building_is_an_error_not_a_silent_drop(tmp_path):
    write_taskonomy(tmp_path / "t", buildings=("a", "b", "c"), points=1, views=1, size=4,
                    folders=("rgb", "depth_zbuffer"))
    for path in (tmp_path / "t" / "c" / "rgb").iterdir():
        path.unlink()
    s = suite(tmp_path / "t", tmp_path, image_size=4)
    with pytest.raises(DataError, match=rf"{tmp_path / 't' / 'c' / 'rgb'}: building 'c' has no rgb images"):
        s.load("depth", "c")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert "c" in sum(s.split().domains["depth"].values(), [])


def test_decoding_threads_do_not_change_the_result(tmp_path):
    write_taskonomy(tmp_path / "t", buildings=("b",), points=3, views=3, size=16)
    one = suite(tmp_path / "t", tmp_path, cache_dir="off", workers=1).load("normals", "b")
    many = suite(tmp_path / "t", tmp_path, cache_dir="off", workers=3).load("normals", "b")
    assert torch.equal(one.images, many.images) and torch.equal(one.targets, many.targets)
    assert torch.equal(one.mask, many.mask)
    with pytest.raises(DataError, match="option workers=0 must be an integer >= 1"):
        suite(tmp_path / "t", tmp_path, workers=0)


def test_command_line_strings_are_accepted_as_options(tmp_path):
    write_taskonomy(tmp_path / "t", buildings=("a", "b", "c"), points=1, views=1, size=8)
    s = SUITES.get("taskonomy")(root=str(tmp_path / "t"), image_size="4x6", skip_unreadable="true", workers="2",
                                max_per_domain="1", cache_dir="off", class_seed="3")
    assert s.image_size == (4, 6) and s.skip_unreadable and s.workers == 2 and s.max_per_domain == 1
    assert s.load("depth", "a").images.shape == (1, 3, 4, 6)
    with pytest.raises(DataError, match=r"option skip_unreadable='maybe' is not a boolean"):
        suite(tmp_path / "t", tmp_path, skip_unreadable="maybe")
    with pytest.raises(DataError, match=r"image_size '4y6' is not an int, \[height, width\] or 'HxW'"):
        suite(tmp_path / "t", tmp_path, image_size="4y6")


def test_max_per_domain_keeps_the_same_views_for_every_task(tmp_path):
    write_taskonomy(tmp_path / "t", buildings=("b",), points=4, views=3, size=8)
    s = suite(tmp_path / "t", tmp_path, image_size=8, max_per_domain=5)
    depth, vps = s.load("depth", "b"), s.load("vanishing_point", "b")
    assert len(depth) == len(vps) == 5
    full = suite(tmp_path / "t", tmp_path, image_size=8, cache_dir="off").load("depth", "b")
    rows = [int(np.flatnonzero([torch.equal(img, f) for f in full.images])[0]) for img in depth.images]
    assert rows == sorted(rows) and len(set(rows)) == 5  # a subset, in file order
    assert torch.equal(depth.images, vps.images)  # the same views for both tasks
    again = suite(tmp_path / "t", tmp_path, image_size=8, max_per_domain=5, cache_dir="off").load("depth", "b")
    assert torch.equal(again.targets, depth.targets)


def test_cache_keeps_one_entry_per_image_size(tmp_path):
    write_taskonomy(tmp_path / "t", buildings=("b",), size=8)
    for size in (8, 4):
        suite(tmp_path / "t", tmp_path, image_size=size).load("depth", "b")
    hits = []
    for size in (8, 4):
        s = suite(tmp_path / "t", tmp_path, image_size=size)
        s.load("depth", "b")
        hits.append(s.cache.hits)
    assert hits == [1, 1]
    assert len(list((tmp_path / "cache" / "taskonomy" / "depth").glob("*.pt"))) == 2


# ---- SynthRooms' Taskonomy exporter loads through this loader -------------------------------------------------


@pytest.fixture(scope="module")
def synthrooms(tmp_path_factory):
    factory = SUITES.get("synthrooms")
    return factory(profile="tiny", cache_dir=tmp_path_factory.mktemp("synth"), n_envs=3, images_per_env=4,
                   images_per_class=1, progress=False, workers=1)


@pytest.mark.parametrize("layout", ["A", "B", "C"])
def test_synthrooms_export_loads_with_identical_labels(tmp_path, synthrooms, layout):
    """Images and VPs are identical; depth and normals equal the suite's up to the format's own quantisation."""
    from domains.synthrooms.export_taskonomy import write_taskonomy as export

    export(synthrooms, tmp_path / "tk", layout=layout)
    tk = TaskonomySuite(root=tmp_path / "tk", image_size=synthrooms.config.image_size, cache_dir="off")
    assert tk.tree.layout == layout
    assert tk.tasks == ("depth", "normals", "vanishing_point")
    assert sorted(sum(tk.split().domains["depth"].values(), [])) == synthrooms.environments()
    for env in synthrooms.environments():
        for task in tk.tasks:
            ours, theirs = tk.load(task, env), synthrooms.load(task, env)
            assert torch.equal(ours.images, theirs.images)
            assert ours.mask is None if theirs.mask is None else torch.equal(ours.mask, theirs.mask)
            if task == "depth":  # 16-bit PNG at 1/512 m: exactly the rounded value
                expected = torch.where(theirs.mask, torch.round(theirs.targets * 512) / 512, 0)
                torch.testing.assert_close(ours.targets, expected, rtol=0, atol=1e-6)
            elif task == "normals":  # 8-bit channels: within half a step, i.e. well under half a degree
                cosine = (ours.targets * theirs.targets).sum(1)[theirs.mask[:, 0]].clamp(-1, 1)
                assert torch.rad2deg(torch.arccos(cosine)).max() < 0.5
            else:
                torch.testing.assert_close(ours.targets, theirs.targets, rtol=0, atol=1e-6)


def test_focal_length_follows_each_views_field_of_view_and_the_resize(tmp_path):
    write_taskonomy(tmp_path / "t", buildings=("b",), points=2, views=2, size=SIZE)
    rgb = path_for(tmp_path / "t", "A", "b", "rgb", 7, 1, "rgb", "png")
    rgb.write_bytes(rgb.read_bytes()[:60])  # one unreadable view: focal lengths must skip it too
    s = suite(tmp_path / "t", tmp_path, image_size=12, skip_unreadable=True)
    with pytest.warns(UserWarning, match="skipped 1 sample"):
        focal = s.focal_px("vanishing_point", "b")
        rows = s.load("vanishing_point", "b").targets.numpy()
    keys = [(7, 0), (107, 0), (107, 1)]
    assert focal.shape == (3,) and rows.shape == (3, 3, 3)
    for f, vps, (point, view) in zip(focal, rows, keys):
        info = json.loads(path_for(tmp_path / "t", "A", "b", "point_info", point, view, "point_info",
                                   "json").read_text())
        assert f == pytest.approx((SIZE / 2) / np.tan(info["field_of_view_rads"] / 2) * 12 / SIZE)
        for row, axis in zip(vps, "xyz"):  # the loaded-size pinhole lands on the file's pixel field, scaled
            p = 0.1 * row.astype(np.float64) + np.array([0.0, 0.0, 0.2])
            expected = np.array(info["vanishing_points_image"][axis]) * 12 / SIZE
            np.testing.assert_allclose([f * p[0] / p[2] + 6, f * p[1] / p[2] + 6], expected, atol=1e-3)


@pytest.mark.parametrize("layout", ["A", "C"])
def test_preview_command_on_the_real_layouts(tmp_path, layout):
    from bench.cli import main

    write_taskonomy(tmp_path / "t", layout, buildings=("a", "b", "c"), points=2, views=2, size=16)
    out = tmp_path / "grid.png"
    assert main(["preview", "taskonomy", "--root", str(tmp_path / "t"), "--out", str(out),
                 "-o", "cache_dir=off", "-o", "image_size=16"]) == 0
    assert Image.open(out).format == "PNG"


def test_classification_episodes_use_held_out_classes(tmp_path):
    """Scene pseudo-labels become global ids; a meta-test episode draws only meta-test classes."""
    from fixtures.taskonomy_writer import soft_distribution

    truth = write_taskonomy(tmp_path / "t", buildings=("a", "b", "c"), points=4, views=2, size=8,
                            folders=("rgb", "class_scene"))
    s = suite(tmp_path / "t", tmp_path, image_size=8)
    split = s.split()
    held_out = split.classes["meta_test"][:2]
    rng = np.random.default_rng(0)
    for n, (building, point, view) in enumerate(sorted(truth)):
        path = path_for(tmp_path / "t", "A", building, "class_scene", point, view, "class_places", "npy")
        np.save(path, soft_distribution(rng, 365, SCENE_INDICES, held_out[n % 2]))
    s = suite(tmp_path / "t", tmp_path, image_size=8)
    test_building = split.domains["classification"]["meta_test"][0]
    assert sorted(set(s.load("classification", test_building).targets.tolist())) == sorted(held_out)
    sampler = EpisodeSampler(s, split, EpisodeShape(shots=1, queries=2, ways=2), tasks=("classification",))
    episode = sampler.episode("test", "classification", test_building, 0, 0)
    assert episode.ways == 2 and sorted(episode.query.targets.tolist()) == [0, 0, 1, 1]
    train_building = split.domains["classification"]["meta_train"][0]
    with pytest.raises(DataError, match="has 0 classes with at least 3 images"):
        sampler.episode("train", "classification", train_building, 0, 0)  # its labels are held-out classes


def test_omnidata_forbidden_buildings_can_be_excluded(tmp_path):
    write_taskonomy(tmp_path / "t", buildings=("hanson", "merom", "woodbine", "wiconisco", "ihlen"), points=1,
                    views=1, size=4, folders=("rgb", "depth_zbuffer"))
    for split in ("auto", "tiny"):
        options = {"missing_buildings": "drop"} if split == "tiny" else {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parts = suite(tmp_path / "t", tmp_path, split=split, exclude_omnidata_forbidden=True,
                          **options).split().domains["depth"]
        assert sorted(sum(parts.values(), [])) == ["hanson", "ihlen", "merom", "wiconisco"]
