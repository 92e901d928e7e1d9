"""DIODE loader on fixtures written in the devkit's layout: units, masks, normals, splits, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures.diode_writer import write_diode

from domains.catalog import SUITES
from domains.diode import DiodeSuite
from domains.suite import DataError

torch.set_num_threads(1)


def suite(root: Path, tmp_path: Path, **options) -> DiodeSuite:
    options.setdefault("image_size", [12, 16])
    options.setdefault("cache_dir", tmp_path / "cache")
    return DiodeSuite(root=root, **options)


def truths_of(truth: dict, scene: str) -> list:
    return [truth[p] for p in sorted(truth) if f"/{scene}/" in str(p)]


def test_depth_mask_and_images_round_trip(tmp_path):
    truth = write_diode(tmp_path / "d")
    s = suite(tmp_path / "d", tmp_path)
    assert s.tasks == ("depth", "normals")
    data = s.load("depth", "scene_00000")
    views = truths_of(truth, "scene_00000")
    assert len(data) == 4  # two scans x two images
    np.testing.assert_array_equal((data.images * 255).round().byte().permute(0, 2, 3, 1).numpy(),
                                  np.stack([v.rgb for v in views]))
    np.testing.assert_array_equal(data.mask[:, 0].numpy(), np.stack([v.mask for v in views]))
    np.testing.assert_allclose(data.targets[:, 0].numpy(), np.stack([np.where(v.mask, v.depth, 0) for v in views]))
    # the mask file alone is not enough: depth 0 under mask 1 is invalid, as in the devkit (gt > 0)
    assert not data.mask[data.targets == 0].any()


def test_normals_from_a_separate_tree_and_sign_option(tmp_path):
    truth = write_diode(tmp_path / "d", normals_root=tmp_path / "n")
    assert suite(tmp_path / "d", tmp_path).tasks == ("depth",)
    s = suite(tmp_path / "d", tmp_path, normals_root=tmp_path / "n")
    views = truths_of(truth, "scene_00022")
    data = s.load("normals", "scene_00022")
    np.testing.assert_array_equal(data.mask[:, 0].numpy(), np.stack([v.normal_mask for v in views]))
    np.testing.assert_allclose(data.targets.permute(0, 2, 3, 1).numpy(), np.stack([v.normals for v in views]),
                               atol=1e-6)
    flipped = suite(tmp_path / "d", tmp_path, normals_root=tmp_path / "n", normal_signs="1,-1,-1")
    torch.testing.assert_close(flipped.load("normals", "scene_00022").targets,
                               data.targets * torch.tensor([1.0, -1.0, -1.0])[None, :, None, None])
    with pytest.raises(DataError, match=r"option normal_signs=\[1, 2, 1\] must be three of \+1/-1"):
        suite(tmp_path / "d", tmp_path, normal_signs=[1, 2, 1])


def test_resizing_centre_crops_to_the_target_aspect(tmp_path):
    truth = write_diode(tmp_path / "d", images_per_scan=1)
    data = suite(tmp_path / "d", tmp_path, image_size=6).load("depth", "scene_00001")
    assert data.images.shape == (1, 3, 6, 6)
    view = truths_of(truth, "scene_00001")[0]
    centre = view.depth[:, 2:14][view.mask[:, 2:14]]  # 12x16 -> centre 12x12
    assert {float(v) for v in data.targets[data.mask]} <= {float(v) for v in centre}


def test_domains_at_scene_and_scan_level_and_scene_type_filter(tmp_path):
    write_diode(tmp_path / "d")
    assert suite(tmp_path / "d", tmp_path).domains("depth") == [
        "scene_00000", "scene_00001", "scene_00007", "scene_00008", "scene_00019", "scene_00022"]
    scans = suite(tmp_path / "d", tmp_path, domain_level="scan")
    assert "scene_00000/scan_00001" in scans.domains("depth")
    assert len(scans.load("depth", "scene_00000/scan_00001")) == 2
    indoors = suite(tmp_path / "d", tmp_path, scene_types=["indoors"])
    assert indoors.domains("depth") == ["scene_00000", "scene_00001", "scene_00019"]


def test_official_split_tests_on_released_val_and_holds_out_train_scenes(tmp_path):
    write_diode(tmp_path / "d")
    split = suite(tmp_path / "d", tmp_path).split()
    parts = split.domains["depth"]
    assert parts["meta_test"] == ["scene_00019", "scene_00022"]
    assert len(parts["meta_val"]) == 2  # one indoor and one outdoor train scene
    assert {s[:11] for s in parts["meta_val"]} <= {"scene_00000", "scene_00001", "scene_00007", "scene_00008"}
    assert sorted(parts["meta_train"] + parts["meta_val"]) == ["scene_00000", "scene_00001", "scene_00007",
                                                              "scene_00008"]
    assert split.domains["normals"] == parts
    scans = suite(tmp_path / "d", tmp_path, domain_level="scan").split().domains["depth"]
    for part, names in scans.items():  # scans of one scene never straddle parts
        others = {n.split("/")[0] for p, ns in scans.items() if p != part for n in ns}
        assert not {n.split("/")[0] for n in names} & others


def test_registry_and_lacking_task_message(tmp_path):
    write_diode(tmp_path / "d", with_normals=False)
    s = SUITES.get("diode")(root=str(tmp_path / "d"), image_size=8, split="official", cache_dir="off",
                            skip_unreadable=False)
    with pytest.raises(DataError, match=r"suite 'diode' has no labels for task\(s\) vanishing_point, normals; "
                                        r"it offers: depth"):
        s.require_tasks(["vanishing_point", "normals"])


def test_val_normals_missing_is_named(tmp_path):
    write_diode(tmp_path / "d", with_normals=False)
    write_diode(tmp_path / "n", scenes={("train", "indoors", 0): (0, 1)}, seed=1)  # only one scene has normals
    s = suite(tmp_path / "d", tmp_path, normals_root=tmp_path / "n")
    with pytest.raises(DataError, match=r"have no normals labels .*extract the \*_normals.tar.gz"):
        s.split()


def test_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match=r"nowhere: dataset root for suite 'diode' does not exist"):
        DiodeSuite(root=tmp_path / "nowhere")
    (tmp_path / "bare").mkdir()
    with pytest.raises(DataError, match=r"bare: no DIODE 'train' or 'val' folder"):
        DiodeSuite(root=tmp_path / "bare")
    truth = write_diode(tmp_path / "d", images_per_scan=1)
    png = sorted(p for p in truth if "scene_00001" in str(p))[0]
    depth, mask = png.with_name(png.stem + "_depth.npy"), png.with_name(png.stem + "_depth_mask.npy")
    good_png = png.read_bytes()
    png.write_bytes(good_png[:40])
    with pytest.raises(DataError, match=rf"{png}: cannot decode image"):
        suite(tmp_path / "d", tmp_path).load("depth", "scene_00001")
    png.write_bytes(good_png)
    np.save(depth, np.ones((12, 16, 1), dtype=np.int32))
    with pytest.raises(DataError, match=rf"{depth}: DIODE depth has dtype int32, expected float"):
        suite(tmp_path / "d", tmp_path).load("depth", "scene_00001")
    np.save(depth, np.ones((16, 12, 1), dtype=np.float32))
    with pytest.raises(DataError, match=rf"{depth}: DIODE depth has shape 16x12, expected 12x16"):
        suite(tmp_path / "d", tmp_path).load("depth", "scene_00001")
    np.save(depth, np.ones((12, 16, 1), dtype=np.float32))
    mask.unlink()
    with pytest.raises(DataError, match=rf"{mask}: depth mask is missing"):
        suite(tmp_path / "d", tmp_path).load("depth", "scene_00001")


def test_skip_unreadable_reports_which_and_how_many(tmp_path):
    truth = write_diode(tmp_path / "d")
    png = sorted(p for p in truth if "scene_00007" in str(p))[0]
    depth = png.with_name(png.stem + "_depth.npy")
    depth.write_bytes(depth.read_bytes()[:60])
    with pytest.warns(UserWarning, match=r"skipped 1 sample\(s\) of domain 'scene_00007'"):
        data = suite(tmp_path / "d", tmp_path, skip_unreadable=True).load("depth", "scene_00007")
    assert len(data) == 1 and str(depth) in data.skipped[0] and "cannot read DIODE depth" in data.skipped[0]


def test_a_scene_in_two_official_parts_is_refused(tmp_path):
    write_diode(tmp_path / "d", scenes={("train", "indoors", 0): (0,), ("val", "indoors", 0): (1,)})
    with pytest.raises(DataError, match=r"scene_00000 appears under both train/ and val/"):
        suite(tmp_path / "d", tmp_path).domains("depth")


def test_preview_command(tmp_path):
    from PIL import Image

    from bench.cli import main

    write_diode(tmp_path / "d")
    out = tmp_path / "grid.png"
    assert main(["preview", "diode", "--root", str(tmp_path / "d"), "--out", str(out), "-o", "cache_dir=off",
                 "-o", "image_size=16", "--domains", "2"]) == 0
    assert Image.open(out).format == "PNG"
