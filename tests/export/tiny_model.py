"""A small, deterministic, untrained r18_fpn_tiny whose scores are spread out (not all tied), for export tests.

An untrained model's softmax scores are all ~1/(K+1) and its box deltas are noise; we shrink the
classifier and regressor weights and bias class 0 so that detections have distinct scores (some above the
fusion threshold) and realistic boxes — enough to compare backends detection by detection.
"""
from __future__ import annotations

import functools

import numpy as np
import torch

from trt_panoptic.config import load_config
from trt_panoptic.modeling import build_model

SIZE = 128


def tiny_model(seed: int = 0):
    """(model in eval mode, its Config)."""
    torch.manual_seed(seed)
    cfg = load_config("r18_fpn_tiny")
    model = build_model(cfg).eval()
    with torch.no_grad():
        heads = model.roi_heads
        torch.nn.init.normal_(heads.box_head.cls_score.weight, std=0.0005)
        heads.box_head.cls_score.bias[0] = 1.5
        torch.nn.init.normal_(heads.box_head.bbox_pred.weight, std=0.0002)
        torch.nn.init.normal_(heads.mask_head.predictor.weight, std=0.3)
        torch.nn.init.normal_(model.rpn.head.objectness_logits.weight, std=0.3)
        torch.nn.init.normal_(model.rpn.head.anchor_deltas.weight, std=0.01)
        torch.nn.init.normal_(model.semantic_head.predictor.weight, std=0.3)
    return model, cfg


def scene(seed: int, height: int = SIZE, width: int = SIZE) -> np.ndarray:
    """A synthetic BGR uint8 [H, W, 3] scene (the project's own synthetic data)."""
    from trt_panoptic.data.synthetic import default_categories, render_scene

    image, _, _ = render_scene(np.random.default_rng(seed), height, width, default_categories())
    return image


def box_iou_np(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of matching rows of two [N, 4] XYXY arrays, float64."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    lt = np.maximum(a[:, :2], b[:, :2])
    rb = np.minimum(a[:, 2:], b[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-12)


@functools.lru_cache(maxsize=None)
def cached_export(flavor: str = "portable", fp16: bool = False, panoptic_tail: bool = True):
    """The tiny model exported at SIZE×SIZE, once per test process (export and runtime tests share it)."""
    from trt_panoptic.export import export_onnx

    model, cfg = cached_model()
    return export_onnx(model, cfg, height=SIZE, width=SIZE, flavor=flavor, fp16=fp16, panoptic_tail=panoptic_tail)


@functools.lru_cache(maxsize=None)
def cached_model():
    return tiny_model()
