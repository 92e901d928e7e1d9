"""Each method's role in a run (a control or not, the tasks it is scored on), from the run's manifest.

The runner writes ``method_roles`` into the manifest from the method registry,
so the reports know which methods are controls without importing a method.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# The controls the harness ships (methods.controls), for stores whose manifest predates 'method_roles'.
KNOWN_CONTROLS: dict[str, list[str] | None] = {"constant": None, "scratch": None, "protonet": ["classification"]}


@dataclass(frozen=True)
class Role:
    """What the report needs to know about a method: is it a control, and which tasks is it scored on."""

    control: bool = False
    tasks: tuple[str, ...] | None = None  # None: every task of the run

    def scores(self, task: str) -> bool:
        return self.tasks is None or task in self.tasks


def method_roles(manifest: Mapping[str, Any], methods: Sequence[str]) -> dict[str, Role]:
    """Each method's role, from the manifest's ``method_roles`` (written by the runner from the registry)."""
    stored = manifest.get("method_roles")
    roles: dict[str, Role] = {}
    for m in methods:
        entry = stored.get(m) if isinstance(stored, Mapping) else None
        if isinstance(entry, Mapping):
            tasks = entry.get("tasks")
            roles[m] = Role(bool(entry.get("control", False)), None if tasks is None else tuple(str(t) for t in tasks))
        elif m in KNOWN_CONTROLS:
            tasks = KNOWN_CONTROLS[m]
            roles[m] = Role(True, None if tasks is None else tuple(tasks))
        else:
            roles[m] = Role()
    return roles
