"""Test-only registrations, loaded by specs through ``[runtime] plugins = ["bench_plugin"]``.

They exercise the plugin path the way a user would (a module imported in the
driver and in every worker) and give the runner tests what no real entry
offers: a method that always diverges and a suite that lacks tasks.
"""

from __future__ import annotations

import torch

from domains.episodes import Episode
from domains.suite import SUITES
from methods.base import METHODS
from methods.maml import FOMAML


@METHODS.register("test-diverge", "test only: first-order MAML whose query loss is NaN (always diverges)")
class Diverging(FOMAML):
    name = "test-diverge"

    def query_loss(self, episode: Episode) -> torch.Tensor:
        return super().query_loss(episode) * float("nan")


def _depth_only(**options: object):
    from domains.catalog import SUITES as catalog  # the populated registry

    suite = catalog.get("synthrooms")(**options)

    class DepthOnly(type(suite)):  # type: ignore[misc]
        name = "test-depth-only"

        @property
        def tasks(self) -> tuple[str, ...]:
            return ("depth",)

    suite.__class__ = DepthOnly
    return suite


SUITES.add("test-depth-only", _depth_only, "test only: synthrooms offering depth labels alone")
