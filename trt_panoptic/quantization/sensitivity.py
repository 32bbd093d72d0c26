"""Sensitivity study: quantize one layer group at a time (everything else float) and measure the PQ change.

A group whose INT8 version alone costs much PQ belongs in the skip list; one that costs nothing does not.
Groups are globs on node names (:data:`DEFAULT_GROUPS` fit ``trt-panoptic export`` graphs); the final
predictors are groups of their own, quantized here *despite* the skip list, to show whether skipping
them is worth it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from trt_panoptic.quantization.qdq import insert_qdq, name_nodes, plan_quantization

logger = logging.getLogger(__name__)

#: (group, globs on node names) of the exported Panoptic FPN, in data-flow order.
DEFAULT_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("stem", ("*bottom_up/stem*",)),
    ("res2", ("*bottom_up/res2*",)),
    ("res3", ("*bottom_up/res3*",)),
    ("res4", ("*bottom_up/res4*",)),
    ("res5", ("*bottom_up/res5*",)),
    ("fpn", ("*backbone/fpn*", "/backbone/Add*")),
    ("semantic head", ("*semantic_head/p[2-5]*",)),
    ("semantic predictor", ("*semantic_head/predictor*",)),
    ("rpn conv", ("/head/conv*",)),
    ("rpn predictors", ("*objectness_logits*", "*anchor_deltas*")),
    ("box head fc", ("*box_head/fc*",)),
    ("box predictors", ("*box_head/cls_score*", "*box_head/bbox_pred*")),
    ("mask head", ("*mask_head/mask_fcn*", "*mask_head/deconv*")),
    ("mask predictor", ("*mask_head/predictor*",)),
)


@dataclass
class SensitivityRow:
    """One group: how many nodes it quantized and the metrics with only it in INT8."""

    group: str
    nodes: int
    metrics: dict
    delta_pq: float


def group_models(model, amax: Mapping[str, float], groups: Sequence[tuple[str, Sequence[str]]] = DEFAULT_GROUPS,
                 *, convtranspose_axis: int = 0):
    """Yield (group, number of quantized nodes, Q/DQ ``onnx.ModelProto``) with only that group quantized.

    ``amax`` must cover the group's tensors (calibrate with an empty skip list to cover all of them).
    Groups matching no node are skipped with a log line.
    """
    name_nodes(model)
    for group, patterns in groups:
        plan = plan_quantization(model, skip=(), only=patterns)
        n = len(plan.nodes) + len(plan.residual_adds)
        if n == 0:
            logger.info("sensitivity: group %r matches no quantizable node; skipped", group)
            continue
        yield group, n, insert_qdq(model, plan, amax, convtranspose_axis=convtranspose_axis)


def sensitivity(model, amax: Mapping[str, float], evaluate: Callable[[object], dict], baseline: dict,
                groups: Sequence[tuple[str, Sequence[str]]] = DEFAULT_GROUPS, *, convtranspose_axis: int = 0
                ) -> list[SensitivityRow]:
    """Evaluate each single-group INT8 model with ``evaluate(onnx.ModelProto) -> {"PQ", ...}``.

    Args:
        baseline: the FP32 metrics; ``delta_pq`` = group PQ − baseline PQ (points).
    """
    rows = []
    for group, n, qmodel in group_models(model, amax, groups, convtranspose_axis=convtranspose_axis):
        metrics = evaluate(qmodel)
        rows.append(SensitivityRow(group, n, metrics, float(metrics["PQ"]) - float(baseline["PQ"])))
        logger.info("sensitivity: %s (%d nodes) PQ %.2f (%+.2f)", group, n, metrics["PQ"], rows[-1].delta_pq)
    return rows
