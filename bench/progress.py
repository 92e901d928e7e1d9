"""Progress on stderr: a bar over cells (with ETA) and one for the phases of the cell last heard from.

Workers report ``(method, seed, stage, done, total)`` events; the orchestrator shows
them here, so the bars move while a long cell meta-trains, not only when it ends.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from tqdm import tqdm

# (method, seed, stage, done, total): what a worker reports to the orchestrator's progress bars.
Event = tuple[str, int, str, int, int]
Emit = Callable[[Event], None]


def no_emit(event: Event) -> None:
    """The default ``Emit`` of a worker nobody watches."""
    return None


class Progress:
    def __init__(self, cells: int, done: int = 0, enabled: bool = True, label: str = "cells"):
        self.enabled = enabled
        self.failed = 0
        self.cells = tqdm(total=cells, initial=done, desc=label, unit="cell", file=sys.stderr, position=0,
                          disable=not enabled, dynamic_ncols=True)
        self.phase = tqdm(total=1, desc="starting", file=sys.stderr, position=1, leave=False,
                          disable=not enabled, dynamic_ncols=True,
                          bar_format="{desc}: {n_fmt}/{total_fmt} |{bar}| {elapsed}<{remaining}")
        self._stage: tuple[str, int, str] | None = None

    def event(self, event: Event) -> None:
        method, seed, stage, done, total = event
        key = (method, seed, stage)
        if key != self._stage:
            self._stage = key
            label = f"{method} seed {seed}" if method != "speed" else "speed section"
            self.phase.set_description_str(f"{label}: {stage}", refresh=False)
            self.phase.reset(total=max(total, 1))
        self.phase.update(max(0, done - self.phase.n))

    def cell_done(self, failed: bool) -> None:
        self.failed += int(failed)
        if self.failed:
            self.cells.set_postfix_str(f"{self.failed} failed", refresh=False)
        self.cells.update(1)

    def restart(self, total: int, label: str) -> None:
        self.cells.reset(total=total)
        self.cells.set_description_str(label)
        self.failed = 0

    def close(self) -> None:
        self.phase.close()
        self.cells.close()
