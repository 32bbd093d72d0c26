"""Training: solver and schedule, deterministic data stream, checkpoints with exact resume, DDP, evaluation."""
from trt_panoptic.training.evaluate import ModelPredictor
from trt_panoptic.training.solver import build_optimizer, lr_factor, param_groups
from trt_panoptic.training.trainer import TrainResult, train

__all__ = ["ModelPredictor", "TrainResult", "build_optimizer", "lr_factor", "param_groups", "train"]
