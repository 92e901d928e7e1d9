"""One backbone pass over several batches at once, each batch normalised with its own statistics.

The shared backbone's BatchNorm always normalises with the current batch's statistics, so
the support and query sets of one episode, and the sets of different episodes, must never
be normalised together. Everything else in a stage (convolution, ReLU, max-pool, a per-batch
channel weight) treats images one by one. ``grouped_features`` therefore runs each stage's
convolution once on all batches concatenated and normalises each batch apart: the numbers
are those of one ``Backbone`` call per batch (up to float rounding of the larger convolution),
with a quarter to an eighth of the operator calls at the small batch sizes of meta-learning,
where per-call overhead, not arithmetic, dominates CPU time.

Only the plain ``ConvStage`` layout is fused; ``can_group`` says so, and callers fall back to
one call per batch for any other backbone, so a changed stage cannot silently change results.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from methods.network import Backbone, ConvStage


def can_group(backbone: Backbone) -> bool:
    """True when every stage is a plain ``ConvStage`` with batch-statistics BatchNorm."""
    return all(type(stage) is ConvStage and not stage.norm.track_running_stats for stage in backbone.stages)


def grouped_features(backbone: Backbone, batches: Sequence[torch.Tensor],
                     stage_weights: Sequence[Sequence[torch.Tensor]] | None = None) -> list[list[torch.Tensor]]:
    """``[backbone(x, w) for x, w in zip(batches, stage_weights)]`` in one convolution per stage.

    ``stage_weights[g][i]`` is batch ``g``'s channel weight vector at stage ``i`` (None: unweighted).
    Returns, per batch, the list of its four stages' feature maps.
    """
    if not can_group(backbone):
        raise ValueError("grouped_features needs a backbone of plain ConvStage stages; call the backbone per batch")
    sizes = [int(x.shape[0]) for x in batches]
    x = torch.cat(list(batches)) if len(batches) > 1 else batches[0]
    per_stage: list[list[torch.Tensor]] = []
    for i, stage in enumerate(backbone.stages):
        y = stage.conv(x)
        norm = stage.norm
        parts = [F.batch_norm(part, None, None, norm.weight, norm.bias, True, 0.0, norm.eps)
                 for part in (y.split(sizes) if len(sizes) > 1 else (y,))]
        y = torch.cat(parts) if len(parts) > 1 else parts[0]
        x = F.max_pool2d(F.relu(y), 2)
        if stage_weights is not None:
            if len(sizes) == 1:
                x = x * stage_weights[0][i].view(1, -1, 1, 1)
            else:  # each image takes its own batch's weights
                w = torch.stack([weights[i] for weights in stage_weights])  # groups x channels
                w = w.repeat_interleave(torch.tensor(sizes, device=w.device), dim=0)
                x = x * w.view(x.shape[0], -1, 1, 1)
        per_stage.append(list(x.split(sizes)) if len(sizes) > 1 else [x])
    return [[stage[g] for stage in per_stage] for g in range(len(sizes))]
