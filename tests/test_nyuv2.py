"""NYUv2 (MTAN layout) loader on written fixtures: units, masks, domains, splits, errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures.nyuv2_writer import write_nyuv2

from domains.catalog import SUITES
from domains.nyuv2 import NYUv2Suite
from domains.suite import DataError

torch.set_num_threads(1)


def suite(root: Path, tmp_path: Path, **options) -> NYUv2Suite:
    options.setdefault("image_size", [12, 16])
    options.setdefault("cache_dir", tmp_path / "cache")
    options.setdefault("chunk_size", 4)
    return NYUv2Suite(root=root, **options)


@pytest.mark.parametrize("image_dtype", ["float32", "uint8"])
def test_depth_normals_and_images_round_trip(tmp_path, image_dtype):
    truth = write_nyuv2(tmp_path / "n", image_dtype=image_dtype)
    s = suite(tmp_path / "n", tmp_path)
    assert s.tasks == ("depth", "normals")
    assert s.domains("depth") == ["train/0000-0003", "train/0004-0007", "val/0000-0003"]
    views = [truth[("train", i)] for i in range(4, 8)]
    depth = s.load("depth", "train/0004-0007")
    np.testing.assert_array_equal(depth.mask[:, 0].numpy(), np.stack([v.depth_mask for v in views]))
    np.testing.assert_allclose(depth.targets[:, 0].numpy(), np.stack([v.depth for v in views]))
    expected_images = np.stack([v.image if image_dtype == "uint8" else np.round(v.image * 255) for v in views])
    np.testing.assert_array_equal((depth.images * 255).round().permute(0, 2, 3, 1).numpy(), expected_images)
    normals = s.load("normals", "train/0004-0007")
    np.testing.assert_array_equal(normals.mask[:, 0].numpy(), np.stack([v.normal_mask for v in views]))
    np.testing.assert_allclose(normals.targets.permute(0, 2, 3, 1).numpy(), np.stack([v.normals for v in views]),
                               atol=1e-6)


def test_scene_file_domains_and_official_split(tmp_path):
    write_nyuv2(tmp_path / "n")
    scenes = tmp_path / "scenes.csv"
    rows = ["part,index,scene"] + [f"train,{i},{'bedroom_0001' if i < 3 else 'kitchen_0002' if i < 6 else 'office_0003'}"
                                   for i in range(8)] + [f"val,{i},bathroom_0004" for i in range(4)]
    scenes.write_text("\n".join(rows) + "\n")
    s = suite(tmp_path / "n", tmp_path, scenes=scenes)
    assert s.domains("depth") == ["bathroom_0004", "bedroom_0001", "kitchen_0002", "office_0003"]
    assert len(s.load("depth", "kitchen_0002")) == 3
    parts = s.split().domains["depth"]
    assert parts["meta_test"] == ["bathroom_0004"]
    assert len(parts["meta_val"]) == 1 and len(parts["meta_train"]) == 2
    scenes.write_text("\n".join(rows[:-1]) + "\n")
    with pytest.raises(DataError, match=r"scenes.csv: 1 image\(s\) have no scene \(first: val index 3\)"):
        suite(tmp_path / "n", tmp_path, scenes=scenes)


def test_registry_and_lacking_task_message(tmp_path):
    write_nyuv2(tmp_path / "n")
    s = SUITES.get("nyuv2")(root=str(tmp_path / "n"), image_size=8, split="official", cache_dir="off",
                            skip_unreadable=False, chunk_size=4)
    assert s.split().domains["normals"]["meta_test"] == ["val/0000-0003"]
    with pytest.raises(DataError, match=r"has no labels for task\(s\) classification; it offers: depth, normals"):
        s.require_tasks(["classification", "depth"])


def test_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match="nowhere: dataset root for suite 'nyuv2' does not exist"):
        NYUv2Suite(root=tmp_path / "nowhere")
    (tmp_path / "bare").mkdir()
    with pytest.raises(DataError, match=r"bare: no MTAN NYUv2 'train/image' or 'val/image' folder"):
        NYUv2Suite(root=tmp_path / "bare")
    write_nyuv2(tmp_path / "n")
    depth = tmp_path / "n" / "train" / "depth" / "5.npy"
    np.save(depth, np.ones((12, 16), dtype=np.float32))
    with pytest.raises(DataError, match=rf"{depth}: NYUv2 depth has shape 12x16, expected 12x16x1"):
        suite(tmp_path / "n", tmp_path).load("depth", "train/0004-0007")
    depth.unlink()
    with pytest.raises(DataError, match=rf"{depth}: missing; MTAN files are numbered 0..N-1"):
        suite(tmp_path / "n", tmp_path).load("depth", "train/0004-0007")
    image = tmp_path / "n" / "val" / "image" / "1.npy"
    image.write_bytes(image.read_bytes()[:100])
    with pytest.raises(DataError, match=rf"{image}: cannot read NYUv2 image"):
        suite(tmp_path / "n", tmp_path).load("normals", "val/0000-0003")
    shutil.rmtree(tmp_path / "n" / "val" / "normal")
    s = suite(tmp_path / "n", tmp_path)
    missing = tmp_path / "n" / "val" / "normal"
    with pytest.raises(DataError, match=rf"{missing}: modality folder 'normal' of the val part is missing"):
        s.load("normals", "val/0000-0003")
    with pytest.raises(DataError, match=rf"{missing}: modality folder is missing"):
        s.split()


def test_preview_command(tmp_path, capsys):
    from PIL import Image

    from bench.cli import main

    write_nyuv2(tmp_path / "n")
    out = tmp_path / "grid.png"
    assert main(["preview", "nyuv2", "--root", str(tmp_path / "n"), "--out", str(out), "-o", "cache_dir=off",
                 "-o", "chunk_size=4", "--domains", "2"]) == 0
    assert Image.open(out).format == "PNG"
    assert main(["preview", "nyuv2", "--root", str(tmp_path / "n"), "--out", str(out), "-o", "cache_dir=off"]) == 2
    assert "split official leaves meta_val without domains" in capsys.readouterr().err
