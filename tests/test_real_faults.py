"""Faults found on real files, reproduced on fixtures written in the real formats: each gives one line
that names the file and says what is wrong, and nothing is silently corrupted."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from fixtures.nyuv2_writer import write_nyuv2
from fixtures.scannet_vp_writer import write_scannet_vp
from fixtures.taskonomy_writer import path_for, write_taskonomy

from domains.nyuv2 import NYUv2Suite
from domains.scannet_vp import ScanNetVPSuite, read_vanish_npz
from domains.suite import DataError, DataWarning
from domains.taskonomy import TaskonomySuite
from domains.taskonomy.classes import LABEL_SPACES
from domains.taskonomy.formats import soft_label

REPO = Path(__file__).resolve().parents[1]


def nyu(root: Path) -> NYUv2Suite:
    return NYUv2Suite(root=root, image_size=8, cache_dir="off", progress=False, workers=1)


# ---- NYUv2 (MTAN layout) ---------------------------------------------------------------------------------
def test_nyuv2_uint16_image_is_an_error_not_a_white_image(tmp_path: Path) -> None:
    write_nyuv2(tmp_path / "n")
    path = tmp_path / "n" / "train" / "image" / "0.npy"
    np.save(path, np.full((12, 16, 3), 40000, dtype=np.uint16))
    s = nyu(tmp_path / "n")
    with pytest.raises(DataError) as info:
        s.load("depth", s.domains("depth")[0])
    assert str(info.value) == (f"{path}: NYUv2 image has dtype uint16 with values 40000..40000; expected float32 in "
                               f"[0, 1] (the MTAN format) or uint8 in 0..255. Convert it (e.g. scale to [0, 1] as "
                               f"float32) instead of relying on a guess")


def test_nyuv2_float_image_out_of_range_is_an_error(tmp_path: Path) -> None:
    write_nyuv2(tmp_path / "n")
    path = tmp_path / "n" / "train" / "image" / "3.npy"
    np.save(path, (np.random.default_rng(0).random((12, 16, 3)) * 255).astype(np.float32))
    s = nyu(tmp_path / "n")
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: NYUv2 image has dtype float32 with values "
                                        r"[\d.]+\.\.[\d.]+; expected float32 in \[0, 1\] .* Rescale it to \[0, 1\]$"):
        s.load("normals", s.domains("normals")[0])


def test_nyuv2_negative_depth_is_an_error(tmp_path: Path) -> None:
    write_nyuv2(tmp_path / "n")
    path = tmp_path / "n" / "train" / "depth" / "1.npy"
    depth = np.load(path)
    depth[0, 0, 0] = -2.5
    np.save(path, depth)
    s = nyu(tmp_path / "n")
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: NYUv2 depth has negative values \(down to -2.5\)"):
        s.load("depth", s.domains("depth")[0])


def test_a_pickled_npy_is_refused_as_pickled_not_as_truncated(tmp_path: Path) -> None:
    write_nyuv2(tmp_path / "n")
    path = tmp_path / "n" / "train" / "normal" / "2.npy"
    np.save(path, np.array([{"normals": 1}], dtype=object), allow_pickle=True)
    s = nyu(tmp_path / "n")
    with pytest.raises(DataError) as info:
        s.load("normals", s.domains("normals")[0])
    message = str(info.value)
    assert message == (f"{path}: NYUv2 normals is a pickled object array, not a numeric one: pickled object arrays "
                       f"are refused because unpickling runs code stored in the file; re-save it as a plain numeric "
                       f"array (np.save of a float or integer array)")
    assert "truncated" not in message


# ---- ScanNet-VP ----------------------------------------------------------------------------------------
def first_npz(root: Path) -> Path:
    return sorted(root.glob("scene0000_00/*-vanish.npz"))[0]


def test_scannet_missing_key_is_one_message_not_wrapped(tmp_path: Path) -> None:
    write_scannet_vp(tmp_path / "s")
    npz = first_npz(tmp_path / "s")
    np.savez(npz, x=np.eye(3)[0], z=np.eye(3)[2])
    with pytest.raises(DataError) as info:
        read_vanish_npz(npz)
    assert str(info.value) == (f"{npz}: vanish.npz lacks key(s) y (expected x, y, z); re-extract it, or set "
                               f"skip_unreadable = true")


def test_scannet_pickled_npz_member_says_pickled(tmp_path: Path) -> None:
    write_scannet_vp(tmp_path / "s")
    npz = first_npz(tmp_path / "s")
    np.savez(npz, x=np.array([[1.0, 0, 0]], dtype=object), y=np.eye(3)[1], z=np.eye(3)[2])
    s = ScanNetVPSuite(root=tmp_path / "s", image_size=8, cache_dir="off", progress=False, workers=1)
    with pytest.raises(DataError) as info:
        s.load("vanishing_point", "scene0000_00")
    assert str(info.value).startswith(f"{npz}: vanish.npz holds a pickled object array: pickled object arrays are "
                                      f"refused because unpickling runs code stored in the file")
    assert "truncated" not in str(info.value)


def test_scannet_key_of_the_wrong_size(tmp_path: Path) -> None:
    write_scannet_vp(tmp_path / "s")
    npz = first_npz(tmp_path / "s")
    np.savez(npz, x=np.eye(3)[0], y=np.array([0.0, 1.0]), z=np.eye(3)[2])
    with pytest.raises(DataError) as info:
        read_vanish_npz(npz)
    assert str(info.value) == (f"{npz}: vanish.npz key 'y' holds 2 value(s) of dtype float64, expected a 3-vector of "
                               f"numbers (x, y, z directions); re-extract it, or set skip_unreadable = true")


# ---- Taskonomy (and Omnidata renders in its layout) -------------------------------------------------------
def taskonomy(root: Path, **options: object) -> TaskonomySuite:
    options.setdefault("image_size", 16)
    return TaskonomySuite(root=root, cache_dir="off", progress=False, workers=1, **options)


def test_omnidata_depth_unit_warns_once_per_domain_and_the_option_fixes_it(tmp_path: Path) -> None:
    truth = write_taskonomy(tmp_path / "t", buildings=("hm3d-a", "hm3d-b", "hm3d-c"), size=16,
                            depth_max_metres=8.0, folders=("rgb", "depth_zbuffer"))
    default = taskonomy(tmp_path / "t")
    with pytest.warns(DataWarning) as record:
        wrong = default.load("depth", "hm3d-a")
        default.load("depth", "hm3d-a")  # once per domain
    assert len(record) == 1
    message = str(record[0].message)
    assert re.fullmatch(r"suite 'taskonomy': domain 'hm3d-a' has a median depth of [\d.]+ m under "
                        r"depth_max_metres = 128 \(1/512 m per 16-bit step\); indoor views have medians of 0.3-15 m\. "
                        r"If the files were rendered with another depth range, set depth_max_metres to it "
                        r"\(taskonomy 128, replica 16, hm3d 8\)", message), message
    fixed = taskonomy(tmp_path / "t", depth_max_metres="hm3d")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        right = fixed.load("depth", "hm3d-a")
    np.testing.assert_allclose(wrong.targets[wrong.mask] / 16, right.targets[right.mask], rtol=1e-6)
    expected = np.stack([truth[k].depth for k in sorted(truth) if k[0] == "hm3d-a"])
    assert float(right.targets[right.mask].median()) == pytest.approx(np.median(expected[expected < 60]), rel=0.2)
    assert taskonomy(tmp_path / "t", depth_max_metres=8).depth_scale == 8.0


@pytest.mark.parametrize("value", ["metres", -4, 0])
def test_bad_depth_unit_option(tmp_path: Path, value: object) -> None:
    write_taskonomy(tmp_path / "t", buildings=("a",), folders=("rgb", "depth_zbuffer"))
    with pytest.raises(DataError) as info:
        taskonomy(tmp_path / "t", depth_max_metres=value)
    assert str(info.value) == (f"option depth_max_metres={value!r} must be a positive number of metres or one of "
                               f"taskonomy (128), replica (16), hm3d (8)")


def test_points_and_point_info_may_mix_across_buildings(tmp_path: Path) -> None:
    root = tmp_path / "t"
    write_taskonomy(root, buildings=("a", "b", "c"), folders=("rgb", "point_info"))
    write_taskonomy(root, buildings=("d", "e"), folders=("rgb", "points"), seed=1)
    s = taskonomy(root)
    assert s.tasks == ("vanishing_point",)
    assert s.domains("vanishing_point") == ["a", "b", "c", "d", "e"]
    split = s.split().domains["vanishing_point"]
    assert sorted(sum(split.values(), [])) == ["a", "b", "c", "d", "e"]
    assert len(s.load("vanishing_point", "d")) == 4 and len(s.load("vanishing_point", "a")) == 4


def test_a_root_with_rgb_only_names_the_label_folders(tmp_path: Path) -> None:
    write_taskonomy(tmp_path / "t", buildings=("a", "b", "c"), folders=("rgb",))
    s = taskonomy(tmp_path / "t")
    root = tmp_path / "t"
    with pytest.raises(DataError) as info:
        s.split()
    assert str(info.value) == (f"no label folders found under {root} for classification, depth, normals, "
                               f"vanishing_point (looked for: class_scene, depth_zbuffer, normal, point_info, points, "
                               f"in layout A); extract the label archives next to rgb/ or remove the task(s) from the "
                               f"spec")
    with pytest.raises(DataError) as info:
        s.require_tasks(["depth"])
    assert str(info.value) == (f"no label folders found under {root} for depth (looked for: depth_zbuffer, in layout "
                               f"A); extract the label archives next to rgb/ or remove the task(s) from the spec")


def test_skipped_sample_warning_prints_as_one_line(tmp_path: Path) -> None:
    root = tmp_path / "t"
    write_taskonomy(root, buildings=("a",), folders=("rgb", "depth_zbuffer"))
    bad = path_for(root, "A", "a", "rgb", 7, 0, "rgb", "png")
    bad.write_bytes(bad.read_bytes()[:40])
    script = (f"from domains.taskonomy import TaskonomySuite\n"
              f"s = TaskonomySuite(root={str(root)!r}, image_size=16, cache_dir='off', skip_unreadable=True, "
              f"progress=False, workers=1)\n"
              f"s.load('depth', 'a')\n")
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONWARNINGS="default")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"warning: suite 'taskonomy': skipped 1 sample(s) of domain 'a' (task depth): {bad}: "
                               f"cannot decode image")


def test_data_warnings_format_as_one_line_and_others_keep_theirs() -> None:
    assert warnings.formatwarning("two\n  lines", DataWarning, "x.py", 3, "source") == "warning: two lines\n"
    assert "source" in warnings.formatwarning("other", UserWarning, "x.py", 3, "source")


def write_soft(path: Path, vector: np.ndarray) -> Path:
    np.save(path, vector)
    return path


def test_class_scene_rows_must_be_probabilities_or_logits(tmp_path: Path) -> None:
    space = LABEL_SPACES["scene"]
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(365)).astype(np.float32)
    logits = np.log(probabilities) + 3.0  # logits: negative entries, any offset
    assert np.argmax(soft_label(write_soft(tmp_path / "p.npy", probabilities), space)) == \
        np.argmax(soft_label(write_soft(tmp_path / "l.npy", logits.astype(np.float32)), space))
    counts = write_soft(tmp_path / "c.npy", (probabilities * 1000).astype(np.float32))  # scores, not probabilities
    with pytest.raises(DataError) as info:
        soft_label(counts, space)
    assert re.fullmatch(rf"{re.escape(str(counts))}: class_scene soft label \(float32, values [\d.e+-]+\.\.[\d.e+-]+\) "
                        r"sums to 1000: it is neither probabilities \(non-negative, summing to 1\) nor logits \(which "
                        r"have negative entries\); re-export it as either, or set skip_unreadable = true",
                        str(info.value)), str(info.value)
    integers = write_soft(tmp_path / "i.npy", np.eye(365, dtype=np.int64)[3])
    with pytest.raises(DataError, match=r"class_scene soft label has dtype int64, expected float"):
        soft_label(integers, space)
