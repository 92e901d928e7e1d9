"""The four high-level tasks and what every stage needs to know about them.

Classification is *task adaptation* (meta-test episodes are N-way over classes
never seen in meta-training); the geometric tasks are *domain adaptation*
(fixed output space, new environment). Each task names its primary metric so
that reports and gates never have to guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from domains.registry import Registry


class Adaptation(str, Enum):  # enum.StrEnum is Python 3.11+; str() and format() give the value either way
    TASK = "task"  # new label set per episode
    DOMAIN = "domain"  # same outputs, new environment

    def __str__(self) -> str:
        return str(self.value)

    __format__ = str.__format__


@dataclass(frozen=True)
class TaskInfo:
    name: str
    adaptation: Adaptation
    primary_metric: str
    target_layout: str  # shape of one target, documentation for loaders and heads
    description: str


TASKS: Registry[TaskInfo] = Registry("task")

for _info in (
    TaskInfo("classification", Adaptation.TASK, "accuracy", "N (int64 class index in 0..ways-1)",
             "N-way K-shot scene classification over unseen classes"),
    TaskInfo("depth", Adaptation.DOMAIN, "abs_rel", "N1HW float32 metres (z-buffer) + N1HW bool mask",
             "monocular depth in unseen environments"),
    TaskInfo("normals", Adaptation.DOMAIN, "normals_mean_angle", "N3HW float32 unit vectors, camera frame + mask",
             "surface normals (OpenCV camera frame) in unseen environments"),
    TaskInfo("vanishing_point", Adaptation.DOMAIN, "vp_mean_angle", "N33 float32: 3 unit Manhattan directions (rows)",
             "the three Manhattan vanishing directions, sign-invariant"),
):
    TASKS.add(_info.name, _info, _info.description)

TASK_NAMES: tuple[str, ...] = tuple(TASKS.names())
GEOMETRIC_TASKS: tuple[str, ...] = ("depth", "normals", "vanishing_point")
