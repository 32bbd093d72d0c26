"""Learning-rate schedule against hand-computed values; norm parameters get no weight decay."""
from __future__ import annotations

import math

import pytest
from torch import nn

from trt_panoptic.config import TrainConfig
from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.modeling import build_model
from trt_panoptic.training.solver import build_optimizer, check_schedule, lr_factor, param_groups


def test_linear_warmup_then_step_decay():
    t = TrainConfig(max_iter=40, warmup_iters=10, warmup_factor=0.001, steps=[20, 30], gamma=0.1)
    # warmup: factor·(1 − it/W) + it/W
    assert lr_factor(0, t) == pytest.approx(0.001)
    assert lr_factor(5, t) == pytest.approx(0.001 * 0.5 + 0.5)
    assert lr_factor(10, t) == 1.0 and lr_factor(19, t) == 1.0
    # a milestone applies from its own iteration on
    assert lr_factor(20, t) == pytest.approx(0.1) and lr_factor(29, t) == pytest.approx(0.1)
    assert lr_factor(30, t) == pytest.approx(0.01)


def test_cosine_schedule_with_warmup():
    t = TrainConfig(max_iter=100, warmup_iters=4, warmup_factor=0.5, schedule="cosine")
    assert lr_factor(2, t) == pytest.approx((0.5 * 0.5 + 0.5) * 0.5 * (1 + math.cos(math.pi * 0.02)))
    assert lr_factor(50, t) == pytest.approx(0.5)
    assert lr_factor(100, t) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("change, word", [({"steps": [30, 20]}, "increasing"), ({"max_iter": 0}, "max_iter"),
                                          ({"warmup_factor": 2.0}, "warmup")])
def test_bad_schedules_are_rejected(change, word):
    with pytest.raises(TrtPanopticError, match=word):
        check_schedule(TrainConfig(**change))


def test_norm_parameters_get_no_weight_decay(tmp_path, tiny_config):
    model = build_model(tiny_config(tmp_path))
    groups = param_groups(model, weight_decay=1e-4, weight_decay_norm=0.0)
    decay, no_decay = ({id(p) for p in g["params"]} for g in groups)
    assert [g["weight_decay"] for g in groups] == [1e-4, 0.0]
    norms = [m for m in model.modules() if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm))]
    assert norms, "the tiny model has BN and GN layers"
    for m in norms:
        assert id(m.weight) in no_decay and id(m.bias) in no_decay
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert all(id(m.weight) in decay for m in convs)
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert decay | no_decay == trainable and not decay & no_decay


def test_optimizer_needs_a_positive_lr(tmp_path, tiny_config):
    model = build_model(tiny_config(tmp_path))
    with pytest.raises(TrtPanopticError, match="base_lr"):
        build_optimizer(model, TrainConfig(base_lr=0.0))
