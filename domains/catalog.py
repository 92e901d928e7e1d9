"""The suite registry: one handle, complete whenever it is read.

``SUITES`` maps a suite's name to its factory (the class's ``from_options``);
the built-in suites below are imported on the first lookup, so
``from domains.catalog import SUITES`` always sees every built-in suite. A new
dataset is one loader module whose suite class carries
``@SUITES.register("name", "one line")``, plus its module name here.
"""

from __future__ import annotations

from collections.abc import Callable

from domains.registry import Registry

SUITE_MODULES: tuple[str, ...] = (
    "domains.synthrooms.suite",
    "domains.taskonomy.suite",
    "domains.diode",
    "domains.scannet_vp",
    "domains.nyuv2",
)

# name -> factory(**options) -> Suite. Options come from the spec's [suite] table.
SUITES: Registry[Callable[..., object]] = Registry("suite", builtins=SUITE_MODULES, factory="from_options")
