"""A small functional inner loop: SGD on a named subset of a model's parameters.

Gradient-based meta-learners differ mostly in *which* parameters the inner loop
adapts and whether the outer gradient flows through the inner updates. Both
choices are expressed here without copying modules: the adapted parameters are
a plain ``{name: tensor}`` dict, modules are evaluated with those tensors in
place of their own through ``torch.func.functional_call``, and every other
parameter is the module's own (so it still receives the outer gradient).

Three orders of differentiation are supported (``Order``):

- ``"second"``: the inner gradient is itself differentiable (``create_graph``),
  the outer gradient includes the Hessian-vector terms (MAML).
- ``"first"``: inner gradients are treated as constants; the adapted tensors
  stay connected to the initial ones by the identity (first-order MAML).
- ``"none"``: no outer gradient at all (test-time adaptation); every step
  returns fresh leaves, so the graph never grows with the number of steps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal

import torch
from torch import nn
from torch.func import functional_call

Order = Literal["second", "first", "none"]
ORDERS: tuple[str, ...] = ("second", "first", "none")

Params = dict[str, torch.Tensor]


def subset(params: Mapping[str, torch.Tensor], prefix: str) -> Params:
    """The entries of ``params`` under ``prefix`` (a dotted module path ending in '.'), prefix removed."""
    return {name[len(prefix):]: value for name, value in params.items() if name.startswith(prefix)}


def call(module: nn.Module, params: Mapping[str, torch.Tensor], prefix: str, *args: object) -> torch.Tensor:
    """Run ``module(*args)`` with the tensors of ``params`` under ``prefix`` replacing its own parameters.

    Parameters not named in ``params`` are the module's own, so a partial dict
    adapts only part of a module (``functional_call`` is non-strict).
    """
    overrides = subset(params, prefix)
    if not overrides:
        return module(*args)
    return functional_call(module, overrides, args)


def detached_copy(params: Mapping[str, torch.Tensor]) -> Params:
    """Leaves with the same values, requiring grad: the start of a test-time inner loop."""
    return {name: value.detach().clone().requires_grad_(True) for name, value in params.items()}


def sgd_steps(params: Mapping[str, torch.Tensor], loss_fn: Callable[[Params], torch.Tensor], steps: int,
              lr: float, order: Order) -> Params:
    """``steps`` plain SGD updates of ``params`` on ``loss_fn(params)``; returns the adapted dict.

    Parameters that the loss does not depend on (e.g. a stage's attention
    weights that a task's head never reads) keep their value. With
    ``order="none"`` the inputs must be leaves requiring grad (see
    ``detached_copy``); otherwise they are usually the live ``nn.Parameter``
    objects, so the returned tensors carry the outer gradient back to them.
    """
    if order not in ORDERS:
        raise ValueError(f"unknown differentiation order '{order}'; use one of {', '.join(ORDERS)}")
    if steps < 0:
        raise ValueError(f"inner steps must be >= 0, got {steps}")
    current: Params = dict(params)
    names = list(current)
    for _ in range(steps):
        loss = loss_fn(current)
        grads = torch.autograd.grad(loss, [current[n] for n in names], create_graph=order == "second",
                                    allow_unused=True)
        updated: Params = {}
        for name, grad in zip(names, grads):
            value = current[name]
            if grad is None:
                updated[name] = value
                continue
            if order != "second":
                grad = grad.detach()
            new = value - lr * grad
            updated[name] = new.detach().requires_grad_(True) if order == "none" else new
        current = updated
    return current
