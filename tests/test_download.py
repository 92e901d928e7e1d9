"""``mtml-bench download`` against a local HTTP server (127.0.0.1) serving fixture archives built here.

The archives hold fixture trees in each release's real layout (written by the
suites' fixture writers), packed the way the publishers pack them; the tests
show the download resumes with HTTP Range, checks checksums (publisher MD5,
or a sha256 recorded at first download), extracts into the layout the loader
reads (the suite's own loader finds the domains), and refuses what needs a
licence step. No external host is contacted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest
from fixtures.diode_writer import write_diode
from fixtures.http_server import Served, serve
from fixtures.nyuv2_writer import write_nyuv2
from fixtures.taskonomy_writer import write_taskonomy

from bench.cli import main
from domains.download import RECORD, DownloadError, download, fetch
from domains.download_catalog import RELEASES


def tar_bytes(root: Path, members: list[Path], mode: str = "w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:
        for path in members:
            tar.add(path, arcname=str(path.relative_to(root)))
    return buffer.getvalue()


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


@pytest.fixture
def diode_archives(tmp_path: Path) -> dict[str, bytes]:
    """val.tar.gz (rgb, depth, masks) and val_normals.tar.gz (normals), both rooted at val/ as published."""
    src = tmp_path / "src"
    write_diode(src)
    files = sorted(p for p in (src / "val").rglob("*") if p.is_file())
    normals = [p for p in files if p.name.endswith("_normal.npy")]
    rest = [p for p in files if p not in normals]
    return {"val.tar.gz": tar_bytes(src, rest), "val_normals.tar.gz": tar_bytes(src, normals)}


def diode_release(archives: dict[str, bytes], base: str, **md5s: str) -> object:
    """The catalogue's DIODE entry pointed at the local server, with the fixture archives' MD5s."""
    release = RELEASES["diode"]
    fixed = tuple(dataclasses.replace(a, url=base + a.name, size=None,
                                      md5=md5s.get(a.name.split(".")[0], md5(archives[a.name])))
                  for a in release.archives)
    return dataclasses.replace(release, archives=fixed)


def test_diode_download_resumes_checks_md5_and_the_loader_reads_the_result(tmp_path: Path,
                                                                            diode_archives: dict[str, bytes]) -> None:
    state = Served(files={f"/{k}": v for k, v in diode_archives.items()},
                   drop_after={"/val.tar.gz": len(diode_archives["val.tar.gz"]) // 3})
    with serve(state):
        release = diode_release(diode_archives, state.base_url)
        lines = download(release, tmp_path / "d", progress=False, report=lambda _: None)
    # the first transfer was cut at a third; the automatic retry asked for the rest only
    val_requests = [r for p, r in state.requests if p == "/val.tar.gz"]
    assert val_requests == [None, f"bytes={len(diode_archives['val.tar.gz']) // 3}-"]
    assert "resumed at byte" in lines[0] and "md5 (publisher)" in lines[0]
    out = tmp_path / "d"
    assert not (out / "val.tar.gz").exists() and not list(out.glob("*.part"))  # archives removed once placed
    from domains.diode import DiodeSuite

    suite = DiodeSuite(root=out, cache_dir="off", split="auto", progress=False)
    assert suite.domains("depth") == ["scene_00019", "scene_00022"] == suite.domains("normals")
    assert len(suite.load("normals", "scene_00019")) == 2
    record = json.loads((out / RECORD).read_text())["files"]
    assert record["val.tar.gz"]["md5"] == md5(diode_archives["val.tar.gz"]) and record["val.tar.gz"]["placed"]


def test_a_second_run_skips_what_is_in_place(tmp_path: Path, diode_archives: dict[str, bytes]) -> None:
    state = Served(files={f"/{k}": v for k, v in diode_archives.items()})
    with serve(state):
        release = diode_release(diode_archives, state.base_url)
        download(release, tmp_path / "d", progress=False, report=lambda _: None)
        before = len(state.requests)
        again = download(release, tmp_path / "d", progress=False, report=lambda _: None)
    assert len(state.requests) == before and all("already in place" in line for line in again)


def test_interrupted_download_is_resumed_by_running_the_command_again(tmp_path: Path) -> None:
    body = bytes(range(256)) * 4000
    state = Served(files={"/blob.bin": body}, drop_after={"/blob.bin": 300_000})
    with serve(state):
        with pytest.raises(DownloadError, match=r"stopped after 300,000 bytes .* run the same command again"):
            fetch(state.base_url + "blob.bin", tmp_path / "blob.bin", progress=False, retries=0)
        assert (tmp_path / "blob.bin.part").stat().st_size == 300_000
        got = fetch(state.base_url + "blob.bin", tmp_path / "blob.bin", progress=False, retries=0)
    assert state.requests[-1] == ("/blob.bin", "bytes=300000-")
    assert got.resumed_from == 300_000 and (tmp_path / "blob.bin").read_bytes() == body
    assert got.sha256 == hashlib.sha256(body).hexdigest()


def test_a_server_without_range_support_sends_the_whole_file_again(tmp_path: Path) -> None:
    body = b"x" * 100_000 + b"y" * 100_000
    (tmp_path / "f.bin.part").write_bytes(body[:50_000])
    state = Served(files={"/f.bin": body}, ranges=False)
    with serve(state):
        got = fetch(state.base_url + "f.bin", tmp_path / "f.bin", progress=False)
    assert (tmp_path / "f.bin").read_bytes() == body and got.size == len(body)


def test_md5_mismatch_deletes_the_file_and_places_nothing(tmp_path: Path, diode_archives: dict[str, bytes],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    state = Served(files={f"/{k}": v for k, v in diode_archives.items()})
    with serve(state):
        release = diode_release(diode_archives, state.base_url, val="0" * 32)
        with pytest.raises(DownloadError) as err:
            download(release, tmp_path / "d", progress=False, report=lambda _: None)
    assert err.value.exit_code == 3
    assert str(err.value).startswith(f"val.tar.gz: md5 {md5(diode_archives['val.tar.gz'])} differs from the "
                                     f"publisher's {'0' * 32}; the file was deleted")
    assert not (tmp_path / "d" / "val").exists() and not (tmp_path / "d" / "val.tar.gz").exists()


@pytest.fixture
def nyu_zip(tmp_path: Path) -> bytes:
    """The MTAN release: one zip whose tree sits below a top folder nyuv2/."""
    src = tmp_path / "nsrc"
    write_nyuv2(src / "nyuv2")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for path in sorted((src / "nyuv2").rglob("*.npy")):
            zf.write(path, str(path.relative_to(src)))
    return buffer.getvalue()


def test_nyuv2_without_a_published_checksum_records_sha256_and_checks_it_later(
        tmp_path: Path, nyu_zip: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "n"
    with serve(Served(files={"/nyuv2.zip": nyu_zip})) as state:
        code = main(["download", "nyuv2", "--to", str(out), "--mirror", state.base_url, "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "size only (no published checksum); sha256 recorded now" in printed
    assert "nyuv2 in " in printed and "depth 2 domain(s), normals 2 domain(s)" in printed  # the loader reads it
    assert sorted(p.name for p in (out / "train").iterdir()) == ["depth", "image", "label", "normal"]
    record = json.loads((out / RECORD).read_text())
    assert record["files"]["nyuv2.zip"]["sha256"] == hashlib.sha256(nyu_zip).hexdigest()
    # a later run of the same folder that gets other bytes (the release changed upstream) is refused
    record["files"]["nyuv2.zip"]["placed"] = False
    (out / RECORD).write_text(json.dumps(record))
    with serve(Served(files={"/nyuv2.zip": nyu_zip[:-10] + b"0123456789"})) as state:
        code = main(["download", "nyuv2", "--to", str(out), "--mirror", state.base_url, "--no-progress"])
    err = capsys.readouterr().err
    assert code == 3 and "differs from the one recorded at first download" in err and err.count("\n") == 1


def test_taskonomy_needs_accepted_terms_then_uses_the_official_lists(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    buildings = ("hanson", "ihlen", "wiconisco")  # train, test and val buildings of the tiny split
    src = tmp_path / "tsrc"
    write_taskonomy(src, layout="A", buildings=buildings, folders=("rgb", "depth_zbuffer", "normal", "point_info"))
    files, md5_lines, links = {}, [], []
    for building in buildings:
        for domain in ("rgb", "depth_zbuffer", "normal", "point_info"):
            name = f"{building}_{domain}.tar"
            data = tar_bytes(src / building, sorted((src / building / domain).rglob("*")), mode="w")
            files[f"/{name}"] = data
            md5_lines.append(f"{md5(data)}  {name}")
            links.append(f"https://datasets.epfl.ch/taskonomy/{name}")
    files["/links.txt"] = "\n".join(links).encode()
    files["/md5sum.txt"] = "\n".join(md5_lines).encode()
    args = ["download", "taskonomy", "--to", str(tmp_path / "t"), "--buildings", ",".join(buildings),
            "--domains", "rgb,depth_zbuffer,normal,point_info", "--no-progress"]
    with serve(Served(files=files)) as state:
        assert main([*args, "--mirror", state.base_url]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: taskonomy is distributed under the Omnidata Dataset Research Terms")
        assert "run again with --accept-terms" in err and err.count("\n") == 1
        assert not state.requests  # nothing fetched before the terms are accepted
        code = main([*args, "--mirror", state.base_url, "--accept-terms"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert printed.count("md5 (publisher)") == 12
    assert "depth 3 domain(s)" in printed and "vanishing_point 3 domain(s)" in printed
    assert sorted(p.name for p in (tmp_path / "t" / "hanson").iterdir()) == ["depth_zbuffer", "normal", "point_info",
                                                                             "rgb"]


def test_taskonomy_building_outside_the_tiny_split_is_refused(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    lists = {"/links.txt": b"https://datasets.epfl.ch/taskonomy/hanson_rgb.tar", "/md5sum.txt": b""}
    with serve(Served(files=lists)) as state:
        code = main(["download", "taskonomy", "--to", str(tmp_path / "t"), "--accept-terms", "--buildings",
                     "nowhere", "--mirror", state.base_url, "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: --buildings: nowhere not in the 'tiny' split; its buildings: ")


def test_an_archive_member_that_escapes_the_folder_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("../evil.txt", "x")
        zf.writestr("nyuv2/train/image/0.npy", "x")
    with serve(Served(files={"/nyuv2.zip": buffer.getvalue()})) as state:
        with pytest.raises(DownloadError, match="would be written outside the target folder"):
            download(RELEASES["nyuv2"], tmp_path / "n", mirror=state.base_url, progress=False, report=lambda _: None)
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "n" / "train").exists()


@pytest.mark.parametrize(("argv", "message"), [
    (["download", "scannet_vp", "--to", "X"], "error: scannet_vp cannot be downloaded by mtml-bench: ScanNet-VP is "
                                              "derived from ScanNet, whose Terms of Use must be signed"),
    (["download", "imagenet", "--to", "X"], "error: no download for suite 'imagenet'; downloadable: taskonomy, "
                                            "diode, nyuv2, scannet_vp. See mtml-bench download --list"),
    (["download", "synthrooms", "--to", "X"], "error: no download for suite 'synthrooms' (synthrooms is generated "
                                              "on first use; it needs no download)"),
    (["download", "diode"], "error: download diode needs --to DIR"),
    (["download"], "error: download needs a SUITE (taskonomy, diode, nyuv2, scannet_vp) and --to DIR, or --list"),
    (["download", "diode", "--to", "X", "--retries", "-1"], "error: --retries -1: must be 0 or more"),
    (["download", "diode", "--to", "X", "--buildings", "a"], "error: --buildings and --domains only apply to "
                                                             "taskonomy, not diode"),
])
def test_bad_download_requests_get_one_line_and_exit_2(argv: list[str], message: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert not (tmp_path / "X").exists() or not any((tmp_path / "X").iterdir())


def test_unreachable_mirror_is_a_resumable_network_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with serve(Served()) as state:
        closed = state.base_url
    code = main(["download", "nyuv2", "--to", str(tmp_path / "n"), "--mirror", closed, "--no-progress"])
    err = capsys.readouterr().err
    assert code == 3 and err.startswith(f"error: cannot reach {closed}nyuv2.zip") and err.count("\n") == 1


def test_list_says_what_each_suite_needs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["download", "--list"]) == 0
    out = capsys.readouterr().out
    assert "diode: DIODE validation split" in out and "no licence step" in out
    assert "needs --accept-terms" in out and "refused: needs a licence step outside mtml-bench" in out
    assert "checksums: none published" in out  # nyuv2: said honestly
