"""The ``[tuning]`` table of a spec, validated: the search space every method is tuned over.

Torch-free on purpose: ``bench.spec.parse_spec`` validates a spec's ``[tuning]``
table with it, and parsing a spec must not import torch, scipy or the methods.
The search itself (``bench/tuning.py``) trains and scores the candidates drawn here.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.errors import UserError
from domains.seeds import derive_seed

TUNABLE: tuple[str, ...] = ("inner_lr", "outer_lr")
SELECTION_RULE = "mean over tasks of the per-task rank of the primary metric on meta-val domains"


class TuningError(UserError):
    """A bad ``[tuning]`` table or a search that produced no usable candidate."""


@dataclass(frozen=True)
class SearchSpace:
    """The ``[tuning]`` table: what is searched, how many trials, and each trial's budget."""

    grid: dict[str, tuple[float, ...]]
    trials: int
    seed: int = 0
    steps: int = 100
    val_episodes: int = 4
    seeds: int = 1

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> SearchSpace:
        """Validate a parsed ``[tuning]`` table; every error names the key and the fix."""
        known = {"trials", "seed", "steps", "val_episodes", "seeds", *TUNABLE}
        unknown = sorted(set(table) - known)
        if unknown:
            raise TuningError(f"[tuning] has unknown key(s) {', '.join(unknown)}; known keys: {', '.join(sorted(known))}")
        grid: dict[str, tuple[float, ...]] = {}
        for name in TUNABLE:
            if name not in table:
                continue
            values = table[name]
            if not isinstance(values, list) or not values or not all(
                    isinstance(v, int | float) and not isinstance(v, bool) and v > 0 and math.isfinite(v)
                    for v in values):
                raise TuningError(f"[tuning] {name} must be a non-empty list of positive numbers, got {values!r}")
            grid[name] = tuple(sorted({float(v) for v in values}))
        if not grid:
            raise TuningError(f"[tuning] searches nothing; give a list for at least one of {', '.join(TUNABLE)}")
        ints = {}
        for key, default, low in (("trials", None, 1), ("seed", 0, 0), ("steps", 100, 1), ("val_episodes", 4, 1),
                                  ("seeds", 1, 1)):
            value = table.get(key, default)
            if value is None:
                raise TuningError("[tuning] needs 'trials' (how many candidates every method gets)")
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise TuningError(f"[tuning] {key} must be an integer >= {low}, got {value!r}")
            ints[key] = value
        return cls(grid=grid, **ints)

    def grid_size(self) -> int:
        return math.prod(len(v) for v in self.grid.values())

    def candidates(self) -> list[dict[str, float]]:
        """The candidates every method is tried on: seeded by ``seed`` alone, in grid order."""
        names = sorted(self.grid)
        points = [dict(zip(names, combo)) for combo in itertools.product(*(self.grid[n] for n in names))]
        if self.trials >= len(points):
            return points
        rng = np.random.default_rng(derive_seed("tuning", self.seed))
        chosen = sorted(rng.choice(len(points), size=self.trials, replace=False).tolist())
        return [points[i] for i in chosen]

    def describe(self) -> str:
        grid = ", ".join(f"{n} in {list(v)}" for n, v in sorted(self.grid.items()))
        if self.trials >= self.grid_size():
            search = f"full grid search, {self.grid_size()} points"
        else:
            search = f"seeded random search (seed {self.seed}), {self.trials} of {self.grid_size()} grid points"
        return (f"{search} ({grid}); {self.steps} meta-train steps per trial; "
                f"{self.val_episodes} episodes per meta-val domain; {self.seeds} seed(s)")
