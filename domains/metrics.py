"""Task metrics, each with its direction, unit and practical-equivalence margin.

Formulas: docs/metrics.md; the statistics (reports) read
``direction``, ``transform`` and ``rope`` from here, so every metric says how an
effect on it is measured: a plain difference for bounded scores (accuracy and
fractions, ropes in the metric's own units) and a log-ratio for errors (scale-free,
ropes as relative changes), following docs/statistics.md#metrics-direction-and-margins.

Every function scores one query batch of one episode; fractions are in [0, 1] and
angles in degrees. Prediction layouts are those of ``methods.network``:
classification N x ways logits; depth N1HW metres; normals N3HW (unnormalised);
vanishing points N x 3 x 3 rows (unnormalised, any sign, any order).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from domains.episodes import Batch
from domains.registry import Registry
from domains.tasks import TASKS

_EPS = 1e-6


@dataclass(frozen=True)
class Metric:
    name: str
    task: str
    direction: str  # 'higher' | 'lower' is better
    unit: str
    rope: float  # practical-equivalence margin: metric units (delta) or relative change (log_ratio)
    transform: str  # 'delta' | 'log_ratio'
    primary: bool
    fn: Callable[[torch.Tensor, Batch, int | None], float]
    description: str = ""

    def __call__(self, pred: torch.Tensor, batch: Batch, ways: int | None = None) -> float:
        return self.fn(pred, batch, ways)


METRICS: Registry[Metric] = Registry("metric")


def _check(pred: torch.Tensor, batch: Batch, shape: tuple[int, ...], what: str) -> None:
    if tuple(pred.shape) != shape:
        raise ValueError(f"{what} prediction has shape {tuple(pred.shape)}, expected {shape} for this batch")


# ---- classification -------------------------------------------------------------------------
def accuracy(pred: torch.Tensor, batch: Batch, ways: int | None = None) -> float:
    """Top-1 accuracy: mean[argmax logits == label]."""
    if pred.dim() != 2 or pred.shape[0] != len(batch):
        raise ValueError(f"classification prediction has shape {tuple(pred.shape)}, expected ({len(batch)}, ways)")
    if ways is not None and pred.shape[1] != ways:
        raise ValueError(f"classification prediction has {pred.shape[1]} logits per image, the episode is {ways}-way")
    return float((pred.argmax(dim=1) == batch.targets).double().mean())


# ---- depth ----------------------------------------------------------------------------------
def _depth_pairs(pred: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    _check(pred, batch, tuple(batch.targets.shape), "depth")
    valid = batch.targets > 0
    if batch.mask is not None:
        valid = valid & batch.mask.bool()
    if not bool(valid.any()):
        raise ValueError("depth batch has no valid pixel (mask all false); the data loader must drop such images")
    return pred[valid].double().clamp_min(_EPS), batch.targets[valid].double()


def abs_rel(pred: torch.Tensor, batch: Batch, ways: int | None = None) -> float:
    """AbsRel = mean(|p - g| / g) over valid pixels of the whole batch (pooled)."""
    p, g = _depth_pairs(pred, batch)
    return float(((p - g).abs() / g).mean())


def rmse(pred: torch.Tensor, batch: Batch, ways: int | None = None) -> float:
    """RMSE = sqrt(mean((p - g)^2)), metres."""
    p, g = _depth_pairs(pred, batch)
    return float(((p - g) ** 2).mean().sqrt())


def delta1(pred: torch.Tensor, batch: Batch, ways: int | None = None) -> float:
    """delta < 1.25: fraction of pixels with max(p/g, g/p) < 1.25."""
    p, g = _depth_pairs(pred, batch)
    return float((torch.maximum(p / g, g / p) < 1.25).double().mean())


# ---- surface normals ------------------------------------------------------------------------
def normal_angles(pred: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Per-valid-pixel angle (degrees) between the normalised prediction and the unit truth."""
    _check(pred, batch, tuple(batch.targets.shape), "normals")
    p = pred.double()
    p = p / p.norm(dim=1, keepdim=True).clamp_min(_EPS)
    g = batch.targets.double()
    g = g / g.norm(dim=1, keepdim=True).clamp_min(_EPS)
    cos = (p * g).sum(dim=1).clamp(-1.0, 1.0)  # N H W
    valid = torch.ones_like(cos, dtype=torch.bool) if batch.mask is None else batch.mask.bool()[:, 0]
    if not bool(valid.any()):
        raise ValueError("normals batch has no valid pixel (mask all false); the data loader must drop such images")
    return torch.rad2deg(torch.arccos(cos[valid]))


def normals_mean_angle(pred: torch.Tensor, batch: Batch, ways: int | None = None) -> float:
    return float(normal_angles(pred, batch).mean())


def normals_median_angle(pred: torch.Tensor, batch: Batch, ways: int | None = None) -> float:
    return float(np.median(normal_angles(pred, batch).numpy()))


def _within(threshold: float) -> Callable[[torch.Tensor, Batch, int | None], float]:
    def fraction(pred: torch.Tensor, batch: Batch, ways: int | None = None) -> float:
        return float((normal_angles(pred, batch) < threshold).double().mean())

    fraction.__doc__ = f"Fraction of valid pixels with angular error below {threshold} degrees."
    return fraction


