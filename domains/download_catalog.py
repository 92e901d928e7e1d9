"""Where each real suite's public release lives, what it is checked against, and what it needs first.

The one place that names download URLs and checksums (``mtml-bench download``
reads nothing else). A checksum is recorded only where its publisher states
it; where none is published the entry says so (``checksum_source``) and the
downloader checks the size it was told by the server, then records the
file's sha256 on first download in the target folder, so every later
verification or resume is checked against that.

Licence steps:
- DIODE: MIT (diode-dataset.org); no step.
- NYUv2 in the MTAN layout: preprocessed by the MTAN authors from NYU Depth V2
  (academic use) and Eigen & Fergus normals; published as a public link; no step.
- Taskonomy: the "Omnidata Dataset Research Terms" (non-commercial research
  or educational use) apply to anyone who accesses the data; the user accepts
  them on the command line (``--accept-terms``) before anything is fetched.
- ScanNet-VP: derived from ScanNet, whose Terms of Use must be signed and
  sent to the ScanNet team before access is granted; that cannot be done from
  a command line, so ``download`` refuses and says how to obtain it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Archive:
    """One file of a release."""

    name: str  # file name on disk (and on a mirror)
    url: str
    md5: str | None = None  # the publisher's checksum, if it states one
    size: int | None = None  # bytes, where known independently of the server
    marker: str = ""  # a path inside the extracted tree whose parent is the tree's top (see download.place)


@dataclass(frozen=True)
class Release:
    suite: str
    title: str
    licence: str
    checksum_source: str  # where the checksums come from, or that there are none
    layout: str  # what DIR holds afterwards (the suite's root)
    archives: tuple[Archive, ...] = ()
    terms: str | None = None  # terms the user must accept with --accept-terms before fetching
    refused: str | None = None  # why download cannot fetch it, and what to do instead
    listed: TaskonomyLists | None = None  # releases whose file list comes from the publisher's own lists
    spec_hint: str = ""


@dataclass(frozen=True)
class TaskonomyLists:
    """Taskonomy's official download lists: ``links.txt`` (one URL per tar) and ``md5sum.txt`` (md5, name)."""

    base_url: str = "https://datasets.epfl.ch/taskonomy/"
    links: str = "links.txt"
    md5sums: str = "md5sum.txt"
    split: str = "tiny"
    # label folders the benchmark's four tasks read (classification: class_scene; VPs: point_info)
    domains: tuple[str, ...] = ("rgb", "depth_zbuffer", "normal", "class_scene", "point_info")
    tar_name: str = "{building}_{domain}.tar"  # each holds a top folder {domain}/, extracted into DIR/{building}/


DIODE_BASE = "http://diode-dataset.s3.amazonaws.com/"

RELEASES: dict[str, Release] = {
    "taskonomy": Release(
        suite="taskonomy",
        title="Taskonomy 'tiny' split (35 buildings) through the official download lists: rgb, depth_zbuffer, "
              "normal, class_scene, point_info",
        licence="Omnidata Dataset Research Terms (StanfordVL/taskonomy data/LICENSE): non-commercial research "
                "or educational use",
        checksum_source="md5sum.txt published beside the official links.txt",
        layout="DIR/{building}/{domain}/point_P_view_V_domain_{domain}.{png,npy,json}  (layout A)",
        terms="the Omnidata Dataset Research Terms (https://github.com/StanfordVL/taskonomy/blob/master/data/LICENSE): "
              "use only for non-commercial research or education",
        listed=TaskonomyLists(),
        spec_hint="mtml-bench run taskonomy --root DIR",
    ),
    "diode": Release(
        suite="diode",
        title="DIODE validation split: RGB, depth, depth masks and normals of its indoor and outdoor scenes",
        licence="MIT (diode-dataset.org)",
        checksum_source="MD5s published in the diode-devkit README (diode-dataset/diode-devkit)",
        layout="DIR/val/{indoors,outdoor}/scene_*/scan_*/*.png, *_depth.npy, *_depth_mask.npy, *_normal.npy",
        archives=(
            Archive("val.tar.gz", DIODE_BASE + "val.tar.gz", md5="5c895d09201b88973c8fe4552a67dd85",
                    size=2_774_625_282, marker="val"),
            Archive("val_normals.tar.gz", DIODE_BASE + "val_normals.tar.gz",
                    md5="323ccaf60abebdb59705dcd8b529d709", marker="val"),
        ),
        spec_hint="mtml-bench run diode --root DIR",
    ),
    "nyuv2": Release(
        suite="nyuv2",
        title="NYUv2 preprocessed by MTAN (lorenmt/mtan): 795 train + 654 val images, 288x384 .npy",
        licence="NYU Depth V2 (academic use); normals from Eigen & Fergus; preprocessing by the MTAN authors",
        checksum_source="none published: the size the server reports is checked, and the sha256 of the first "
                        "download is recorded in DIR/.mtml-download.json and checked on every later run",
        layout="DIR/{train,val}/{image,label,depth,normal}/{i}.npy",
        archives=(Archive("nyuv2.zip", "https://www.dropbox.com/s/p2nn02wijg7peiy/nyuv2.zip?dl=1",
                          marker="train/image"),),
        spec_hint="mtml-bench run nyuv2 --root DIR",
    ),
    "scannet_vp": Release(
        suite="scannet_vp",
        title="ScanNet-VP (NeurVPS preprocessing of ScanNet)",
        licence="ScanNet Terms of Use (signed agreement required)",
        checksum_source="not applicable (not fetched)",
        layout="DIR/scannetv2_{train,valid}.txt and DIR/{scene}/*color.png + *vanish.npz",
        refused="ScanNet-VP is derived from ScanNet, whose Terms of Use must be signed and sent to the ScanNet "
                "team before access is granted (www.scan-net.org). Once you have access, fetch the NeurVPS "
                "'scannet-vp' archive (split zip scannet-vp.z01..z07 + scannet-vp.zip, from the NeurVPS authors' "
                "Hugging Face repository named in zhou13/neurvps README), join it with 'zip -FF', unzip, and run "
                "with --root pointing at the folder that holds scannetv2_train.txt",
        spec_hint="mtml-bench run scannet_vp --root DIR",
    ),
}
