"""Optimizer and learning-rate schedule: SGD with momentum, no weight decay on norms, warmup + step/cosine.

The schedule is a pure function of the iteration (:func:`lr_factor`), so resuming needs only the
iteration number to put the learning rate exactly where it was — no scheduler state to save.
"""
from __future__ import annotations

import bisect
import math

import torch
from torch import nn

from trt_panoptic.config import TrainConfig
from trt_panoptic.errors import TrtPanopticError

# Modules whose parameters are normalization scales/shifts: decaying them towards 0 only fights the
# normalization (detectron2's WEIGHT_DECAY_NORM = 0).
NORM_TYPES: tuple[type[nn.Module], ...] = (
    nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, nn.GroupNorm, nn.LayerNorm,
    nn.InstanceNorm2d, nn.LocalResponseNorm,
)


def param_groups(model: nn.Module, weight_decay: float, weight_decay_norm: float) -> list[dict]:
    """Two parameter groups: norm parameters (``weight_decay_norm``) and all others (``weight_decay``).

    Frozen parameters (``requires_grad=False``) and shared parameters are listed once or not at all.
    """
    seen: set[int] = set()
    decay, no_decay = [], []
    for module in model.modules():
        is_norm = isinstance(module, NORM_TYPES)
        for p in module.parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            (no_decay if is_norm else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": weight_decay_norm})
    return groups


def build_optimizer(model: nn.Module, train: TrainConfig) -> torch.optim.SGD:
    """SGD with momentum over :func:`param_groups`; the learning rate is set every step by the trainer."""
    if train.base_lr <= 0:
        raise TrtPanopticError(f"train.base_lr should be > 0, got {train.base_lr} — fix the config")
    return torch.optim.SGD(
        param_groups(model, train.weight_decay, train.weight_decay_norm), lr=train.base_lr, momentum=train.momentum
    )


def check_schedule(train: TrainConfig) -> None:
    """Reject schedules that cannot be what the user meant (unsorted steps, negative warmup, …)."""
    if train.max_iter < 1:
        raise TrtPanopticError(f"train.max_iter should be ≥ 1, got {train.max_iter} — fix the config or --max-iter")
    if list(train.steps) != sorted(train.steps):
        raise TrtPanopticError(f"train.steps should be increasing, got {list(train.steps)} — sort them")
    if train.warmup_iters < 0 or not 0.0 <= train.warmup_factor <= 1.0:
        raise TrtPanopticError(
            f"train.warmup_iters should be ≥ 0 and warmup_factor in [0, 1], got {train.warmup_iters} and "
            f"{train.warmup_factor} — fix the config"
        )


def lr_factor(iteration: int, train: TrainConfig) -> float:
    """Multiplier of ``base_lr`` at ``iteration`` (0-based): linear warmup × (step decay | cosine).

    Warmup ramps linearly from ``warmup_factor`` at iteration 0 to 1 at ``warmup_iters``. ``step``
    multiplies by ``gamma`` once for every milestone in ``steps`` that is ≤ ``iteration``; ``cosine``
    follows ``0.5·(1 + cos(π·iteration/max_iter))``.
    """
    if train.schedule == "cosine":
        decay = 0.5 * (1.0 + math.cos(math.pi * min(iteration, train.max_iter) / train.max_iter))
    else:
        decay = train.gamma ** bisect.bisect_right(list(train.steps), iteration)
    if iteration < train.warmup_iters:
        alpha = iteration / train.warmup_iters
        decay *= train.warmup_factor * (1.0 - alpha) + alpha
    return decay


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
