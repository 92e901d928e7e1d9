"""'mtml-bench preview' draws any suite; the SynthRooms grid is written from real renders."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from bench.cli import main
from domains.preview import preview_grid
from domains.suite import DomainData, Split, Suite


def test_preview_of_synthrooms(tmp_path, capsys) -> None:
    out = tmp_path / "grid.png"
    code = main(["preview", "synthrooms", "--out", str(out), "--root", str(tmp_path / "cache"),
                 "--option", "profile=tiny", "--option", "progress=false", "--domains", "3"])
    assert code == 0, capsys.readouterr().err
    image = np.asarray(Image.open(out))
    assert image.shape[0] > 400 and image.shape[1] > 600
    assert image[..., :3].std() > 20  # not a blank canvas


class _DepthOnly(Suite):
    """A real-data-like suite: depth labels only, no focal lengths, its own domain names."""

    name = "depthonly"

    @property
    def tasks(self) -> tuple[str, ...]:
        return ("depth",)

    def split(self) -> Split:
        return Split("depthonly", 1, {"depth": {"meta_train": ["a"], "meta_val": ["b"], "meta_test": ["c"]}})

    def load(self, task: str, domain: str) -> DomainData:
        g = torch.Generator().manual_seed(0)
        return DomainData(task, domain, torch.rand(2, 3, 16, 16, generator=g), torch.rand(2, 1, 16, 16) + 1,
                          torch.ones(2, 1, 16, 16, dtype=torch.bool))


def test_preview_is_generic_over_suites(tmp_path) -> None:
    path = preview_grid(_DepthOnly(), tmp_path / "p.png", n_domains=3)
    assert path.exists() and Image.open(path).size[0] > 300


def test_preview_user_errors(tmp_path, capsys) -> None:
    assert main(["preview", "synthrooms", "--out", str(tmp_path / "grid.jpg")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "must end in .png" in err
    assert main(["preview", "nosuchsuite", "--out", str(tmp_path / "g.png")]) == 2
    assert "unknown suite" in capsys.readouterr().err
