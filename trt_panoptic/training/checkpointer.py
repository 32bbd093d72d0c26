"""Training checkpoints: weights-only model files with the trainer's state beside them.

For iteration ``k`` (the number of optimizer steps done) the output folder gets

    model_{k:07d}.pt   the model, :func:`trt_panoptic.modeling.checkpoint.save_checkpoint` (weights + config)
    state_{k:07d}.pt   optimizer (momentum buffers), AMP grad scaler, iteration, every rank's RNG state
    last_checkpoint    the name of the model file, written last — a crash mid-save leaves the previous pair

Both files hold tensors and plain containers only, so they load with ``torch.load(weights_only=True)``.
The learning rate is a function of the iteration (:func:`trt_panoptic.training.solver.lr_factor`) and the
data order a function of (seed, iteration), so model + state + iteration is everything an exact resume needs.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trt_panoptic.config import Config
from trt_panoptic.atomic_io import atomic_torch_save, atomic_write_text
from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.modeling.checkpoint import load_state_dict_strict, read_checkpoint, save_checkpoint

logger = logging.getLogger(__name__)

LAST = "last_checkpoint"


def model_path(out: Path, iteration: int) -> Path:
    return out / f"model_{iteration:07d}.pt"


def state_path(out: Path, iteration: int) -> Path:
    return out / f"state_{iteration:07d}.pt"


def rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    """This process's torch RNG state (CPU and, when used, its CUDA device)."""
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def save_training_checkpoint(
    out: Path, iteration: int, model: nn.Module, cfg: Config, optimizer: torch.optim.Optimizer,
    scaler_state: dict[str, Any], rng_states: list[dict[str, torch.Tensor]], meta: dict[str, Any] | None = None,
) -> Path:
    """Write the model/state pair for ``iteration`` and then point ``last_checkpoint`` at it (rank 0 only)."""
    path = save_checkpoint(model_path(out, iteration), model, cfg, {"iteration": iteration, **(meta or {})})
    state = {
        "iteration": iteration,
        "optimizer": optimizer.state_dict(),
        "scaler": scaler_state,
        "rng": rng_states,
    }
    atomic_torch_save(state_path(out, iteration), state)
    atomic_write_text(out / LAST, path.name + "\n")
    return path


def last_checkpoint(out: Path) -> int | None:
    """The iteration of the newest complete checkpoint in ``out``, or None when there is none."""
    marker = out / LAST
    if not marker.is_file():
        return None
    name = marker.read_text().strip()
    try:
        iteration = int(name.removeprefix("model_").removesuffix(".pt"))
    except ValueError:
        raise TrtPanopticError(f"{marker} should name a model_NNNNNNN.pt file, got {name!r} — delete it to start over") from None
    for p in (model_path(out, iteration), state_path(out, iteration)):
        if not p.is_file():
            raise TrtPanopticError(f"{marker} points at iteration {iteration} but {p} is missing — delete {marker} or use --force")
    return iteration


def load_training_checkpoint(out: Path, iteration: int, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Load weights into ``model`` and the optimizer state; returns the state dict (iteration, scaler, rng)."""
    ckpt = read_checkpoint(model_path(out, iteration))
    load_state_dict_strict(model, ckpt["model"], str(model_path(out, iteration)))
    path = state_path(out, iteration)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated or foreign file
        raise TrtPanopticError(f"{path} is not a readable training state ({type(exc).__name__}) — delete it or use --force") from None
    try:
        optimizer.load_state_dict(state["optimizer"])
    except (KeyError, ValueError) as exc:
        raise TrtPanopticError(f"{path}: the optimizer state does not fit this model ({exc}) — resume with the same config") from None
    if int(state["iteration"]) != iteration:
        raise TrtPanopticError(f"{path} should hold iteration {iteration}, got {state['iteration']} — delete it or use --force")
    return state
