"""A picture of any suite's images and labels, to check by eye that the labels match the images.

One row per domain: RGB, depth (near = bright), normals coloured as Taskonomy
stores them ((n + 1) / 2: floors magenta, ceilings light green, left walls
orange), the three Manhattan directions drawn over the image (x red, y green,
z blue; short segments that point at each vanishing point and so must run
along the room's edges), then classification rows with class names.

Generic over ``Suite``: a panel whose task the suite lacks says so. Drawing
vanishing points needs the focal length; a suite may offer
``focal_px(task, domain) -> array (N,)`` (pixels at the loaded resolution).
Without it the directions are drawn as an axis gizmo (their x, y components)
from the image centre.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from domains.suite import DomainData, Suite  # noqa: E402

AXIS_COLOURS = ("#e41a1c", "#4daf4a", "#377eb8")
COLUMNS = ("RGB", "depth", "normals", "vanishing directions")


def _rgb(data: DomainData, i: int) -> np.ndarray:
    return data.images[i].permute(1, 2, 0).clamp(0, 1).numpy()


def _pick_domains(suite: Suite, n: int) -> list[tuple[str, str]]:
    """(domain, part) pairs spread over the parts of the first geometric task the suite has."""
    split = suite.split()
    task = next((t for t in ("depth", "normals", "vanishing_point") if t in suite.tasks and t in split.domains), None)
    if task is None:
        return []
    pools = [[(d, p) for d in split.domains[task][p]] for p in ("meta_test", "meta_train", "meta_val")]
    chosen: list[tuple[str, str]] = []
    while len(chosen) < n and any(pools):
        for pool in pools:
            if pool and len(chosen) < n:
                chosen.append(pool.pop(0))
    return chosen


def _blank(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=7, transform=ax.transAxes)


def _vp_segments(ax: Axes, vp: np.ndarray, size: int, focal: float | None) -> None:
    """Segments through a 4x4 grid of points, each pointing at the vanishing point of one direction."""
    c = size / 2.0
    if focal is None:
        for k, v in enumerate(vp):
            ax.plot([c, c + v[0] * size * .35], [c, c + v[1] * size * .35], color=AXIS_COLOURS[k], lw=1.5)
        return
    grid = (np.arange(4) + .5) * size / 4
    half = size / 10
    for k, v in enumerate(vp):
        h = np.array([focal * v[0] + c * v[2], focal * v[1] + c * v[2], v[2]])  # homogeneous VP (K v, pixel units)
        for u0 in grid:
            for v0 in grid:
                direction = h[:2] - np.array([u0, v0]) * h[2]  # toward the VP, also when it is at infinity
                norm = np.linalg.norm(direction)
                if norm < 1e-9:
                    continue
                dx, dy = direction / norm * half
                ax.plot([u0 - dx, u0 + dx], [v0 - dy, v0 + dy], color=AXIS_COLOURS[k], lw=1.1)


def preview_grid(suite: Suite, out: Path | str, n_domains: int = 6, class_rows: int = 2, per_class_row: int = 6,
                 sample: int = 0) -> Path:
    """Write a PNG grid (rows = domains) of one sample per domain and every label the suite has."""
    out = Path(out)
    domains = _pick_domains(suite, n_domains)
    split = suite.split()
    cls_domains: list[tuple[str, str]] = []
    if "classification" in suite.tasks and "classification" in split.domains:
        for part in ("meta_train", "meta_test", "meta_val"):
            cls_domains += [(d, part) for d in split.domains["classification"][part][:1]]
        cls_domains = cls_domains[:class_rows]
    n_cols = max(len(COLUMNS), per_class_row)
    n_rows = len(domains) + len(cls_domains)
    if n_rows == 0:
        raise ValueError(f"suite '{suite.name}' has no domains to preview")
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.9 * n_cols, 2.0 * n_rows), squeeze=False)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
        ax.axis("off")
    names = suite.class_names() or []
    focal_fn = getattr(suite, "focal_px", None)
    for r, (domain, part) in enumerate(domains):
        loaded = {t: suite.load(t, domain) for t in ("depth", "normals", "vanishing_point") if t in suite.tasks}
        first = next(iter(loaded.values()))
        i = sample % len(first)
        for ax in axes[r, : len(COLUMNS)]:
            ax.axis("on")
        axes[r, 0].imshow(_rgb(first, i))
        axes[r, 0].set_ylabel(f"{domain}\n({part})", fontsize=7)
        if r == 0:
            for c, title in enumerate(COLUMNS):
                axes[r, c].set_title(title, fontsize=8)
        if "depth" in loaded:
            d = loaded["depth"]
            depth = d.targets[i, 0].numpy().copy()
            valid = d.mask[i, 0].numpy() if d.mask is not None else np.isfinite(depth)
            shown = np.ma.masked_where(~valid, depth)
            im = axes[r, 1].imshow(shown, cmap="magma_r")
            cb = fig.colorbar(im, ax=axes[r, 1], fraction=.046, pad=.02)
            cb.ax.tick_params(labelsize=5)
        else:
            _blank(axes[r, 1], "no depth labels")
        if "normals" in loaded:
            nd = loaded["normals"]
            colour = ((nd.targets[i].permute(1, 2, 0).numpy() + 1) / 2).clip(0, 1)
            if nd.mask is not None:
                colour[~nd.mask[i, 0].numpy()] = .5
            if nd.images.shape == first.images.shape and not bool((nd.images[i] == first.images[i]).all()):
                colour = .5 * colour + .5 * _rgb(nd, i)  # another sample order: show it over its own image
            axes[r, 2].imshow(colour)
        else:
            _blank(axes[r, 2], "no normal labels")
        if "vanishing_point" in loaded:
            vd = loaded["vanishing_point"]
            size = vd.images.shape[-1]
            axes[r, 3].imshow(_rgb(vd, i), extent=(0, size, size, 0))
            focal = float(focal_fn("vanishing_point", domain)[i]) if callable(focal_fn) else None
            _vp_segments(axes[r, 3], vd.targets[i].numpy(), size, focal)
            axes[r, 3].set_xlim(0, size)
            axes[r, 3].set_ylim(size, 0)
        else:
            _blank(axes[r, 3], "no vanishing points")
    for k, (domain, part) in enumerate(cls_domains):
        r = len(domains) + k
        data = suite.load("classification", domain)
        labels = data.targets.numpy()
        chosen: list[int] = []
        for cls in np.unique(labels):  # one image of each of the first classes present
            chosen.append(int(np.flatnonzero(labels == cls)[sample % int((labels == cls).sum())]))
            if len(chosen) == per_class_row:
                break
        for c, idx in enumerate(chosen):
            ax = axes[r, c]
            ax.axis("on")
            ax.imshow(_rgb(data, idx))
            label = int(labels[idx])
            ax.set_title(names[label] if label < len(names) else f"class {label}", fontsize=7)
        axes[r, 0].set_ylabel(f"{domain}\n(classes: {part})", fontsize=7)
    fig.suptitle(f"{suite.name}: {len(domains)} domains; split sha256 {split.sha256[:12]}", fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
