"""``maml-wide``: the capacity-matched control, second-order MAML as wide as AFR is large.

AFR adds parameters to the shared network (its attention modules and task embeddings):
at ``standard`` the reference ``afr`` has 138,370 trainable parameters, second-order
``maml`` 71,810. A win of AFR over MAML could then be a win of capacity. ``maml-wide`` is
``maml`` (a subclass that changes only its network config: the same learn2learn code path,
inner and outer loops) on a
network whose backbone widths and decoder width are all scaled by one common factor,
chosen so that its trainable parameter count is as close as possible to the reference
``afr``'s (default options) on the same spec's network and tasks. The factor is found
again for every network, so the control is matched at every size a spec sets (at
``standard``: widths 23/45/68/90 and decoder 23 instead of 16/32/48/64 and 16, 140,214
parameters, 1.3% above afr's; one common factor moves every width at once, so the
count moves in steps of about 2k there).

Nothing else changes: the heads keep their fixed sizes (the vanishing-point MLP's 64
hidden units, the N-way classifier) because they are the same in every method. Its
learning rates get the same search as every other method's (``mtml-bench tune``): with
maml's tuned values (inner 0.03, outer 0.003) the wider network diverged on depth within
50 meta-train steps at ``standard`` (meta-val AbsRel 0.26 -> 303, then a dead output at
AbsRel 0.998 for the rest of the run), so borrowed learning rates would make the control
lose for a reason that has nothing to do with capacity.
"""

from __future__ import annotations

import dataclasses
import functools

import torch

from methods.base import MethodConfig
from methods.maml import MAML
from methods.network import MultiTaskNet, NetworkConfig, parameter_count
from methods.registry import METHODS

REFERENCE = "afr"  # the method whose parameter count this control matches
_SCALE_RESOLUTION = 1000  # the common factor is searched in steps of 1/1000


def scaled_network(network: NetworkConfig, scale: float) -> NetworkConfig:
    """``network`` with every backbone width and the decoder width multiplied by ``scale`` (rounded, >= 1)."""
    widths = tuple(max(1, round(w * scale)) for w in network.widths)
    return dataclasses.replace(network, widths=widths, decoder_width=max(1, round(network.decoder_width * scale)))  # type: ignore[arg-type]


def network_parameters(network: NetworkConfig, tasks: tuple[str, ...]) -> int:
    """Trainable parameters of the shared network (backbone + these tasks' heads), built without memory."""
    with torch.device("meta"):
        return parameter_count(MultiTaskNet(network, tasks))


def reference_parameters(config: MethodConfig, tasks: tuple[str, ...]) -> int:
    """The reference ``afr``'s trainable parameter count with its default options on this network and tasks."""
    afr = METHODS.get(REFERENCE)(dataclasses.replace(config, extra={}), tasks, torch.device("cpu"), 0)
    return afr.parameter_count()


@functools.lru_cache(maxsize=32)  # one search per network, tasks and target (cells rebuild methods)
def matched_network(network: NetworkConfig, tasks: tuple[str, ...], target: int) -> NetworkConfig:
    """The common width factor whose network's parameter count is closest to ``target``.

    The count never decreases as the factor grows, so a bisection over factors in
    [1/8, 8] (steps of 1/1000) finds the first network at or above ``target``; the
    closer of it and its predecessor wins.
    """
    lo, hi = _SCALE_RESOLUTION // 8, 8 * _SCALE_RESOLUTION

    def count(k: int) -> int:
        return network_parameters(scaled_network(network, k / _SCALE_RESOLUTION), tasks)

    if count(hi) < target:
        return scaled_network(network, hi / _SCALE_RESOLUTION)
    while lo < hi:  # first k with count(k) >= target
        mid = (lo + hi) // 2
        if count(mid) >= target:
            hi = mid
        else:
            lo = mid + 1
    best = min((lo, max(lo - 1, _SCALE_RESOLUTION // 8)), key=lambda k: (abs(count(k) - target), k))
    return scaled_network(network, best / _SCALE_RESOLUTION)


@METHODS.register("maml-wide", "capacity control: second-order MAML with widths scaled to afr's parameter count")
class MAMLWide(MAML):
    """``maml`` on a wider network: the same code path, only the widths differ."""


    def __init__(self, config: MethodConfig, tasks: tuple[str, ...], device: torch.device, seed: int):
        tasks = tuple(tasks)
        network = matched_network(config.network, tasks, reference_parameters(config, tasks))
        super().__init__(dataclasses.replace(config, network=network), tasks, device, seed)
