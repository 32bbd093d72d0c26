"""Evaluation: Panoptic Quality with the COCO panoptic API's rules, semantic mIoU, and a predictor evaluator."""
from trt_panoptic.evaluation.evaluator import evaluate_predictor, result_to_coco
from trt_panoptic.evaluation.miou import SemSegEvaluator, mean_iou
from trt_panoptic.evaluation.pq import PanopticEvaluator, PQStat, pq_compute, pq_percent, pq_stat_image

__all__ = [
    "PanopticEvaluator", "PQStat", "SemSegEvaluator", "evaluate_predictor", "mean_iou", "pq_compute", "pq_percent",
    "pq_stat_image", "result_to_coco",
]
