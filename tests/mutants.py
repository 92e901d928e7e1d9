"""Planted regressions for the gate's mutation tests, loaded through ``[runtime] plugins = ["mutants"]``.

Each is a registered variant of a shipped method, not an edit of it: a spec runs the variant under the
original's settings and ``mtml-bench regress --variant VARIANT=METHOD`` gates it against the shipped
baseline's gates of METHOD. Slowdowns spin for as much CPU time as the real work took, inside the timed
phase, so the phase takes twice its time and computes exactly what it did (FLOPs and values unchanged:
only the speed gate can see them).
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch

from domains.episodes import Episode
from methods.afr import AFR
from methods.base import Learner, MethodConfig
from methods.maml import MAML
from methods.registry import METHODS

T = TypeVar("T")
SMOKE = Path(__file__).resolve().parent.parent / "bench" / "specs" / "smoke.toml"


def twice_as_long(work: Callable[[], T]) -> T:
    """Run ``work``, then burn as much CPU again: the caller's timed phase doubles (wall and CPU time)
    while its results and FLOPs do not change."""
    start = time.process_time()
    out = work()
    end = time.process_time() + (time.process_time() - start)
    while time.process_time() < end:
        pass
    return out


@METHODS.register("test-afr-noadapt", "test only: AFR with test-time adaptation switched off (0 steps)")
class AFRNoAdapt(AFR):
    def __init__(self, config: MethodConfig, tasks: tuple[str, ...], device: torch.device, seed: int):
        super().__init__(dataclasses.replace(config, test_inner_steps=0), tasks, device, seed)


@METHODS.register("test-afr-lowlr", "test only: AFR whose test-time learning rate is divided by 10")
class AFRLowTestLR(AFR):
    def adapt(self, episode: Episode) -> Learner:
        trained = self.config
        self.config = dataclasses.replace(trained, inner_lr=trained.inner_lr / 10)
        try:
            return super().adapt(episode)
        finally:
            self.config = trained


@METHODS.register("test-afr-slowadapt", "test only: AFR whose adaptation takes twice as long")
class AFRSlowAdapt(AFR):
    def adapt(self, episode: Episode) -> Learner:
        return twice_as_long(lambda: super(AFRSlowAdapt, self).adapt(episode))


@METHODS.register("test-maml-slowstep", "test only: second-order MAML whose meta-train step takes twice as long")
class MAMLSlowStep(MAML):
    def outer_step(self, episodes: list[Episode], optimiser: torch.optim.Optimizer) -> Any:
        return twice_as_long(lambda: super(MAMLSlowStep, self).outer_step(episodes, optimiser))


def mutant_spec(folder: Path, variant: str, original: str, speed_with: str | None = None) -> Path:
    """The smoke spec with the variant registered under the original's settings (and in the speed section)."""
    text = SMOKE.read_text()
    block = re.search(rf"^\[methods\.{re.escape(original)}\]\n(.*?)(?=^\[|\Z)", text, re.S | re.M)
    if block is None:
        raise ValueError(f"smoke.toml has no [methods.{original}]")
    settings = "".join(line + "\n" for line in block.group(1).splitlines() if line.split("=")[0].strip()
                       in ("inner_lr", "outer_lr", "extra"))
    text += f"\n[methods.{variant}]\n{settings}"
    text = text.replace('[runtime]\n', '[runtime]\nplugins = ["mutants"]\n', 1)
    if speed_with is not None:
        text = re.sub(r'(\[speed\]\nmethods = )\[[^\]]*\]', rf'\1["{variant}", "{speed_with}"]', text, count=1)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "mutant.toml"
    path.write_text(text)
    return path
