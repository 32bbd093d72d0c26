"""Checkpoints: weights-only state dicts that carry their config, and the bundled model.

A checkpoint file is ``torch.save({"model": state_dict, "config": Config.to_dict(), "meta": {...}})``; it
holds tensors and plain Python containers only, so it loads with ``torch.load(weights_only=True)`` and no
code is ever unpickled.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from trt_panoptic.atomic_io import atomic_torch_save
from trt_panoptic.config import Config, config_from_dict, load_config
from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.modeling import PanopticFPN, build_model

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
BUNDLED_WEIGHTS = WEIGHTS_DIR / "r18_fpn_tiny_synth.pt"


def bundled_weights() -> Path:
    """Path of the small model trained by this project on synthetic data (package data)."""
    if not BUNDLED_WEIGHTS.is_file():
        raise TrtPanopticError(f"the bundled model {BUNDLED_WEIGHTS} is missing — reinstall trt_panoptic or pass --weights")
    return BUNDLED_WEIGHTS


def save_checkpoint(path: str | Path, model: nn.Module, cfg: Config, meta: dict[str, Any] | None = None) -> Path:
    """Write ``model``'s state dict with ``cfg`` atomically (temp file, then rename)."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return atomic_torch_save(path, {"model": state, "config": cfg.to_dict(), "meta": meta or {}})


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint dict safely (``weights_only=True``); a clear error for missing or corrupt files."""
    path = Path(path)
    if not path.is_file():
        raise TrtPanopticError(f"weights file {path} not found — check the path or train a model first")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for truncated/foreign files
        raise TrtPanopticError(f"{path} is not a readable weights-only checkpoint ({type(exc).__name__}) — re-download or re-export it") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise TrtPanopticError(f"{path} should hold a dict with a 'model' state dict, got {type(ckpt).__name__} — is it a detectron2 file? use `trt-panoptic convert`")
    return ckpt


def load_state_dict_strict(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load ``state`` into ``model``; any missing, unexpected or mis-shaped key is one error naming the first."""
    own = model.state_dict()
    for key, value in state.items():
        if key in own and own[key].shape != value.shape:
            raise TrtPanopticError(
                f"{source}: {key} should have shape {tuple(own[key].shape)} for this config, got {tuple(value.shape)} — "
                "use the config the weights were trained with"
            )
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        first = f"missing {missing[0]!r}" if missing else f"unexpected {unexpected[0]!r}"
        raise TrtPanopticError(
            f"{source}: weights do not fit the config ({len(missing)} missing, {len(unexpected)} unexpected keys; {first}) — "
            "use the config the weights were trained with"
        )
    model.load_state_dict(state, strict=True)


def load_model(weights: str | Path | None = None, config: str | Path | Config | None = None) -> tuple[PanopticFPN, Config]:
    """Build the model and load weights; returns (model in eval mode, its config).

    Args:
        weights: checkpoint path; None = the bundled model.
        config: overrides the config stored in the checkpoint (a path, a shipped name or a :class:`Config`).
    """
    path = Path(weights) if weights is not None else bundled_weights()
    ckpt = read_checkpoint(path)
    if config is None:
        if "config" not in ckpt:
            raise TrtPanopticError(f"{path} carries no config — pass --config")
        cfg = config_from_dict(ckpt["config"], source=str(path))
    else:
        cfg = config if isinstance(config, Config) else load_config(config)
    model = build_model(cfg)
    load_state_dict_strict(model, ckpt["model"], str(path))
    return model.eval(), cfg
