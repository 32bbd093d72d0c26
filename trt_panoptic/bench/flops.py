"""Multiply-adds, activation memory and parameters of a model, split by its top-level parts.

The counter runs the model once under a :class:`~torch.utils._python_dispatch.TorchDispatchMode` that
sees every ATen operator (below autograd, after ``nn.Module`` → functional → ATen lowering), while
forward hooks on every module keep a stack of the module names being executed, so each operator is
charged to the innermost module that ran it. Run it on ``meta`` tensors (build the model under
``with torch.device("meta")``) to count a 2-megapixel ResNet-101 without allocating or computing.

What is counted:

* **MACs** (multiply-accumulates; 1 MAC = 2 FLOPs in the other convention): ``aten.convolution``
  (``nn.Conv2d`` incl. dilated and grouped, ``nn.ConvTranspose2d``, functional convs) and the matrix
  products ``mm``/``addmm``/``bmm``/``baddbmm`` that ``nn.Linear`` and ``matmul`` lower to. Bias adds,
  norms, activations and resizes are not counted — the convention of fvcore and of the papers we compare
  with (Panoptic FPN quotes conv/fc multiply-adds). Convolution: ``out.numel() × C_in/groups × kh × kw``;
  transposed convolution: ``in.numel() × C_out/groups × kh × kw`` (each input pixel scatters one kernel).
* **Activation memory**: bytes of every intermediate tensor the forward creates, at 4 bytes per element
  (FP32, whatever dtype ran): the output of every leaf module, plus the output of every operator that a
  non-leaf module's ``forward`` calls directly (functional upsampling, residual adds, concatenations).
  Views and in-place results allocate nothing and are skipped; a tensor is counted once. This is the sum
  of all intermediate outputs (what a framework without buffer reuse would hold), not a peak.
* **Parameters**: ``numel`` of each parameter, shared parameters once.

Everything is attributed to *groups*: by default the model's top-level children (a variant in
:mod:`trt_panoptic.modeling.backbone.variants` has ``backbone``, ``decoder`` and ``head``); work done in
the root module's own ``forward`` goes to the group ``""``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

BYTES_FP32 = 4
MB = 1e6  # decimal megabytes, as the "activations_mb" and most papers report

__all__ = ["GroupCost", "CostReport", "count_cost", "conv_macs", "matmul_macs"]


@dataclass
class GroupCost:
    """Cost of one part of a model. ``macs``: multiply-adds; ``activation_bytes``: FP32 bytes."""

    macs: int = 0
    activation_bytes: int = 0
    params: int = 0


@dataclass
class CostReport:
    """What :func:`count_cost` measured for one forward pass.

    Attributes:
        macs: total multiply-adds of the forward.
        activation_bytes: total FP32 bytes of all intermediate outputs.
        params: number of parameters.
        groups: the same three numbers per group (top-level child name, or ``""`` for the root).
        modules: multiply-adds per module name (only modules that ran a counted operator).
    """

    macs: int
    activation_bytes: int
    params: int
    groups: dict[str, GroupCost] = field(default_factory=dict)
    modules: dict[str, int] = field(default_factory=dict)

    @property
    def gmacs(self) -> float:
        return self.macs / 1e9

    @property
    def activations_mb(self) -> float:
        return self.activation_bytes / MB

    @property
    def params_m(self) -> float:
        return self.params / 1e6


def conv_macs(
    input_shape: Sequence[int], weight_shape: Sequence[int], output_shape: Sequence[int], transposed: bool
) -> int:
    """Multiply-adds of one (possibly dilated, grouped or transposed) N-d convolution.

    Args:
        input_shape: ``(N, C_in, *spatial_in)``.
        weight_shape: ``(C_out, C_in/groups, *k)`` or, transposed, ``(C_in, C_out/groups, *k)``.
        output_shape: ``(N, C_out, *spatial_out)``.
        transposed: True for ``conv_transpose``.

    Dilation changes which inputs a tap reads, not how many taps there are, so it does not appear.
    """
    taps_per_output = math.prod(weight_shape[1:])  # C_per_group × kernel volume
    if transposed:
        # Every input element is multiplied by a full (C_out/groups × kernel) slice of the weight.
        return math.prod(input_shape) * taps_per_output
    return math.prod(output_shape) * taps_per_output


def matmul_macs(a_shape: Sequence[int], b_shape: Sequence[int]) -> int:
    """Multiply-adds of ``a @ b`` for ``a: [..., n, k]``, ``b: [..., k, m]`` (batch dims of ``a``)."""
    assert a_shape[-1] == b_shape[-2], "bench.flops: matmul inner dimensions differ"
    return math.prod(a_shape[:-1]) * a_shape[-1] * b_shape[-1]


def _op_macs(func: Any, args: tuple, out: Any) -> int:
    name = func.overloadpacket.__name__
    if name in ("convolution", "_convolution"):
        x, w = args[0], args[1]
        transposed = bool(args[6])
        return conv_macs(x.shape, w.shape, out.shape, transposed)
    if name == "mm":
        return matmul_macs(args[0].shape, args[1].shape)
    if name == "addmm":  # bias + a @ b
        return matmul_macs(args[1].shape, args[2].shape)
    if name == "bmm":
        return matmul_macs(args[0].shape, args[1].shape)
    if name == "baddbmm":
        return matmul_macs(args[1].shape, args[2].shape)
    return 0


def _allocates(func: Any) -> bool:
    """False for views and in-place/out= operators: their result shares memory with an input."""
    returns = func._schema.returns
    return bool(returns) and all(r.alias_info is None for r in returns)


class _Counter(TorchDispatchMode):
    """Charges each ATen op's MACs (and, outside leaf modules, its output bytes) to the running module."""

    def __init__(self, group_of: Callable[[str], str]) -> None:
        super().__init__()
        self.group_of = group_of
        self.stack: list[str] = []
        self.leaf_depth = 0
        self.groups: dict[str, GroupCost] = {}
        self.modules: dict[str, int] = {}
        self._seen: dict[int, torch.Tensor] = {}  # id → tensor, kept alive so ids are not reused

    def group(self, module_name: str) -> GroupCost:
        return self.groups.setdefault(self.group_of(module_name), GroupCost())

    def add_activation(self, module_name: str, tensors: Any) -> None:
        for t in tree_leaves(tensors):
            if not isinstance(t, torch.Tensor) or id(t) in self._seen or t._is_view():
                continue
            self._seen[id(t)] = t
            self.group(module_name).activation_bytes += t.numel() * BYTES_FP32

    def mark_seen(self, tensors: Any) -> None:
        """Inputs of the model are not activations."""
        for t in tree_leaves(tensors):
            if isinstance(t, torch.Tensor):
                self._seen[id(t)] = t

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001 (torch's signature)
        out = func(*args, **(kwargs or {}))
        where = self.stack[-1] if self.stack else ""
        macs = _op_macs(func, args, out)
        if macs:
            self.group(where).macs += macs
            self.modules[where] = self.modules.get(where, 0) + macs
        if self.leaf_depth == 0 and _allocates(func):
            self.add_activation(where, out)
        return out


def _top_level_group(name: str) -> str:
    return name.split(".", 1)[0]


def count_cost(
    model: nn.Module,
    inputs: torch.Tensor | Sequence[Any],
    *,
    groups: Mapping[str, str] | None = None,
) -> CostReport:
    """Run ``model(*inputs)`` once (no grad) and count multiply-adds, activation bytes and parameters.

    Args:
        model: any module; put it and ``inputs`` on the ``meta`` device to count without computing.
        inputs: one tensor ``[N, C, H, W]`` or a sequence of positional arguments.
        groups: optional ``{module-name prefix: group name}``; a module belongs to the group of its
            longest matching prefix (``"backbone.fpn" → "decoder"`` moves the FPN out of the backbone).
            Without it, groups are the top-level children.

    Returns:
        a :class:`CostReport`; its ``groups`` sum to its totals.
    """
    args = (inputs,) if isinstance(inputs, torch.Tensor) else tuple(inputs)
    prefixes = sorted((groups or {}).items(), key=lambda kv: -len(kv[0]))

    def group_of(name: str) -> str:
        for prefix, group in prefixes:
            if name == prefix or name.startswith(prefix + "."):
                return group
        return _top_level_group(name)

    counter = _Counter(group_of)
    handles = list(_install_hooks(model, counter))
    try:
        counter.mark_seen(args)
        with torch.no_grad(), counter:
            model(*args)
    finally:
        for h in handles:
            h.remove()

    for name, p in model.named_parameters():  # named_parameters yields a shared parameter once
        counter.group(_owner(name)).params += p.numel()
    total = GroupCost()
    for g in counter.groups.values():
        total.macs += g.macs
        total.activation_bytes += g.activation_bytes
        total.params += g.params
    return CostReport(
        macs=total.macs,
        activation_bytes=total.activation_bytes,
        params=total.params,
        groups=dict(counter.groups),
        modules=dict(counter.modules),
    )


def _owner(param_name: str) -> str:
    return param_name.rsplit(".", 1)[0] if "." in param_name else ""


def _install_hooks(model: nn.Module, counter: _Counter) -> Iterator[Any]:
    for name, module in model.named_modules():
        is_leaf = next(module.children(), None) is None

        def pre(_m: nn.Module, _inp: Any, name: str = name, is_leaf: bool = is_leaf) -> None:
            counter.stack.append(name)
            counter.leaf_depth += is_leaf

        def post(_m: nn.Module, _inp: Any, out: Any, name: str = name, is_leaf: bool = is_leaf) -> None:
            counter.stack.pop()
            counter.leaf_depth -= is_leaf
            if is_leaf:
                # Runs outside the dispatch handler, so the leaf's own output is charged here, once.
                counter.add_activation(name, out)

        yield module.register_forward_pre_hook(pre)
        yield module.register_forward_hook(post)
