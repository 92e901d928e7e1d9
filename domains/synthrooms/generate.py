"""Rendering whole environments, in parallel over the cores, into the cache.

A job is one (environment, kind) file. Workers receive only the job's
parameters, render in batches sized for the CPU cache (about 32k rays per
call), and write the file themselves, so no image crosses a process boundary.
Numpy only: worker processes start in a fraction of a second.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from domains.synthrooms.cache import CacheEntry
from domains.synthrooms.renderer import Rendered, render
from domains.synthrooms.scenes import class_scene, geometric_scene, image_rng
from domains.synthrooms.styles import draw_style

RAYS_PER_BATCH = 32768
CLASS_INDEX_STRIDE = 100_000  # image index of (class c, copy j) = c * stride + j: stable under class subsets


@dataclass(frozen=True)
class Job:
    """What to render for one environment: geometric views, or views of given classes."""

    env_index: int
    kind: str  # 'geometric' | 'class'
    seed: int
    image_size: int
    count: int  # geometric: number of views; class: views per class
    classes: tuple[int, ...]  # class: the classes to render; geometric: the pool its key objects come from

    @property
    def name(self) -> str:
        return f"env{self.env_index:03d}-{self.kind}"

    @property
    def n_images(self) -> int:
        return self.count * (len(self.classes) if self.kind == "class" else 1)

    def params(self) -> dict[str, Any]:
        return {"env_index": self.env_index, "kind": self.kind, "seed": self.seed, "image_size": self.image_size,
                "count": self.count, "classes": list(self.classes)}

    def entry(self, cache_dir: Path) -> CacheEntry:
        return CacheEntry(cache_dir, self.name, self.params())


def render_job(job: Job) -> Rendered:
    """Render every image of a job (deterministic: each image has its own seed)."""
    style = draw_style(job.seed, job.env_index)
    if job.kind == "geometric":
        scenes = [geometric_scene(style, image_rng(job.seed, job.env_index, "geometric", i), job.classes)
                  for i in range(job.count)]
    elif job.kind == "class":
        scenes = [class_scene(style, image_rng(job.seed, job.env_index, "class", c * CLASS_INDEX_STRIDE + j), c)
                  for c in job.classes for j in range(job.count)]
    else:
        raise ValueError(f"unknown job kind '{job.kind}'")
    batch = max(1, RAYS_PER_BATCH // (job.image_size * job.image_size))
    return Rendered.concat([render(scenes[k:k + batch], job.image_size) for k in range(0, len(scenes), batch)])


def arrays_of(job: Job, rendered: Rendered) -> dict[str, np.ndarray]:
    """What the cache keeps: dense labels only for geometric views (class views need RGB and labels)."""
    keep = ["rgb", "labels", "origin", "rotation", "fov", "vp"]
    if job.kind == "geometric":
        keep += ["depth", "mask", "normals"]
    return {k: getattr(rendered, k) for k in keep}


def _run(args: tuple[Job, str]) -> int:
    job, cache_dir = args
    job.entry(Path(cache_dir)).save(arrays_of(job, render_job(job)))
    return job.n_images


def _context() -> mp.context.BaseContext:
    """fork where available: workers need only numpy (no torch, no BLAS threads), and unlike spawn it does
    not re-import the caller's main script, which breaks scripts without an ``if __name__ == '__main__'`` guard."""
    return mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")


def generate(jobs: list[Job], cache_dir: Path, workers: int = 1, progress: bool = True) -> None:
    """Render the jobs into the cache, over ``workers`` processes, with a progress bar (stderr) in images."""
    if not jobs:
        return
    total = sum(j.n_images for j in jobs)
    bar = tqdm(total=total, unit="img", desc="synthrooms: rendering", file=sys.stderr, disable=not progress,
               leave=False, dynamic_ncols=True)
    ordered = sorted(jobs, key=lambda j: -j.n_images)  # longest first: better balance
    args = [(j, str(cache_dir)) for j in ordered]
    if mp.current_process().daemon:  # a daemonic pool worker may not start processes: render inline
        workers = 1
    try:
        if workers <= 1 or len(jobs) == 1:
            for a in args:
                bar.update(_run(a))
        else:
            with _context().Pool(min(workers, len(jobs))) as pool:
                for n in pool.imap_unordered(_run, args):
                    bar.update(n)
    finally:
        bar.close()
