"""``mtml-bench check SUITE --root DIR`` on a good and a faulty fixture of every real suite: counts, dtypes
and value ranges on the good one (exit 0), and every planted fault listed on the faulty one (exit 2)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from fixtures.diode_writer import write_diode
from fixtures.nyuv2_writer import write_nyuv2
from fixtures.scannet_vp_writer import write_scannet_vp
from fixtures.taskonomy_writer import path_for, write_taskonomy

from bench.cli import main


def check(capsys: pytest.CaptureFixture[str], suite: str, root: Path, *options: str) -> tuple[int, str, str]:
    code = main(["check", suite, "--root", str(root), "-o", "cache_dir=off", "-o", "progress=false", *options])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def rows(out: str) -> dict[tuple[str, str], list[str]]:
    """(task, domain) -> the table row's columns: samples, read, skipped, unreadable, values."""
    found = {}
    for line in out.splitlines()[2:]:
        parts = line.split(None, 6)
        if len(parts) >= 6 and parts[2].isdigit():
            found[(parts[0], parts[1])] = parts[2:]
    return found


def good(code: int, out: str, err: str) -> None:
    assert code == 0, out + err
    assert out.rstrip().endswith("no problems found") and err == ""


def problems(code: int, out: str, err: str) -> list[str]:
    assert code == 2, out + err
    listed = [line[4:] for line in out.splitlines() if line.startswith("  - ")]
    assert re.search(rf"^problems \({len(listed)}\):$", out, re.M)
    root = re.search(r" under (\S+):", out)[1]
    assert err.strip() == f"error: {len(listed)} problem(s) in {root}, listed above"
    return listed


