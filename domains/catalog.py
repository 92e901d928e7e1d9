"""The suite and metric registries, populated: importing this module registers every suite and metric.

A new dataset is one loader module in ``domains/`` plus one import line here.
"""

from __future__ import annotations

import importlib

from domains.suite import SUITES

SUITE_MODULES: tuple[str, ...] = (
    "domains.synthrooms.suite",
    "domains.taskonomy",
    "domains.diode",
    "domains.scannet_vp",
    "domains.nyuv2",
)

for _module in SUITE_MODULES:
    importlib.import_module(_module)

__all__ = ["SUITES"]
