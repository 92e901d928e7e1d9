"""Every task metric on cases small enough to compute by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from domains.episodes import Batch
from domains.metrics import METRICS, angular_accuracy, evaluate, metrics_for, primary_metric, vp_errors
from domains.tasks import TASK_NAMES, TASKS


def _depth_batch(g: list[float], mask: list[bool] | None = None) -> Batch:
    t = torch.tensor(g, dtype=torch.float32).view(1, 1, 1, -1)
    m = None if mask is None else torch.tensor(mask).view(1, 1, 1, -1)
    return Batch(torch.zeros(1, 3, 1, len(g)), t, m)


def test_accuracy_counts_argmax_hits() -> None:
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 5.0], [9.0, 0.0, 0.0]])
    batch = Batch(torch.zeros(4, 3, 2, 2), torch.tensor([0, 1, 1, 2]))
    assert METRICS["accuracy"](logits, batch, 3) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="3 logits per image, the episode is 5-way"):
        METRICS["accuracy"](logits, batch, 5)


def test_depth_metrics_by_hand() -> None:
    batch = _depth_batch([1.0, 2.0, 4.0, 8.0], [True, True, True, False])
    pred = torch.tensor([1.5, 2.0, 2.0, 100.0]).view(1, 1, 1, 4)
    # valid pixels: (1.5 vs 1), (2 vs 2), (2 vs 4); the masked 100 vs 8 is ignored
    assert METRICS["abs_rel"](pred, batch) == pytest.approx((0.5 + 0 + 0.5) / 3)
    assert METRICS["rmse"](pred, batch) == pytest.approx(math.sqrt((0.25 + 0 + 4) / 3))
    # ratios 1.5, 1, 2 -> only the exact pixel is below 1.25
    assert METRICS["delta1"](pred, batch) == pytest.approx(1 / 3)


def test_depth_ignores_zero_truth_and_refuses_empty_masks() -> None:
    batch = _depth_batch([0.0, 2.0])
    assert METRICS["abs_rel"](torch.tensor([5.0, 3.0]).view(1, 1, 1, 2), batch) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="no valid pixel"):
        METRICS["abs_rel"](torch.ones(1, 1, 1, 2), _depth_batch([1.0, 1.0], [False, False]))


def _normal_batch(angles_deg: list[float]) -> tuple[torch.Tensor, Batch]:
    """Truth = +z everywhere; prediction tilted by the given angles (scaled by 3: must be normalised)."""
    a = torch.deg2rad(torch.tensor(angles_deg, dtype=torch.float64))
    pred = torch.stack([torch.sin(a), torch.zeros_like(a), torch.cos(a)]).float().view(1, 3, 1, -1) * 3
    g = torch.zeros(1, 3, 1, len(angles_deg))
    g[:, 2] = 1
    return pred, Batch(torch.zeros(1, 3, 1, len(angles_deg)), g, torch.ones(1, 1, 1, len(angles_deg), dtype=torch.bool))


def test_normal_angles_by_hand() -> None:
    pred, batch = _normal_batch([0.0, 10.0, 20.0, 25.0, 90.0])
    assert METRICS["normals_mean_angle"](pred, batch) == pytest.approx(29.0, abs=1e-3)
    assert METRICS["normals_median_angle"](pred, batch) == pytest.approx(20.0, abs=1e-3)
    assert METRICS["normals_within_11_25"](pred, batch) == pytest.approx(2 / 5)
    assert METRICS["normals_within_22_5"](pred, batch) == pytest.approx(3 / 5)
    assert METRICS["normals_within_30"](pred, batch) == pytest.approx(4 / 5)


def test_normals_respect_the_mask() -> None:
    pred, batch = _normal_batch([0.0, 60.0])
    batch.mask[..., 1] = False
    assert METRICS["normals_mean_angle"](pred, batch) == pytest.approx(0.0, abs=1e-3)


def _rot_z(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def test_vp_error_is_sign_invariant_and_matched() -> None:
    truth = torch.eye(3).unsqueeze(0)
    # rows permuted (y, z, x) and negated, each scaled: a perfect prediction in another order
    pred = torch.tensor([[[0, -2.0, 0], [0, 0, 5.0], [-1.0, 0, 0]]])
    assert vp_errors(pred, Batch(torch.zeros(1, 3, 2, 2), truth)).max() == pytest.approx(0.0, abs=1e-6)
    # rotate the prediction by 4 degrees about z: x and y are 4 deg off, z exact -> mean 8/3
    rotated = torch.from_numpy(_rot_z(4.0).T.copy()).float().unsqueeze(0)  # rows = rotated x, y, z
    errors = vp_errors(rotated, Batch(torch.zeros(1, 3, 2, 2), truth))
    np.testing.assert_allclose(errors[0], [4.0, 4.0, 0.0], atol=1e-4)
    assert METRICS["vp_mean_angle"](rotated, Batch(torch.zeros(1, 3, 2, 2), truth)) == pytest.approx(8 / 3, abs=1e-4)
    assert METRICS["vp_median_angle"](rotated, Batch(torch.zeros(1, 3, 2, 2), truth)) == pytest.approx(4.0, abs=1e-4)


def test_hungarian_beats_greedy_matching() -> None:
    # predicted rows both close to truth x: greedy min-per-truth would reuse a row; the assignment may not
    truth = torch.eye(3).unsqueeze(0)
    a = math.radians(10)
    pred = torch.tensor([[[1.0, 0, 0], [math.cos(a), math.sin(a), 0], [0, 0, 1.0]]])
    errors = vp_errors(pred, Batch(torch.zeros(1, 3, 2, 2), truth))
    np.testing.assert_allclose(sorted(errors[0]), [0.0, 0.0, 80.0], atol=1e-4)


def test_angular_accuracy_by_hand() -> None:
    # errors 1 and 2 deg (plus one beyond tau): recall 1/3 on [1,2), 2/3 on [2,3] -> (1/3 + 2/3) / 3
    assert angular_accuracy(np.array([2.0, 1.0, 7.0]), 3.0) == pytest.approx((1 / 3 + 2 / 3) / 3)
    assert angular_accuracy(np.zeros(4), 5.0) == pytest.approx(1.0)
    assert angular_accuracy(np.array([11.0, 20.0]), 10.0) == 0.0


def test_aa_metrics_use_the_matched_errors() -> None:
    truth = torch.eye(3).unsqueeze(0)
    rotated = torch.from_numpy(_rot_z(4.0).T.copy()).float().unsqueeze(0)  # errors 4, 4, 0
    batch = Batch(torch.zeros(1, 3, 2, 2), truth)
    # AA@5: recall 1/3 on [0,4), 1 on [4,5] -> (4/3 + 1) / 5; AA@3: 1/3 everywhere
    assert METRICS["vp_aa5"](rotated, batch) == pytest.approx((4 / 3 + 1) / 5, abs=1e-4)
    assert METRICS["vp_aa3"](rotated, batch) == pytest.approx(1 / 3, abs=1e-6)
    assert METRICS["vp_aa10"](rotated, batch) == pytest.approx((4 / 3 + 6) / 10, abs=1e-4)


def test_registry_contract() -> None:
    for task in TASK_NAMES:
        metrics = metrics_for(task)
        assert metrics[0].primary and metrics[0].name == TASKS[task].primary_metric == primary_metric(task).name
        assert sum(m.primary for m in metrics) == 1
        for m in metrics:
            assert m.direction in ("higher", "lower") and m.transform in ("delta", "log_ratio") and m.rope > 0
            assert m.task == task
    for name in ("rmse", "delta1", "normals_median_angle", "normals_within_11_25", "normals_within_22_5",
                 "normals_within_30", "vp_aa3", "vp_aa5", "vp_aa10"):
        assert name in METRICS


def test_evaluate_returns_every_metric_of_the_task() -> None:
    pred, batch = _normal_batch([5.0, 15.0])
    values = evaluate("normals", pred, batch)
    assert set(values) == {m.name for m in metrics_for("normals")}
    assert values["normals_mean_angle"] == pytest.approx(10.0, abs=1e-3)


def test_shape_mismatch_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="expected \\(1, 3, 3\\)"):
        vp_errors(torch.zeros(1, 9), Batch(torch.zeros(1, 3, 2, 2), torch.eye(3).unsqueeze(0)))
