"""The one backbone and the task heads that every method is built from.

Sharing them is what makes "similar architectures" true: parameter counts differ
only by what a method adds (AFR's attention and task embeddings, Meta-SGD's
learning rates). BatchNorm never keeps running statistics (it always normalises
with the current batch, as in the MAML reference code), because running
statistics collected during meta-training silently change meta-test results
and would treat methods differently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from domains.tasks import TASK_NAMES


@dataclass(frozen=True)
class NetworkConfig:
    """Width and depth of the shared network; set by the suite's profile in the spec."""

    # No defaults for what a spec sets (``bench.spec.NetworkSpec`` / ``EpisodesSpec`` hold them, once).
    image_size: int
    widths: tuple[int, int, int, int]
    decoder_width: int
    ways: int
    in_channels: int = 3
    vp_head: str = "pool"  # "pool": global average pooling; "spatial": keeps the layout (measured: no better)

    def __post_init__(self) -> None:
        if len(self.widths) != 4:
            raise ValueError(f"network widths must have 4 stages, got {self.widths}")
        if self.image_size % 16:
            raise ValueError(f"image_size must be a multiple of 16 (4 pooling stages), got {self.image_size}")
        if self.vp_head not in VP_HEADS:
            raise ValueError(f"vp_head must be one of {', '.join(VP_HEADS)}, got {self.vp_head!r}")


def _norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, track_running_stats=False)


class ConvStage(nn.Module):
    """conv3x3 -> BN (batch statistics only) -> ReLU -> 2x2 max-pool."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm = _norm(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(F.relu(self.norm(self.conv(x))), 2)


class Backbone(nn.Module):
    """Four stages; optional per-stage channel weights multiply each stage's output feature maps."""

    def __init__(self, config: NetworkConfig):
        super().__init__()
        chans = (config.in_channels, *config.widths)
        self.stages = nn.ModuleList(ConvStage(chans[i], chans[i + 1]) for i in range(4))
        self.widths = tuple(config.widths)

    def forward(self, x: torch.Tensor, stage_weights: Sequence[torch.Tensor] | None = None) -> list[torch.Tensor]:
        features = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if stage_weights is not None:
                w = stage_weights[i]
                x = x * (w.view(1, -1, 1, 1) if w.dim() == 1 else w.view(w.shape[0], -1, 1, 1))
            features.append(x)
        return features


class ClassificationHead(nn.Module):
    """Global average pool -> linear to N-way logits (N = ways, relabelled per episode)."""

    def __init__(self, config: NetworkConfig):
        super().__init__()
        self.linear = nn.Linear(config.widths[-1], config.ways)

    def forward(self, features: list[torch.Tensor], out_size: int) -> torch.Tensor:
        return self.linear(features[-1].mean(dim=(2, 3)))


class VanishingPointHead(nn.Module):
    """Pool -> MLP -> three 3-D directions (N33). Not normalised: losses and metrics normalise."""

    def __init__(self, config: NetworkConfig):
        super().__init__()
        self.hidden = nn.Linear(config.widths[-1], 64)
        self.out = nn.Linear(64, 9)
        with torch.no_grad():  # start near the upright camera: x right, z up, y forward (mapped per suite)
            self.out.bias.copy_(torch.eye(3).reshape(9))

    def forward(self, features: list[torch.Tensor], out_size: int) -> torch.Tensor:
        h = F.relu(self.hidden(features[-1].mean(dim=(2, 3))))
        return self.out(h).view(-1, 3, 3)


class SpatialVanishingPointHead(nn.Module):
    """1x1 conv -> flatten the last stage's map (layout kept) -> MLP -> three 3-D directions (N33).

    Where the room's edges lie in the image is what fixes the vanishing directions; global
    average pooling throws that away, so this head keeps the last stage's spatial layout.
    """

    REDUCED = 16

    def __init__(self, config: NetworkConfig):
        super().__init__()
        side = config.image_size // 16
        self.reduce = nn.Conv2d(config.widths[-1], self.REDUCED, 1)
        self.hidden = nn.Linear(self.REDUCED * side * side, 64)
        self.out = nn.Linear(64, 9)
        with torch.no_grad():  # start near the upright camera, as the pooled head does
            self.out.bias.copy_(torch.eye(3).reshape(9))

    def forward(self, features: list[torch.Tensor], out_size: int) -> torch.Tensor:
        h = F.relu(self.hidden(F.relu(self.reduce(features[-1])).flatten(1)))
        return self.out(h).view(-1, 3, 3)


VP_HEADS: dict[str, type[nn.Module]] = {"pool": VanishingPointHead, "spatial": SpatialVanishingPointHead}


class DenseHead(nn.Module):
    """A light U-Net-style decoder over all four stages (so per-stage attention matters to it)."""

    def __init__(self, config: NetworkConfig, out_channels: int):
        super().__init__()
        d = config.decoder_width
        self.lateral = nn.ModuleList(nn.Conv2d(c, d, 1) for c in config.widths)
        self.smooth = nn.ModuleList(nn.Conv2d(d, d, 3, padding=1) for _ in range(3))
        self.out = nn.Conv2d(d, out_channels, 3, padding=1)

    def forward(self, features: list[torch.Tensor], out_size: int) -> torch.Tensor:
        x = self.lateral[3](features[3])
        for level in (2, 1, 0):
            skip = self.lateral[level](features[level])
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False) + skip
            x = F.relu(self.smooth[level](x))
        x = F.interpolate(x, size=(out_size, out_size), mode="bilinear", align_corners=False)
        return self.out(x)


class DepthHead(DenseHead):
    """Predicts log-depth around a 3 m prior; returns metres (always positive)."""

    PRIOR_METRES = 3.0

    def __init__(self, config: NetworkConfig):
        super().__init__(config, 1)

    def forward(self, features: list[torch.Tensor], out_size: int) -> torch.Tensor:
        return self.PRIOR_METRES * torch.exp(super().forward(features, out_size).clamp(-6.0, 6.0))


class NormalsHead(DenseHead):
    def __init__(self, config: NetworkConfig):
        super().__init__(config, 3)


HEAD_TYPES: dict[str, type[nn.Module]] = {
    "classification": ClassificationHead,
    "depth": DepthHead,
    "normals": NormalsHead,
    "vanishing_point": VanishingPointHead,
}


class MultiTaskNet(nn.Module):
    """Shared backbone + one head per task. ``forward(x, task)`` returns that task's prediction.

    Prediction layouts: classification N x ways logits; depth N1HW metres;
    normals N3HW (unnormalised); vanishing_point N33 (rows unnormalised).
    """

    def __init__(self, config: NetworkConfig, tasks: Sequence[str] = TASK_NAMES):
        super().__init__()
        unknown = [t for t in tasks if t not in HEAD_TYPES]
        if unknown:
            raise ValueError(f"no head for task(s) {unknown}; known: {list(HEAD_TYPES)}")
        self.config = config
        self.tasks = tuple(tasks)
        self.backbone = Backbone(config)
        types = {**HEAD_TYPES, "vanishing_point": VP_HEADS[config.vp_head]}
        self.heads = nn.ModuleDict({t: types[t](config) for t in self.tasks})

    def features(self, x: torch.Tensor, stage_weights: Sequence[torch.Tensor] | None = None) -> list[torch.Tensor]:
        return self.backbone(x, stage_weights)

    def head(self, task: str, features: list[torch.Tensor], out_size: int) -> torch.Tensor:
        return self.heads[task](features, out_size)

    def forward(self, x: torch.Tensor, task: str,
                stage_weights: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        return self.head(task, self.features(x, stage_weights), x.shape[-1])


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
