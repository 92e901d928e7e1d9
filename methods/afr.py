"""AFR, attentive feature reuse (Lekkala and Itti, arXiv 2006.07438), and its ablations.

What is known of the paper (``docs/afr.md``): a shared 4-stage CNN; for
each task a learned task representation and an attention module h that, from
it and the last stage's features, gives one weight per feature map at every
stage; a head g per task. Common representations are learned first, then the
attention and task representations; an unseen domain reuses the backbone's
features and adapts only the task-specific parts.

How this file realises it (every open choice is an ``extra`` option, see
``AFROptions``):

Stage 1 (the first ``pretrain_steps`` steps of the budget, so every method gets
the same number of steps): multi-task training of backbone and heads on the
meta-train episodes' support+query, the per-task losses averaged over the
heterogeneous meta-batch. Classification episodes relabel their classes per
episode, so a fixed N-way head trained on them would chase arbitrary labels; by
default stage 1 scores them with a prototype loss instead (query features
against support class means), which is invariant to the relabelling
(``pretrain_classification``).

Stage 2 (the rest of the budget): MAML over episodes whose inner loop adapts
only the episode's task embedding, its attention module h and its head (SGD,
``inner_steps`` x ``inner_lr``); the outer loop (the heterogeneous meta-batch
loop of ``methods.meta_batch``, shared with the MAML baselines so that the
outer objective and optimiser are identical) updates those initial values and,
with ``outer_backbone`` (default on, as in ANIL), the backbone.

The "attention from the last stage's features" question: h's feature input is
the *episode context*, the last-stage features of one unweighted backbone pass
over the support set, averaged over images and space and detached. It is
computed once per episode, before the inner loop; the query is predicted with
the weights computed from the support (weights are per episode, not per
image, so one query batch cannot change its own weights).

Where the weights act (``attention_placement``):

- ``"inline"`` (default, the reference ``afr``): the faithful reading of the paper's
  figure, one weight vector per backbone stage multiplying that stage's feature maps
  *inside* the backbone (``Backbone(stage_weights=...)``), so every stage's weights
  shape what the next stage computes and every task reads all four weight vectors.
  Every inner step re-runs the backbone and back-propagates through its activations
  (never computing its parameter gradients). This is the method the confirmatory
  comparison tests (``docs/confirmatory-design.md``).
- ``"side"`` (the ``afr-side`` variant, an ablation): MTAN-style, beside the trunk.
  The backbone runs unweighted and each stage's maps are multiplied by their weights
  on the way to the head, so the inner loop computes the features once per episode.
  A channel scale right before the head's first linear layer only re-parameterises
  that layer, and classification and vanishing points read only the last stage, so
  three of their four weight vectors do nothing: a cheaper, weaker reading.

Ablations, registered beside ``afr`` (each inherits the inline placement): ``afr-side``
(side placement, above), ``afr-noattn`` (no attention, adapt the
head only: ANIL with a multi-task stage 1), ``afr-adapt-all`` (the inner loop
also adapts the backbone, so features cannot be reused), ``afr-static`` (h
reads the task embedding only, no features).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from domains.episodes import Batch, Episode, EpisodeSampler
from methods.attention import ACTIVATIONS, TaskAttention
from methods.base import Budget, Learner, MethodConfig, PhaseClock, TrainingLog
from methods.functional import Order, Params, call, detached_copy, sgd_steps
from methods.grouped import can_group, grouped_features
from methods.losses import task_loss
from methods.meta_batch import EpisodicMethod, FunctionLearner
from methods.registry import METHODS

PLACEMENTS: tuple[str, ...] = ("side", "inline")
PRETRAIN_CLASSIFICATION: tuple[str, ...] = ("prototype", "head")
_KIND_WORDS = {bool: "true or false", int: "an integer", str: "a string"}


@dataclass(frozen=True)
class AFROptions:
    """AFR's method-specific settings (``MethodConfig.extra``), with the reason for each default.

    embedding_dim: size of each task representation. 32 is ample for 4 tasks and small beside
        the backbone, so the parameter count stays close to the shared network's.
    attention_hidden: hidden units of h. 64 keeps h far cheaper than one backbone stage.
    attention_activation: ``sigmoid2`` (2*sigmoid, weight 1 at h=0) so stage 2 starts from the
        stage-1 features; see ``methods.attention``.
    attention_placement: ``inline`` (weights inside the backbone, the paper's figure; the reference)
        or ``side`` (weights between trunk and head; the trunk is reused untouched: faster, weaker).
    first_order: drop the second-order terms of the meta-gradient. Off by default, like MAML;
        the inner loop only touches small modules, so the second-order cost is small.
    outer_backbone: the outer loop of stage 2 also trains the backbone (ANIL does). On by
        default so that a budget without stage 1 (``pretrain_steps=0``) still learns features.
    pretrain_classification: how stage 1 scores classification episodes (see the module doc).
    fused: stage 2 evaluates a meta-batch's episodes together (``AFR.meta_batch_losses``): one
        backbone call per stage for all episodes, one inner gradient per step. The same numbers as
        one episode at a time (``false``, the reference path) up to float rounding; faster because
        meta-learning's small batches make per-call overhead, not arithmetic, the CPU cost.
    """

    embedding_dim: int = 32
    attention_hidden: int = 64
    attention_activation: str = "sigmoid2"
    attention_placement: str = "inline"
    first_order: bool = False
    outer_backbone: bool = True
    pretrain_classification: str = "prototype"
    fused: bool = True

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any], placement: str) -> AFROptions:
        """Validate ``extra``: an unknown key is a typo in the spec and fails with the known keys."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(extra) - set(known))
        if unknown:
            raise ValueError(f"unknown AFR option(s) {unknown} in the method's extra settings; "
                             f"known: {', '.join(known)}")
        values: dict[str, Any] = {"attention_placement": placement}
        for name, value in extra.items():
            kind = type(known[name].default)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ValueError(f"AFR option {name} must be {_KIND_WORDS[kind]}, got {value!r}")
            values[name] = value
        options = cls(**values)
        for name, allowed in (("attention_activation", ACTIVATIONS), ("attention_placement", PLACEMENTS),
                              ("pretrain_classification", PRETRAIN_CLASSIFICATION)):
            if getattr(options, name) not in allowed:
                raise ValueError(f"AFR option {name}={getattr(options, name)!r} is not one of {', '.join(allowed)}")
        return options


def concat(a: Batch, b: Batch) -> Batch:
    """One batch of both sets (stage 1 trains on support and query together)."""
    mask = None if a.mask is None or b.mask is None else torch.cat([a.mask, b.mask])
    return Batch(torch.cat([a.images, b.images]), torch.cat([a.targets, b.targets]), mask)


def prototype_loss(support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor,
                   query_labels: torch.Tensor, ways: int) -> torch.Tensor:
    """Cross-entropy of query features against negative squared distances to support class means.

    Features are N x C (pooled). Invariant to how an episode numbers its classes. Class means are
    computed by ``class_prototypes``.
    """
    prototypes = class_prototypes(support, support_labels, ways)
    return F.cross_entropy(-torch.cdist(query, prototypes).pow(2), query_labels)


def class_prototypes(features: torch.Tensor, labels: torch.Tensor, ways: int) -> torch.Tensor:
    """ways x C: the mean feature of each class (a one-hot product: deterministic on CUDA too)."""
    onehot = F.one_hot(labels, ways).to(features.dtype)
    return onehot.T @ features / onehot.sum(dim=0).clamp_min(1)[:, None]


class AFRLearner(FunctionLearner):
    """An adapted AFR learner; keeps what adaptation produced so it can be inspected."""

    def __init__(self, forward: Callable[[torch.Tensor], torch.Tensor], device: torch.device,
                 adapted: Params, weights: list[torch.Tensor] | None):
        super().__init__(forward, device)
        self.adapted = adapted  # name in the method's ``model`` -> adapted tensor
        self.weights = weights  # per-stage attention weights used for every query image (None: no attention)


@METHODS.register("afr", "attentive feature reuse: per-stage attention inside the backbone, adapt embedding+h+head")
class AFR(EpisodicMethod):
    """Attentive feature reuse; class attributes select the ablations (see the module docstring)."""

    use_attention = True  # False: afr-noattn
    use_context = True  # False: afr-static (h reads the task embedding only)
    adapt_backbone = False  # True: afr-adapt-all
    default_placement = "inline"  # "side": afr-side

    def __init__(self, config: MethodConfig, tasks: tuple[str, ...], device: torch.device, seed: int):
        super().__init__(config, tasks, device, seed)
        if config.pretrain_steps < 0:
            raise ValueError(f"pretrain_steps must be >= 0, got {config.pretrain_steps}")
        self.options = AFROptions.from_extra(config.extra, self.default_placement)
        modules: dict[str, nn.Module] = {"net": self.net}
        self.task_attention: TaskAttention | None = None
        if self.use_attention:
            self.task_attention = TaskAttention(
                self.tasks, config.network.widths, self.options.embedding_dim, self.options.attention_hidden,
                self.options.attention_activation, self.use_context).to(device)
            modules["task"] = self.task_attention
        self.model = nn.ModuleDict(modules)
        self._params: dict[str, nn.Parameter] = dict(self.model.named_parameters())
        self.stage = 2  # 1 only during meta_train's multi-task steps
        self._steps_taken = 0  # outer steps of the current meta_train call

    # ---- which parameters do what ---------------------------------------------
    @property
    def reuses_features(self) -> bool:
        """True when backbone features depend on the images only, so one pass per set serves every step."""
        return not self.adapt_backbone and (not self.use_attention or self.options.attention_placement == "side")

    @property
    def trains_backbone(self) -> bool:
        """Whether stage 2's outer loop updates the backbone."""
        return self.options.outer_backbone or self.adapt_backbone

    def adapted_names(self, task: str) -> list[str]:
        """Names (in ``self.model``) of the parameters the inner loop adapts for ``task``."""
        prefixes = [f"net.heads.{task}."]
        if self.use_attention:
            prefixes.append(f"task.attention.{task}.")
        if self.adapt_backbone:
            prefixes.append("net.backbone.")
        names = [n for n in self._params if n.startswith(tuple(prefixes))]
        if self.use_attention:
            names.append(f"task.embeddings.{task}")
        return names

    def meta_parameters(self) -> Iterable[nn.Parameter]:
        """Everything either stage trains, under one outer Adam.

        A parameter that a step does not train receives no gradient in it and Adam leaves it
        alone: the attention and embeddings during stage 1, the backbone in stage 2 unless
        ``trains_backbone``. The heads' and backbone's Adam moments carry over from stage 1.
        """
        return self.model.parameters()

    def extra_parameters(self) -> int:
        if self.task_attention is None:
            return 0
        return sum(p.numel() for p in self.task_attention.parameters())

    # ---- the forward pieces, each evaluated with (possibly adapted) parameters ---
    def _features(self, images: torch.Tensor, params: Params,
                  weights: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
        inline = weights if self.options.attention_placement == "inline" else None
        return call(self.net.backbone, params, "net.backbone.", images, inline)

    def _stage_weights(self, task: str, params: Params, context: torch.Tensor | None) -> list[torch.Tensor] | None:
        if self.task_attention is None:
            return None
        return call(self.task_attention, params, "task.", task, context)

    def _context(self, images: torch.Tensor, params: Params,
                 unweighted: list[torch.Tensor] | None) -> torch.Tensor | None:
        """The episode context h reads: pooled last-stage features of an unweighted support pass."""
        if not (self.use_attention and self.use_context):
            return None
        if unweighted is None:
            with torch.no_grad():
                unweighted = self._features(images, params)
        return unweighted[-1].detach().mean(dim=(0, 2, 3))

    def _output(self, task: str, params: Params, images: torch.Tensor, weights: list[torch.Tensor] | None,
                features: list[torch.Tensor] | None = None) -> torch.Tensor:
        """The task's prediction; ``features`` are reused unweighted features when the placement allows."""
        if features is None:
            features = self._features(images, params, weights)
        if weights is not None and self.options.attention_placement == "side":
            features = [f * w.view(1, -1, 1, 1) for f, w in zip(features, weights)]
        return call(self.net.heads[task], params, f"net.heads.{task}.", features, images.shape[-1])

    def _reused(self, images: torch.Tensor, params: Params, grad: bool) -> list[torch.Tensor] | None:
        """One unweighted backbone pass to reuse across inner steps (None when features cannot be reused)."""
        if not self.reuses_features:
            return None
        with torch.set_grad_enabled(grad):
            return self._features(images, params)

    def _inner_loop(self, task: str, support: Batch, params: Params, steps: int, order: Order,
                    backbone_grad: bool) -> tuple[Params, torch.Tensor | None]:
        """Adapt ``params`` on the support set; returns them and the episode context."""
        cached = self._reused(support.images, params, backbone_grad)
        context = self._context(support.images, params, cached)

        def support_loss(p: Params) -> torch.Tensor:
            weights = self._stage_weights(task, p, context)
            return task_loss(task, self._output(task, p, support.images, weights, cached), support)

        return sgd_steps(params, support_loss, steps, self.config.inner_lr, order), context

    # ---- one episode's loss (the shared outer loop calls this) ------------------
    def query_loss(self, episode: Episode) -> torch.Tensor:
        """Stage 1's multi-task loss while ``self.stage == 1``, else the query loss after the inner loop.

        Both stages go through the shared ``outer_step``, so they average the meta-batch and treat
        a non-finite loss exactly as the baselines do.
        """
        if self.stage == 1:
            return self.multitask_loss(episode)
        return self.adapted_query_loss(episode)

    def adapted_query_loss(self, episode: Episode) -> torch.Tensor:
        """Stage 2: the query loss after ``inner_steps`` steps on the support, differentiable for the outer loop."""
        task = self._check_episode(episode)
        params: Params = {n: self._params[n] for n in self.adapted_names(task)}
        order: Order = "first" if self.options.first_order else "second"
        grad = self.trains_backbone
        adapted, context = self._inner_loop(task, episode.support, params, self.config.inner_steps, order, grad)
        weights = self._stage_weights(task, adapted, context)
        query = episode.query
        return task_loss(task, self._output(task, adapted, query.images, weights,
                                            self._reused(query.images, adapted, grad)), query)

    # ---- stage 2, fused: every episode of the meta-batch in one computation ----
    @property
    def fuses_meta_batch(self) -> bool:
        """Whether stage 2 runs the fused path (the backbone is shared by every episode and groupable)."""
        return self.options.fused and not self.adapt_backbone and can_group(self.net.backbone)

    def query_loss_groups(self, episodes: list[Episode]) -> Iterator[list[tuple[Episode, torch.Tensor]]]:
        """Stage 2 on the fused path: the whole meta-batch as one group (one backward pass)."""
        if self.stage == 1 or not self.fuses_meta_batch:
            yield from super().query_loss_groups(episodes)
            return
        yield list(zip(episodes, self.meta_batch_losses(episodes)))

    def _grouped(self, batches: list[torch.Tensor], weights: list[list[torch.Tensor]] | None,
                 grad: bool = True) -> list[list[torch.Tensor]]:
        inline = weights if self.options.attention_placement == "inline" else None
        with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
            return grouped_features(self.net.backbone, batches, inline)

    def meta_batch_losses(self, episodes: list[Episode]) -> list[torch.Tensor]:
        """Every episode's ``adapted_query_loss``, computed together.

        Each inner step evaluates all episodes' support losses (one grouped backbone call when the
        weights act inside it) and takes one gradient of their sum: each episode's parameters are
        their own tensors (a view of the shared initial value per episode),
        so that gradient holds each episode's own inner gradient, as in the reference path.
        """
        tasks = [self._check_episode(e) for e in episodes]
        order: Order = "first" if self.options.first_order else "second"
        grad = self.trains_backbone
        # a view per episode: the gradient with respect to it is that episode's alone, even when
        # two episodes of one task start from the same parameter
        params: Params = {f"{g}:{name}": self._params[name].view_as(self._params[name])
                          for g, task in enumerate(tasks) for name in self.adapted_names(task)}
        supports = [e.support for e in episodes]
        queries = [e.query for e in episodes]
        reuse = self.reuses_features
        if reuse:  # one unweighted pass over every support and query set
            both = self._grouped([b.images for b in supports + queries], None, grad)
            cached_support, cached_query = both[:len(episodes)], both[len(episodes):]
        contexts: list[torch.Tensor | None] = [None] * len(episodes)
        if self.use_attention and self.use_context:
            if reuse:
                unweighted = cached_support
            else:
                with torch.no_grad():
                    unweighted = self._grouped([b.images for b in supports], None)
            contexts = [u[-1].detach().mean(dim=(0, 2, 3)) for u in unweighted]

        def split(p: Params) -> list[Params]:
            out: list[Params] = [{} for _ in episodes]
            for key, value in p.items():
                g, name = key.split(":", 1)
                out[int(g)][name] = value
            return out

        def losses(p: Params, batches: list[Batch], cached: list[list[torch.Tensor]] | None) -> list[torch.Tensor]:
            per_episode = split(p)
            weights = [self._stage_weights(t, q, c) for t, q, c in zip(tasks, per_episode, contexts)]
            features = cached
            if features is None:
                features = self._grouped([b.images for b in batches], weights if weights[0] is not None else None)
            return [task_loss(t, self._output(t, q, b.images, w, f), b)
                    for t, q, b, w, f in zip(tasks, per_episode, batches, weights, features)]

        def support_loss(p: Params) -> torch.Tensor:
            return torch.stack(losses(p, supports, cached_support if reuse else None)).sum()

        adapted = sgd_steps(params, support_loss, self.config.inner_steps, self.config.inner_lr, order)
        return losses(adapted, queries, cached_query if reuse else None)

    # ---- stage 1: multi-task training of backbone and heads -------------------
    def multitask_loss(self, episode: Episode) -> torch.Tensor:
        """Stage 1's loss on one episode (support and query together, no attention)."""
        task = self._check_episode(episode)
        support, query = episode.support, episode.query
        if task == "classification" and self.options.pretrain_classification == "prototype":
            ways = episode.ways or self.config.network.ways
            pooled_s = self.net.features(support.images)[-1].mean(dim=(2, 3))
            pooled_q = self.net.features(query.images)[-1].mean(dim=(2, 3))
            return prototype_loss(pooled_s, support.targets, pooled_q, query.targets, ways)
        batch = concat(support, query)
        return task_loss(task, self.net(batch.images, task), batch)

    def outer_step(self, episodes: list[Episode], optimiser: torch.optim.Optimizer) -> tuple[float, dict[str, float]]:
        """The shared outer step, in stage 1 for the first ``pretrain_steps`` calls of a ``meta_train``."""
        self.stage = 1 if self._steps_taken < self.config.pretrain_steps else 2
        # stage 1 trains the backbone; stage 2 only if trains_backbone (otherwise it needs no gradients)
        self.net.backbone.requires_grad_(self.stage == 1 or self.trains_backbone)
        self._steps_taken += 1
        return super().outer_step(episodes, optimiser)

    def meta_train(self, sampler: EpisodeSampler, budget: Budget, clock: PhaseClock,
                   seed_index: int = 0) -> TrainingLog:
        """The shared meta-training loop (``methods.meta_batch``): stage 1, then stage 2.

        Both stages draw ``sampler.meta_batch(seed_index, step, ...)`` and count against the one
        budget, timed and logged exactly as every other method's steps, so AFR gets no extra
        training for having two stages.
        """
        self._steps_taken = 0
        try:
            return super().meta_train(sampler, budget, clock, seed_index)
        finally:
            self.stage = 2

    # ---- meta-test -------------------------------------------------------------
    def adapt(self, episode: Episode) -> Learner:
        """``adapt_steps`` SGD steps of embedding, h and head on the support set only."""
        task = self._check_episode(episode)
        support = episode.support.to(self.device)
        params = detached_copy({n: self._params[n] for n in self.adapted_names(task)})
        with torch.enable_grad():
            adapted, context = self._inner_loop(task, support, params, self.config.adapt_steps, "none", False)
        adapted = {n: p.detach() for n, p in adapted.items()}
        with torch.no_grad():
            weights = self._stage_weights(task, adapted, context)
        return AFRLearner(self._predictor(task, adapted, weights), self.device, adapted, weights)

    def _predictor(self, task: str, adapted: Params,
                   weights: list[torch.Tensor] | None) -> Callable[[torch.Tensor], torch.Tensor]:
        def forward(images: torch.Tensor) -> torch.Tensor:
            return self._output(task, adapted, images, weights)

        return forward

    def stage_weights(self, episode: Episode) -> list[torch.Tensor] | None:
        """The attention weights the current (unadapted) model gives an episode: for inspection and tests."""
        task = self._check_episode(episode)
        support = episode.support.to(self.device)
        with torch.no_grad():
            context = self._context(support.images, self._params, None)
            return self._stage_weights(task, self._params, context)

    def _check_episode(self, episode: Episode) -> str:
        task = self.check_task(episode)
        if task == "classification" and episode.ways is not None and episode.ways != self.config.network.ways:
            raise ValueError(f"the episode is {episode.ways}-way but the classification head has "
                             f"{self.config.network.ways} outputs; set the network's ways to the episodes' ways")
        return task


@METHODS.register("afr-noattn", "AFR without attention: reuse features, adapt the head only (ANIL-like)")
class AFRNoAttention(AFR):
    use_attention = False


@METHODS.register("afr-adapt-all", "AFR whose inner loop adapts everything, backbone included (no reuse)")
class AFRAdaptAll(AFR):
    adapt_backbone = True


@METHODS.register("afr-static", "AFR with attention from the task embedding alone (no features)")
class AFRStatic(AFR):
    use_context = False


@METHODS.register("afr-side", "AFR ablation: attention weights between backbone and head (features reused, not re-run)")
class AFRSide(AFR):
    default_placement = "side"
