"""Evaluation: Panoptic Quality with the COCO panoptic API's rules, and semantic mIoU."""
from trt_panoptic.evaluation.miou import SemSegEvaluator, mean_iou
from trt_panoptic.evaluation.pq import PanopticEvaluator, PQStat, pq_compute, pq_percent, pq_stat_image

__all__ = ["PanopticEvaluator", "PQStat", "SemSegEvaluator", "mean_iou", "pq_compute", "pq_percent", "pq_stat_image"]
