"""Training a plain CNN on SynthRooms classes: the evidence that the classes are visually learnable.

Shared by the quick test (``tests/test_synthrooms_learnable.py``) and the full figure
(``tools/synthrooms_figures.py``) so that both measure with the same loop.
"""

from __future__ import annotations

import sys

import torch
from torch import nn
from tqdm import tqdm


def train_classifier(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int, batch: int, lr: float,
                     max_lr: float, weight_decay: float = 0.0, progress: bool = False) -> nn.Module:
    """Adam + one-cycle schedule, random horizontal flips (a mirrored room shows the same class)."""
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=epochs * ((len(x) + batch - 1) // batch))
    for _ in tqdm(range(epochs), desc="learnability: CNN epochs", file=sys.stderr, leave=False, disable=not progress):
        model.train()
        order = torch.randperm(len(x))
        for k in range(0, len(order), batch):
            b = order[k:k + batch]
            xb = torch.where((torch.rand(len(b)) < .5)[:, None, None, None], x[b].flip(-1), x[b])
            loss = nn.functional.cross_entropy(model(xb), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    return model


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 512) -> float:
    with torch.no_grad():
        predicted = torch.cat([model(x[k:k + chunk]).argmax(1) for k in range(0, len(x), chunk)])
    return float(predicted.eq(y).float().mean())
