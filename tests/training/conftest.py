"""A tiny model and dataset for training tests: 64×64 synthetic images, a narrow ResNet-18 FPN."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from trt_panoptic.config import Config, load_config
from trt_panoptic.data.synthetic import generate_synthetic_dataset


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """8 synthetic 64×64 images (seed 3) in COCO panoptic layout."""
    return generate_synthetic_dataset(tmp_path_factory.mktemp("train") / "synth", 8, seed=3, size=(64, 64), progress=False)


@pytest.fixture(scope="session")
def tiny_config():
    """``tiny_config(train_dir, val_dir="", **train_overrides) -> Config``."""
    return make_tiny_config


def make_tiny_config(train: Path, val: Path | str = "", **train_overrides) -> Config:
    """The r18_fpn_tiny classes on a much narrower network (a training step in well under a second)."""
    cfg = load_config("r18_fpn_tiny")
    m = cfg.model
    m.backbone.resnet.width_mult = 0.25
    m.backbone.fpn.out_channels = 32
    m.semantic_head.conv_dims = 32
    m.rpn.pre_nms_topk_train, m.rpn.post_nms_topk_train = 200, 50
    m.rpn.pre_nms_topk_test, m.rpn.post_nms_topk_test = 100, 20
    m.rpn.batch_size_per_image = 64
    m.roi_heads.box_fc_dim, m.roi_heads.mask_conv_dim, m.roi_heads.mask_num_conv = 64, 16, 1
    m.roi_heads.batch_size_per_image = 32
    m.panoptic.stuff_area_limit = 16
    cfg.data.train, cfg.data.val = str(train), str(val)
    defaults = dict(ims_per_batch=2, max_iter=4, base_lr=0.01, steps=[3], warmup_iters=2, min_size=[64], max_size=64,
                    flip=True, checkpoint_period=0, eval_period=0, log_period=1, amp=False)
    cfg.train = dataclasses.replace(cfg.train, **{**defaults, **train_overrides})
    return cfg
