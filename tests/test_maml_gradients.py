"""The baselines compute the meta-gradient their papers define, whichever library computes it.

For one episode of each task and shared initial weights (float64, tiny network),
the meta-gradient of the query loss after k inner SGD steps is computed by
learn2learn (``maml``), by higher (``maml-higher``) and by a hand-written
``torch.func`` reference, and must agree to 1e-5. ``fomaml`` must match the
reference with the inner gradients detached, and must *differ* from the
second-order gradient (otherwise the test could not tell them apart).
``metasgd`` and ``anil`` are checked against the same reference with their
own inner updates (per-parameter learning rates; head-only adaptation).
"""

from __future__ import annotations

import pytest
import torch
from _baseline_toys import toy_config, toy_sampler
from torch.func import functional_call

from domains.episodes import Episode
from domains.tasks import TASK_NAMES
from methods.base import Method
from methods.losses import task_loss
from methods.network import MultiTaskNet
from methods.registry import METHODS

STEPS, LR, TOL = 2, 0.05, 1e-5


pytestmark = pytest.mark.usefixtures("one_thread")


def _episode(task: str) -> Episode:
    episode = toy_sampler().episode("train", task, "r0", seed_index=0, episode_index=3)
    support, query = episode.support, episode.query
    for batch in (support, query):
        batch.images = batch.images.double()
        if batch.targets.is_floating_point():
            batch.targets = batch.targets.double()
    return episode


def _build(name: str, **overrides: object) -> Method:
    method = METHODS.get(name)(toy_config(inner_steps=STEPS, inner_lr=LR, **overrides), TASK_NAMES,
                               torch.device("cpu"), seed=11)
    method.net.double()  # in place: wrappers and optimisers keep pointing at the same Parameters
    for p in getattr(method, "lrs", []):
        p.data = p.data.double()
    return method


def _meta_grad(method: Method, episode: Episode) -> dict[str, torch.Tensor]:
    method.net.zero_grad(set_to_none=True)
    method.query_loss(episode).backward()
    return {n: (torch.zeros_like(p) if p.grad is None else p.grad.clone()) for n, p in method.net.named_parameters()}


def _reference(net: MultiTaskNet, episode: Episode, first_order: bool = False, head_only: bool = False,
               lrs: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Meta-gradient by hand: unrolled SGD on the support with torch.func.functional_call."""
    task = episode.task
    params = dict(net.named_parameters())
    adapted = [n for n in params if n.startswith(f"heads.{task}.") or (not head_only and n.startswith("backbone."))]
    fast = {n: params[n] for n in adapted}
    for _ in range(STEPS):
        loss = task_loss(task, functional_call(net, fast, (episode.support.images, task)), episode.support)
        grads = torch.autograd.grad(loss, list(fast.values()), create_graph=not first_order)
        fast = {n: p - (LR if lrs is None else lrs[n]) * g for (n, p), g in zip(fast.items(), grads)}
    query = task_loss(task, functional_call(net, fast, (episode.query.images, task)), episode.query)
    names = list(params)
    inputs = [params[n] for n in names] + ([lrs[n] for n in adapted] if lrs else [])
    grads = torch.autograd.grad(query, inputs, allow_unused=True)
    out = {n: (torch.zeros_like(params[n]) if g is None else g) for n, g in zip(names, grads)}
    if lrs:
        out.update({f"lr:{n}": g for n, g in zip(adapted, grads[len(names):])})
    return out


def _assert_same(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    for name, value in want.items():
        torch.testing.assert_close(got[name], value, rtol=TOL, atol=TOL, msg=lambda m, n=name: f"{n}: {m}")


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max(float((a[n] - b[n]).abs().max()) for n in b)


@pytest.mark.parametrize("task", TASK_NAMES)
def test_maml_higher_and_reference_agree_second_order(task: str) -> None:
    episode = _episode(task)
    maml, higher_maml = _build("maml"), _build("maml-higher")
    higher_maml.net.load_state_dict(maml.net.state_dict())
    reference = _reference(maml.net, episode)
    assert _max_diff(reference, {n: torch.zeros_like(g) for n, g in reference.items()}) > 1e-6, "vacuous gradient"
    _assert_same(_meta_grad(maml, episode), reference)
    _assert_same(_meta_grad(higher_maml, episode), reference)


@pytest.mark.parametrize("task", TASK_NAMES)
def test_fomaml_matches_reference_without_second_order_term(task: str) -> None:
    episode = _episode(task)
    fomaml = _build("fomaml")
    first = _reference(fomaml.net, episode, first_order=True)
    second = _reference(fomaml.net, episode, first_order=False)
    got = _meta_grad(fomaml, episode)
    _assert_same(got, first)
    assert _max_diff(got, second) > 10 * TOL, "first- and second-order gradients coincide; the test cannot tell them apart"


@pytest.mark.parametrize("task", ["classification", "depth"])
def test_metasgd_gradients_include_learning_rates(task: str) -> None:
    episode = _episode(task)
    method = _build("metasgd")
    names = {id(p): n for n, p in method.net.named_parameters()}
    lr_by_name = {names[pid]: lr for pid, lr in method._lr_by_param.items()}
    method.net.zero_grad(set_to_none=True)
    for lr in method.lrs:
        lr.grad = None
    method.query_loss(episode).backward()
    got = {n: (torch.zeros_like(p) if p.grad is None else p.grad) for n, p in method.net.named_parameters()}
    got.update({f"lr:{n}": lr.grad for n, lr in lr_by_name.items() if lr.grad is not None})
    want = _reference(method.net, episode, lrs=lr_by_name)
    assert any(k.startswith("lr:") for k in want)
    _assert_same(got, want)


@pytest.mark.parametrize("task", ["classification", "normals"])
def test_anil_adapts_the_head_only(task: str) -> None:
    episode = _episode(task)
    anil = _build("anil")
    want = _reference(anil.net, episode, head_only=True)
    _assert_same(_meta_grad(anil, episode), want)
    assert _max_diff(want, _reference(anil.net, episode)) > 10 * TOL  # differs from adapting everything
