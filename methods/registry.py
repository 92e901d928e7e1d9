"""The method registry: one handle, complete whenever it is read.

``METHODS`` maps a method's name to its class; the built-in families below are
imported on the first lookup, so ``from methods.registry import METHODS`` always
sees every built-in method. A new method is one file in ``methods/`` whose class
carries ``@METHODS.register("name", "one line")``, plus its module name here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from domains.registry import Registry

if TYPE_CHECKING:
    from methods.base import Method

# One module per method family; each registers its methods with @METHODS.register.
METHOD_MODULES: tuple[str, ...] = (
    "methods.afr",
    "methods.maml",
    "methods.maml_higher",
    "methods.maml_wide",
    "methods.multitask",
    "methods.controls",
)

METHODS: Registry[type[Method]] = Registry("method", builtins=METHOD_MODULES)