# ---- vanishing points -----------------------------------------------------------------------
def vp_errors(pred: torch.Tensor, batch: Batch) -> np.ndarray:
    """N x 3 sign-invariant angular errors (degrees) after matching predicted to true directions.

    A direction is a line through the origin, so the angle uses |cos|; the three predicted
    rows are matched to the three true ones by the assignment that minimises the summed
    angle (Hungarian), so a method is not punished for naming the axes in another order.
    """
    _check(pred, batch, (len(batch), 3, 3), "vanishing_point")
    p = pred.detach().double().cpu().numpy()
    g = batch.targets.detach().double().cpu().numpy()
    p = p / np.maximum(np.linalg.norm(p, axis=2, keepdims=True), _EPS)
    g = g / np.maximum(np.linalg.norm(g, axis=2, keepdims=True), _EPS)
    cos = np.abs(np.einsum("npk,ngk->npg", p, g)).clip(0.0, 1.0)
    angles = np.degrees(np.arccos(cos))  # N x pred x truth
    out = np.empty((len(p), 3))
    for i, cost in enumerate(angles):
        rows, cols = linear_sum_assignment(cost)
        out[i, cols] = cost[rows, cols]
    return out


def vp_mean_angle(pred: torch.Tensor, batch: Batch, ways: int | None = None) -> float:
    return float(vp_errors(pred, batch).mean())


def vp_median_angle(pred: torch.Tensor, batch: Batch, ways: int | None = None) -> float:
    return float(np.median(vp_errors(pred, batch)))


def angular_accuracy(errors: np.ndarray, threshold: float) -> float:
    """AA@tau (NeurVPS): area under the recall-vs-error curve on [0, tau], divided by tau."""
    x = np.sort(np.asarray(errors, dtype=np.float64).ravel())
    y = (1 + np.arange(len(x))) / len(x)
    i = int(np.searchsorted(x, threshold))
    x = np.concatenate([[0.0], x[:i], [threshold]])
    y = np.concatenate([[0.0], y[:i]])
    return float(((x[1:] - x[:-1]) * y).sum() / threshold)


def _aa(threshold: float) -> Callable[[torch.Tensor, Batch, int | None], float]:
    def aa(pred: torch.Tensor, batch: Batch, ways: int | None = None) -> float:
        return angular_accuracy(vp_errors(pred, batch), threshold)

    aa.__doc__ = f"AA@{threshold}: normalised area under the VP error recall curve up to {threshold} degrees."
    return aa


for _m in (
    Metric("accuracy", "classification", "higher", "fraction", 0.005, "delta", True, accuracy,
           "top-1 accuracy over the query set"),
    Metric("abs_rel", "depth", "lower", "ratio", 0.01, "log_ratio", True, abs_rel, "mean |p - g| / g"),
    Metric("rmse", "depth", "lower", "m", 0.01, "log_ratio", False, rmse, "root mean squared error"),
    Metric("delta1", "depth", "higher", "fraction", 0.005, "delta", False, delta1, "fraction max(p/g, g/p) < 1.25"),
    Metric("normals_mean_angle", "normals", "lower", "deg", 0.5, "delta", True, normals_mean_angle,
           "mean angular error"),
    Metric("normals_median_angle", "normals", "lower", "deg", 0.5, "delta", False, normals_median_angle,
           "median angular error"),
    Metric("normals_within_11_25", "normals", "higher", "fraction", 0.005, "delta", False, _within(11.25),
           "fraction of pixels within 11.25 deg"),
    Metric("normals_within_22_5", "normals", "higher", "fraction", 0.005, "delta", False, _within(22.5),
           "fraction of pixels within 22.5 deg"),
    Metric("normals_within_30", "normals", "higher", "fraction", 0.005, "delta", False, _within(30.0),
           "fraction of pixels within 30 deg"),
    Metric("vp_mean_angle", "vanishing_point", "lower", "deg", 0.01, "log_ratio", True, vp_mean_angle,
           "mean matched sign-invariant angle of the 3 Manhattan directions"),
    Metric("vp_median_angle", "vanishing_point", "lower", "deg", 0.01, "log_ratio", False, vp_median_angle,
           "median matched sign-invariant angle"),
    Metric("vp_aa3", "vanishing_point", "higher", "fraction", 0.01, "delta", False, _aa(3.0), "AA@3 deg"),
    Metric("vp_aa5", "vanishing_point", "higher", "fraction", 0.01, "delta", False, _aa(5.0), "AA@5 deg"),
    Metric("vp_aa10", "vanishing_point", "higher", "fraction", 0.01, "delta", False, _aa(10.0), "AA@10 deg"),
):
    METRICS.add(_m.name, _m, _m.description)


def metrics_for(task: str) -> list[Metric]:
    """Every metric of a task, primary first."""
    TASKS.get(task)  # unknown task -> UnknownNameError listing the known ones
    found = [m for _, m in METRICS.items() if m.task == task]
    return sorted(found, key=lambda m: not m.primary)


def primary_metric(task: str) -> Metric:
    return METRICS.get(TASKS.get(task).primary_metric)


def evaluate(task: str, pred: torch.Tensor, batch: Batch, ways: int | None = None) -> dict[str, float]:
    """All metrics of ``task`` for one query batch (prediction detached, moved to the CPU)."""
    pred = pred.detach().cpu()
    batch = batch.to("cpu")
    return {m.name: m(pred, batch, ways) for m in metrics_for(task)}