# ---- Taskonomy -----------------------------------------------------------------------------------------
def test_check_taskonomy_good(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_taskonomy(tmp_path / "t", buildings=("a", "b", "c"), points=2, views=2, size=16)
    code, out, err = check(capsys, "taskonomy", tmp_path / "t")
    good(code, out, err)
    assert out.splitlines()[0] == (f"check taskonomy under {tmp_path / 't'}: tasks classification, depth, normals, "
                                   f"vanishing_point, 3 domain(s)")
    table = rows(out)
    assert len(table) == 12 and all(r[:4] == ["4", "4", "0", "0"] for r in table.values())
    depth = table[("depth", "a")][4]
    p5, p50, p95 = (float(v) for v in re.search(r"depth m p5/p50/p95 ([\d.]+)/([\d.]+)/([\d.]+)", depth).groups())
    assert 0.5 <= p5 < p50 < p95 <= 10.0  # the fixture's 0.5-10 m, in metres
    assert re.search(r"normal length p1/p50/p99 0\.99\d/1\.00\d/1\.0\d\d", table[("normals", "a")][4])
    assert "VP norm min/max 1.000/1.000" in table[("vanishing_point", "a")][4]
    assert "files (depth): image: png RGB uint8 x12; label: png I;16 uint16 x12" in out
    assert "files (classification): image: png RGB uint8 x12; label: npy float32 365 x12" in out


def test_check_taskonomy_faulty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "t"
    write_taskonomy(root, buildings=("a", "b", "c"), size=16, folders=("rgb", "depth_zbuffer"), depth_max_metres=8)
    bad = path_for(root, "A", "b", "depth_zbuffer", 7, 1, "depth_zbuffer", "png")
    bad.write_bytes(bad.read_bytes()[:50])
    path_for(root, "A", "c", "depth_zbuffer", 107, 0, "depth_zbuffer", "png").unlink()
    code, out, err = check(capsys, "taskonomy", root)
    listed = problems(code, out, err)
    assert any(p.startswith(f"{bad}: cannot decode image") for p in listed), listed
    missing = path_for(root, "A", "c", "rgb", 107, 0, "rgb", "png")
    assert f"would skip {missing}: no matching depth_zbuffer file" in listed
    for building in "abc":
        assert any(re.match(rf"domain '{building}' \(task depth\): median depth [\d.]+ m is outside 0.3-15 m", p)
                   for p in listed), listed
    assert rows(out)[("depth", "b")][:4] == ["4", "3", "0", "1"]
    # the option that fits the files clears the depth problems
    code, out, err = check(capsys, "taskonomy", root, "-o", "depth_max_metres=hm3d")
    assert not any("median depth" in p for p in problems(code, out, err))


# ---- NYUv2 ---------------------------------------------------------------------------------------------
def test_check_nyuv2_good(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_nyuv2(tmp_path / "n")
    code, out, err = check(capsys, "nyuv2", tmp_path / "n", "-o", "chunk_size=4")
    good(code, out, err)
    table = rows(out)
    assert set(table) == {(t, d) for t in ("depth", "normals") for d in ("train/0000-0003", "train/0004-0007",
                                                                         "val/0000-0003")}
    assert "files (depth): image: npy float32 12x16x3 x12; label: npy float32 12x16x1 x12" in out
    assert re.search(r"image [\d.e-]+\.\.(0\.9\d+|1) \(as \[0,1\]\)", table[("depth", "val/0000-0003")][4])


def test_check_nyuv2_faulty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_nyuv2(tmp_path / "n")
    image = tmp_path / "n" / "val" / "image" / "2.npy"
    np.save(image, np.full((12, 16, 3), 300, dtype=np.uint16))
    code, out, err = check(capsys, "nyuv2", tmp_path / "n", "-o", "chunk_size=4")
    listed = problems(code, out, err)
    message = (f"{image}: NYUv2 image has dtype uint16 with values 300..300; expected float32 in [0, 1] (the MTAN "
               f"format) or uint8 in 0..255. Convert it (e.g. scale to [0, 1] as float32) instead of relying on a guess")
    assert listed == [message]  # listed once, although both tasks read the image
    assert "image: npy uint16 12x16x3 x1" in out


# ---- DIODE ---------------------------------------------------------------------------------------------
def test_check_diode_good(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_diode(tmp_path / "d", images_per_scan=3)
    code, out, err = check(capsys, "diode", tmp_path / "d")
    good(code, out, err)
    assert "files (depth): depth: npy float32 12x16x1 x" in out
    assert all(int(r[0]) >= 3 for r in rows(out).values())


def test_check_diode_faulty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_diode(tmp_path / "d", images_per_scan=3)
    depth = sorted((tmp_path / "d").rglob("*_depth.npy"))[0]
    depth.write_bytes(depth.read_bytes()[:60])
    normal = sorted((tmp_path / "d").rglob("*_normal.npy"))[-1]
    np.save(normal, np.full((12, 16, 3), 7.0, dtype=np.float32))  # not unit vectors
    code, out, err = check(capsys, "diode", tmp_path / "d")
    listed = problems(code, out, err)
    assert any(p.startswith(f"{depth}: ") and "truncated or corrupt" in p for p in listed), listed
    assert f"{normal}: valid normals have median length 12.124, expected 1 (unit vectors): wrong encoding?" in listed


# ---- ScanNet-VP ----------------------------------------------------------------------------------------
def test_check_scannet_vp_good(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_scannet_vp(tmp_path / "s")
    code, out, err = check(capsys, "scannet_vp", tmp_path / "s")
    good(code, out, err)
    assert len(rows(out)) == 4
    assert "files (vanishing_point): image: png RGB uint8 x12; label: npz keys x,y,z x12" in out


def test_check_scannet_vp_faulty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_scannet_vp(tmp_path / "s")
    scene = tmp_path / "s" / "scene0001_00"
    npz = sorted(scene.glob("*-vanish.npz"))[0]
    np.savez(npz, x=np.eye(3)[0], z=np.eye(3)[2])
    lonely = sorted(scene.glob("*-vanish.npz"))[1]
    lonely.unlink()
    code, out, err = check(capsys, "scannet_vp", tmp_path / "s")
    listed = problems(code, out, err)
    image = lonely.with_name(lonely.name.replace("vanish.npz", "color.png"))
    assert listed == [f"{npz}: vanish.npz lacks key(s) y (expected x, y, z); re-extract it, or set "
                      f"skip_unreadable = true", f"would skip {image}: no matching {lonely.name}"]


def test_check_refuses_a_generated_suite(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "synthrooms"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("error: suite 'synthrooms' is not read from a dataset folder, so there is nothing to check; check "
                   "reads the real-data suites (taskonomy, diode, nyuv2, scannet_vp)")


def test_check_a_missing_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "nyuv2", "--root", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: {tmp_path / 'nowhere'}: dataset root for suite 'nyuv2' does not exist or is not a folder; "
                   f"point --root (or the spec's suite.root) at the extracted dataset, e.g. the folder "
                   f"'mtml-bench download nyuv2 --to DIR' filled")
