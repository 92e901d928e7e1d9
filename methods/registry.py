"""The method registry, populated: importing this module registers every method.

A new method is one file in ``methods/`` plus one import line here.
"""

from __future__ import annotations

import importlib

from methods.base import METHODS

# One module per method family; each registers its methods with @METHODS.register.
METHOD_MODULES: tuple[str, ...] = (
    "methods.afr",
    "methods.maml",
    "methods.maml_higher",
    "methods.multitask",
    "methods.controls",
)

for _module in METHOD_MODULES:
    importlib.import_module(_module)

__all__ = ["METHODS"]
