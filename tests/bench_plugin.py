"""Test-only registrations, loaded by specs through ``[runtime] plugins = ["bench_plugin"]``.

They exercise the plugin path the way a user would (a module imported in the
orchestrator and in every worker) and give the runner tests what no real entry
offers: a method that always diverges and a suite that lacks tasks.
"""

from __future__ import annotations

import torch

from domains.catalog import SUITES
from domains.episodes import Episode
from methods.maml import FOMAML
from methods.registry import METHODS


@METHODS.register("test-diverge", "test only: first-order MAML whose query loss is NaN (always diverges)")
class Diverging(FOMAML):

    def query_loss(self, episode: Episode) -> torch.Tensor:
        return super().query_loss(episode) * float("nan")


def _depth_only(**options: object):
    suite = SUITES.get("synthrooms")(**options)

    class DepthOnly(type(suite)):  # type: ignore[misc]
        name = "test-depth-only"

        @property
        def tasks(self) -> tuple[str, ...]:
            return ("depth",)

    suite.__class__ = DepthOnly
    return suite


SUITES.add("test-depth-only", _depth_only, "test only: synthrooms offering depth labels alone")
