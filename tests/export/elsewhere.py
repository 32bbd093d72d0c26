"""A second device on a CPU-only machine, to check that code follows its input's device.

A tensor "elsewhere" (:class:`Elsewhere`) holds CPU data but says it lives on ``meta``; :func:`run_elsewhere`
moves a module's parameters and buffers and the inputs there and runs the forward under two modes that
keep it so: a tensor created with ``device=x.device`` (meta) is made on the CPU and wrapped, every op on
wrapped tensors computes on their data and wraps the result, and ``.cpu()`` / ``.tolist()`` / ``.item()``
come back to the host as on a GPU. An op that mixes a wrapped tensor with a plain CPU tensor of one or more
dimensions (a constant held outside the module's buffers, made without ``device=``, or brought from NumPy)
is recorded: on a GPU it is PyTorch's "Expected all tensors to be on the same device". CPU scalars
(0-dim) mix with any device in PyTorch and are allowed; so is ``copy_`` (a cross-device copy).
"""
from __future__ import annotations

import traceback
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

#: The device the wrapped tensors report.
ELSEWHERE = torch.device("meta")
_HOST = torch.device("cpu")


class Elsewhere(Tensor):
    """CPU data that reports :data:`ELSEWHERE` as its device."""

    @staticmethod
    def __new__(cls, data: Tensor) -> "Elsewhere":
        return Tensor._make_wrapper_subclass(cls, data.shape, strides=data.stride(), storage_offset=data.storage_offset(),
                                             dtype=data.dtype, device=ELSEWHERE, requires_grad=False)

    def __init__(self, data: Tensor) -> None:
        self.data_ = data

    def __repr__(self) -> str:
        return f"Elsewhere({self.data_!r})"

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):  # noqa: ANN001
        raise RuntimeError(f"elsewhere: {func} ran outside run_elsewhere")


def _is_elsewhere(device: object) -> bool:
    if isinstance(device, torch.device):
        return device == ELSEWHERE
    return isinstance(device, str) and device.split(":")[0] == ELSEWHERE.type


def _wrap(out: object) -> object:
    return tree_map(lambda t: Elsewhere(t) if isinstance(t, Tensor) and not isinstance(t, Elsewhere) else t, out)


def _unwrap(out: object) -> object:
    return tree_map(lambda t: t.data_ if isinstance(t, Elsewhere) else t, out)


class _Placement(TorchFunctionMode):
    """Tensors made with ``device=`` :data:`ELSEWHERE` are made on the CPU and wrapped (factories built from
    Python data never reach the dispatcher with their device); ``tolist`` reads the data."""

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        kwargs = kwargs or {}
        if func is Tensor.tolist and isinstance(args[0], Elsewhere):
            return args[0].data_.tolist()
        if not (_is_elsewhere(kwargs.get("device")) or any(_is_elsewhere(a) for a in args[1:])):
            return func(*args, **kwargs)
        kwargs = {k: _HOST if k == "device" else v for k, v in kwargs.items()}
        args = tuple(_HOST if _is_elsewhere(a) else a for a in args)
        if func is Tensor.to and isinstance(args[0], Elsewhere):
            return Elsewhere(args[0].data_.to(*args[1:], **kwargs))
        return _wrap(func(*args, **kwargs))


@dataclass
class Mix:
    """One op that mixed the two devices: its name, the plain tensors' shapes and where it was called."""

    op: str
    plain_shapes: list[tuple[int, ...]]
    where: str


class _Compute(TorchDispatchMode):
    """Every op on wrapped tensors computes on their data and wraps its result; mixes are recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.mixes: list[Mix] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        kwargs = kwargs or {}
        flat, _ = tree_flatten((args, kwargs))
        wrapped = any(isinstance(t, Elsewhere) for t in flat)
        plain = [t for t in flat if isinstance(t, Tensor) and not isinstance(t, Elsewhere) and t.dim() > 0]
        if wrapped and plain and func is not torch.ops.aten.copy_.default:
            self.mixes.append(Mix(str(func), [tuple(t.shape) for t in plain], "".join(traceback.format_stack(limit=12)[:-1])))
        device = kwargs.get("device")
        to_elsewhere = _is_elsewhere(device)
        to_host = device is not None and torch.device(device) == _HOST
        if to_elsewhere:
            kwargs = {**kwargs, "device": _HOST}
        out = func(*_unwrap(args), **_unwrap(kwargs))
        return _wrap(out) if to_elsewhere or (wrapped and not to_host) else out


def run_elsewhere(module: nn.Module, *inputs: Tensor) -> tuple[object, list[Mix]]:
    """``module(*inputs)`` with its parameters, buffers and the inputs :class:`Elsewhere` (no grad) → (its
    outputs, the ops that mixed a plain CPU tensor in)."""
    state = {name: Elsewhere(t.detach()) for name, t in [*module.named_parameters(), *module.named_buffers()]}
    compute = _Compute()
    with torch.no_grad(), _Placement(), compute:
        out = torch.func.functional_call(module, state, tuple(Elsewhere(x) for x in inputs))
    return out, compute.mixes


def unwrap(out: object) -> object:
    """The CPU data of :func:`run_elsewhere`'s outputs."""
    return _unwrap(out)
