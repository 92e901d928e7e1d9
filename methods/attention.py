"""AFR's task representations and the task-specific attention module h.

The paper's figure (``docs/afr.md#what-the-paper-states``) draws, for each task, a learned
task representation (the "orange vector") and a module h that reads it together
with the backbone's last-stage features and emits one weight per feature map at
every one of the four stages. What h looks like inside is not known; the choices
below are the plainest that fit the drawing, and each is a named option:

- h is a two-layer MLP (``hidden`` units, ReLU). Its input is the task embedding
  concatenated with the episode context (the last-stage features, average-pooled
  over space and over the support set), or the embedding alone for the
  ``afr-static`` ablation (``context_dim=0``).
- The output activation (``ACTIVATIONS``) defaults to ``2 * sigmoid``: weights
  lie in (0, 2) and equal 1 where h outputs 0, so a freshly initialised h (last
  layer scaled down by ``INIT_SCALE``) leaves the multi-task features of stage 1
  almost unchanged while still differing, slightly, between tasks. ``sigmoid``
  (MTAN's gates, which halve every feature at initialisation) and ``softmax``
  (times the channel count, so the mean weight is 1) are the alternatives.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS: tuple[str, ...] = ("sigmoid2", "sigmoid", "softmax")
INIT_SCALE = 0.1  # last-layer weights at a tenth of PyTorch's default: attention starts near 1


def _activate(logits: torch.Tensor, activation: str) -> torch.Tensor:
    if activation == "sigmoid2":
        return 2.0 * torch.sigmoid(logits)
    if activation == "sigmoid":
        return torch.sigmoid(logits)
    return logits.shape[-1] * F.softmax(logits, dim=-1)


class AttentionModule(nn.Module):
    """h for one task: (task embedding [, episode context]) -> one weight vector per stage."""

    def __init__(self, embedding_dim: int, context_dim: int, widths: Sequence[int], hidden: int,
                 activation: str):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown attention activation '{activation}'; use one of {', '.join(ACTIVATIONS)}")
        self.widths = tuple(int(w) for w in widths)
        self.context_dim = context_dim
        self.activation = activation
        self.hidden = nn.Linear(embedding_dim + context_dim, hidden)
        self.out = nn.Linear(hidden, sum(self.widths))
        with torch.no_grad():
            self.out.weight.mul_(INIT_SCALE)
            self.out.bias.zero_()

    def forward(self, embedding: torch.Tensor, context: torch.Tensor | None) -> list[torch.Tensor]:
        if self.context_dim:
            if context is None:
                raise ValueError("this attention module reads last-stage features; pass the episode context")
            embedding = torch.cat([embedding, context], dim=-1)
        logits = self.out(F.relu(self.hidden(embedding)))
        # softmax normalises within a stage: each stage's weights have mean 1 on their own
        return [_activate(chunk, self.activation) for chunk in torch.split(logits, self.widths, dim=-1)]


class TaskAttention(nn.Module):
    """One learned embedding and one attention module h per task.

    ``forward(task, context)`` is a module call so that ``torch.func.functional_call``
    can evaluate it with adapted embeddings and attention parameters in the inner loop.
    """

    def __init__(self, tasks: Sequence[str], widths: Sequence[int], embedding_dim: int, hidden: int,
                 activation: str, use_context: bool):
        super().__init__()
        if embedding_dim < 1 or hidden < 1:
            raise ValueError(f"embedding_dim and attention_hidden must be >= 1, got {embedding_dim} and {hidden}")
        context_dim = int(widths[-1]) if use_context else 0
        self.use_context = use_context
        self.embeddings = nn.ParameterDict({t: nn.Parameter(torch.randn(embedding_dim)) for t in tasks})
        self.attention = nn.ModuleDict(
            {t: AttentionModule(embedding_dim, context_dim, widths, hidden, activation) for t in tasks})

    def forward(self, task: str, context: torch.Tensor | None) -> list[torch.Tensor]:
        return self.attention[task](self.embeddings[task], context if self.use_context else None)
