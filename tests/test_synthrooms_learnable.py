"""The classes are learnable: a plain CNN separates them on images it never trained on.

A small, fast version of ``tools/synthrooms_figures.py`` (which trains on all 40 meta-train
classes of the standard profile: 96% held-in accuracy). Here: 12 classes spread over the
archetypes and colours, 3 environments, 20 views per class and environment.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from domains.synthrooms.generate import Job, render_job
from domains.synthrooms.learnability import accuracy, train_classifier

CLASSES = tuple(range(0, 64, 5))[:12]  # every 5th class: mixes archetypes and colours
HELD = 4


def _data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    x_tr, y_tr, x_te, y_te = [], [], [], []
    for env in (0, 1, 2):
        out = render_job(Job(env, "class", 0, 32, 20, CLASSES))
        images = torch.from_numpy(out.rgb).permute(0, 3, 1, 2).float() / 255
        for i, c in enumerate(CLASSES):
            idx = np.flatnonzero(out.labels == c)
            x_te.append(images[idx[:HELD]])
            x_tr.append(images[idx[HELD:]])
            y_te += [i] * HELD
            y_tr += [i] * (len(idx) - HELD)
    return torch.cat(x_tr), torch.tensor(y_tr), torch.cat(x_te), torch.tensor(y_te)


def test_plain_cnn_reaches_90_percent_on_held_in_images() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x_tr, y_tr, x_te, y_te = _data()

    def block(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2))

    model = nn.Sequential(block(3, 16), block(16, 32), block(32, 32), block(32, 64), nn.Flatten(),
                          nn.Linear(64 * 4, len(CLASSES)))
    train_classifier(model, x_tr, y_tr, epochs=25, batch=64, lr=3e-3, max_lr=5e-3)
    acc = accuracy(model, x_te, y_te)
    assert acc >= 0.9, f"held-in accuracy {acc:.1%} on {len(y_te)} images"
