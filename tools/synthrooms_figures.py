"""Measure the SynthRooms figures the benchmark documents, and check that its classes are learnable.

    python tools/synthrooms_figures.py [--profile standard] [--cache DIR] [--workers 2] [--skip-cnn]

Prints, one per line:
- render speed: images per minute on one core at 64x64 (scene composition + ray casting),
  geometric and class views, measured in this process;
- generation: wall time to render the whole profile into an empty cache with ``--workers`` processes;
- cache load: wall time for a fresh suite object to load every (task, domain) from the warm cache
  (checksums verified), and the memory its tensors hold;
- learnability: a plain 4-layer CNN trained on the meta-train classes of the meta-train
  classification environments, scored on held-in images (the same classes and rooms, images it
  never trained on). The issue asks for at least 90%.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from domains.catalog import SUITES
from domains.synthrooms.archetypes import N_CLASSES
from domains.synthrooms.generate import Job, render_job
from domains.synthrooms.learnability import accuracy, train_classifier


def render_speed(seconds: float = 8.0, size: int = 64) -> dict[str, tuple[float, float]]:
    """(images per CPU-minute, per wall-minute) on one core for each kind of view.

    CPU time is the figure that means "per core" on a shared machine (the process is
    single-threaded: numpy element-wise work only); wall time is reported beside it.
    """
    out = {}
    for kind in ("geometric", "class"):
        done, cpu0, wall0, env = 0, time.process_time(), time.perf_counter(), 0
        while time.process_time() - cpu0 < seconds:
            job = Job(env, kind, 1234, size, 64 if kind == "geometric" else 2,
                      tuple(range(N_CLASSES)) if kind == "geometric" else tuple(range(0, N_CLASSES, 2)))
            done += len(render_job(job))
            env += 1
        out[kind] = (done / (time.process_time() - cpu0) * 60, done / (time.perf_counter() - wall0) * 60)
    return out


def _cnn(n_classes: int) -> nn.Module:
    def block(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2))

    return nn.Sequential(block(3, 32), block(32, 64), block(64, 96), block(96, 128), nn.Flatten(),
                         nn.Linear(128 * 2 * 2, n_classes))


def learnability(suite, held_per_class: int = 4, epochs: int = 15, seed: int = 0) -> tuple[float, float, int, int]:
    """(held-in accuracy, train accuracy, train images, test images) of a plain CNN on meta-train classes."""
    torch.manual_seed(seed)
    split = suite.split()
    classes = sorted(split.classes["meta_train"])
    remap = {c: i for i, c in enumerate(classes)}
    xs_tr, ys_tr, xs_te, ys_te = [], [], [], []
    for env in split.domains["classification"]["meta_train"]:
        data = suite.load("classification", env)
        labels = data.targets.numpy()
        for c in classes:
            idx = np.flatnonzero(labels == c)
            xs_tr.append(data.images[idx[held_per_class:]])
            xs_te.append(data.images[idx[:held_per_class]])
            ys_tr += [remap[c]] * (len(idx) - held_per_class)
            ys_te += [remap[c]] * held_per_class
    x_tr, x_te = torch.cat(xs_tr), torch.cat(xs_te)
    y_tr, y_te = torch.tensor(ys_tr), torch.tensor(ys_te)
    model = _cnn(len(classes))
    train_classifier(model, x_tr, y_tr, epochs=epochs, batch=128, lr=2e-3, max_lr=3e-3, weight_decay=1e-4,
                     progress=True)
    acc_te, acc_tr = accuracy(model, x_te, y_te), accuracy(model, x_tr, y_tr)
    return acc_te, acc_tr, len(x_tr), len(x_te)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="standard")
    parser.add_argument("--cache", type=Path, help="cache folder (default: a fresh temporary one, to time generation)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="torch threads for the CNN")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-cnn", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not args.skip_speed:
        speed = render_speed()
        for kind, (per_cpu, per_wall) in speed.items():
            print(f"render speed, 1 core, 64x64, {kind} views: {per_cpu:,.0f} img per CPU-minute "
                  f"({per_wall:,.0f} per wall-minute on this machine now)")
    cache = args.cache or Path(tempfile.mkdtemp(prefix="synthrooms-"))
    suite = SUITES["synthrooms"](profile=args.profile, cache_dir=cache, workers=args.workers)
    n_images = sum(j.n_images for j in suite.jobs())
    missing = sum(j.n_images for j in suite.jobs() if j.entry(suite.cache_dir).problem() is not None)
    start = time.perf_counter()
    suite.prepare()
    took = time.perf_counter() - start
    print(f"generation of '{args.profile}' ({n_images:,} images at {suite.config.image_size}x{suite.config.image_size}) "
          f"with {args.workers} workers: {took:.1f} s ({missing:,} images were missing from the cache)")
    fresh = SUITES["synthrooms"](profile=args.profile, cache_dir=cache, workers=args.workers)
    split = fresh.split()
    start, cpu = time.perf_counter(), time.process_time()
    for task in split.tasks():
        for part in split.domains[task].values():
            for domain in part:
                fresh.load(task, domain)
    print(f"cache load of every (task, domain): {time.perf_counter() - start:.2f} s wall, "
          f"{time.process_time() - cpu:.2f} s CPU; "
          f"tensors in memory: {fresh.memory_bytes() / 2**20:.0f} MiB; cache on disk: "
          f"{sum(p.stat().st_size for p in cache.rglob('*.npz')) / 2**20:.0f} MiB")
    if not args.skip_cnn:
        start = time.perf_counter()
        acc_te, acc_tr, n_tr, n_te = learnability(fresh)
        print(f"learnability: plain CNN on {len(split.classes['meta_train'])} meta-train classes, held-in accuracy "
              f"{acc_te:.1%} on {n_te} unseen images (train {acc_tr:.1%} on {n_tr}), {time.perf_counter() - start:.0f} s")
        if acc_te < 0.9:
            print("learnability below the 90% target", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
