"""Distributed training through ``torchrun``: process-group setup and the few collectives the trainer needs.

``torchrun --nproc-per-node N -m trt_panoptic.cli.main train ...`` sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; :func:`init_distributed` reads them and joins the
group with ``nccl`` when the process has a GPU and ``gloo`` otherwise. Without those variables it is a
single process and every helper here is a no-op.
"""
from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from trt_panoptic.errors import TrtPanopticError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``rank`` of ``world_size``, its ``device`` and whether it joined a group."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    initialized: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise TrtPanopticError(f"environment variable {name} should be an integer, got {value!r} — launch with torchrun") from None


def init_distributed(device: str = "auto", timeout_s: float = 1800.0) -> DistInfo:
    """Join the process group described by torchrun's environment (or stay single-process).

    Args:
        device: ``"auto"`` (CUDA when available, else CPU), ``"cpu"`` or ``"cuda"``.
        timeout_s: collective timeout in seconds.
    """
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    use_cuda = torch.cuda.is_available() if device == "auto" else device == "cuda"
    if use_cuda and not torch.cuda.is_available():
        raise TrtPanopticError("--device cuda was asked for, got no CUDA device — use --device cpu")
    if use_cuda:
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    if world_size == 1:
        return DistInfo(device=dev)
    if not dist.is_available():
        raise TrtPanopticError("WORLD_SIZE > 1 but this torch build has no torch.distributed — install a full torch build")
    backend = "nccl" if use_cuda else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size,
                                timeout=datetime.timedelta(seconds=timeout_s))
    logger.info("distributed: rank %d of %d on %s (%s)", rank, world_size, dev, backend)
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank, device=dev, initialized=True)


def shutdown(info: DistInfo) -> None:
    if info.initialized and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.initialized:
        dist.barrier()


def reduce_mean(values: dict[str, float], info: DistInfo) -> dict[str, float]:
    """Mean of scalar ``values`` over ranks (for logging; every rank gets the result)."""
    if not info.initialized or not values:
        return dict(values)
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=info.device)
    dist.all_reduce(t)
    t /= info.world_size
    return dict(zip(keys, t.tolist()))


def all_gather_object(obj: Any, info: DistInfo) -> list[Any]:
    """Every rank's ``obj`` (picklable, small: used for RNG states), in rank order."""
    if not info.initialized:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, info: DistInfo) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not info.initialized:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
