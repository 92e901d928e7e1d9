"""The scaling study's sizes (``docs/scaling.md``): methods and episodes at one point of ``[speed]``'s grid.

A ``[speed]`` section that declares ``width_multipliers``, ``image_sizes`` or
``inner_steps`` runs its ``blocks`` interleaved blocks at every point of the
grid (``bench/speed_section.py``). At a point, every speed method is built with
the backbone widths times the point's multiplier (the heads keep the spec's
decoder width), the point's image side and the point's inner steps (meta-train
and test-time adaptation alike), and every episode is resized to the point's
image side. Resizing instead of rendering the suite again at that size times the
same work: speed depends on tensor shapes, not on what the pixels show, and no
quality is ever scored on a resized episode.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.nn.functional as F

from bench.cell import build_method, method_config
from bench.spec import ScalePoint, Spec
from domains.episodes import Batch, Episode, EpisodeSampler
from methods.base import Method


def point_changes(spec: Spec, name: str, point: ScalePoint, image_size: int) -> dict[str, Any]:
    """``MethodConfig`` changes that build method ``name`` at ``point`` (empty for the unscaled point)."""
    changes: dict[str, Any] = {}
    network = method_config(spec, name, image_size).network
    net_changes: dict[str, Any] = {}
    if point.width_multiplier is not None:
        net_changes["widths"] = tuple(w * point.width_multiplier for w in spec.network.widths)
    if point.image_size is not None:
        net_changes["image_size"] = point.image_size
    if net_changes:
        changes["network"] = dataclasses.replace(network, **net_changes)
    if point.inner_steps is not None:
        changes.update(inner_steps=point.inner_steps, test_inner_steps=point.inner_steps)
    return changes


def build_at_point(spec: Spec, name: str, point: ScalePoint, image_size: int, split_hash: str, seed: int,
                   device: torch.device) -> Method:
    """Method ``name`` at one size of the grid, with the speed section's initial weights (no pre-training)."""
    return build_method(spec, name, image_size, split_hash, seed, device, pretrain_steps=0,
                        **point_changes(spec, name, point, image_size))


def resize_batch(batch: Batch, size: int) -> Batch:
    """Images bilinear; dense targets (N C H W at the image side) and masks nearest; labels and VP rows as they are."""
    side = batch.images.shape[-1]
    if side == size and batch.images.shape[-2] == size:
        return batch
    images = F.interpolate(batch.images, size=(size, size), mode="bilinear", align_corners=False)
    targets = batch.targets
    if targets.dim() == 4 and targets.shape[-1] == side:
        targets = F.interpolate(targets.float(), size=(size, size), mode="nearest").to(targets.dtype)
    mask = batch.mask
    if mask is not None and mask.dim() == 4 and mask.shape[-1] == side:
        mask = F.interpolate(mask.float(), size=(size, size), mode="nearest").to(mask.dtype)
    return Batch(images, targets, mask)


def resize_episode(episode: Episode, size: int) -> Episode:
    """The episode at ``size`` x ``size`` pixels (``resize_batch`` on its support and query sets)."""
    return dataclasses.replace(episode, support=resize_batch(episode.support, size),
                               query=resize_batch(episode.query, size))


class ResizingSampler:
    """An ``EpisodeSampler`` whose meta-batches and episodes come at one image side (None: as the suite made them).

    Resizing happens where the sampler hands episodes out, before ``.to(device)``, so it falls in the
    untimed data phase and works the same on any device.
    """

    def __init__(self, sampler: EpisodeSampler, size: int | None):
        self._sampler, self._size = sampler, size

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sampler, name)

    def _fit(self, episode: Episode) -> Episode:
        return episode if self._size is None else resize_episode(episode, self._size)

    def meta_batch(self, seed_index: int, step: int, batch_size: int, stream: str = "train") -> list[Episode]:
        return [self._fit(e) for e in self._sampler.meta_batch(seed_index, step, batch_size, stream)]

    def episode(self, *args: Any, **kwargs: Any) -> Episode:
        return self._fit(self._sampler.episode(*args, **kwargs))
