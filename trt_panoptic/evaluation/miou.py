"""Mean IoU of a semantic labelling, from a confusion matrix (ignore label 255)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from trt_panoptic.errors import TrtPanopticError

IGNORE = 255


@dataclass
class SemSegEvaluator:
    """Accumulates a [C, C] confusion matrix (rows = ground truth, columns = prediction) over images.

    Pixels whose ground truth is ``ignore_label`` are skipped; a predicted label outside 0..C-1 is an error.
    """

    num_classes: int
    ignore_label: int = IGNORE
    confusion: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.confusion = np.zeros((self.num_classes, self.num_classes), np.int64)

    def add(self, pred: np.ndarray, gt: np.ndarray) -> None:
        """Add one image: ``pred`` and ``gt`` are int [H, W] label maps of the same shape."""
        pred, gt = np.asarray(pred).astype(np.int64).ravel(), np.asarray(gt).astype(np.int64).ravel()
        if pred.shape != gt.shape:
            raise TrtPanopticError(f"semantic prediction should have {gt.size} pixels like the ground truth, got {pred.size} — predict at the image's size")
        keep = gt != self.ignore_label
        pred, gt = pred[keep], gt[keep]
        bad = (pred < 0) | (pred >= self.num_classes) | (gt < 0) | (gt >= self.num_classes)
        if bad.any():
            raise TrtPanopticError(
                f"semantic labels should be in 0..{self.num_classes - 1} (or {self.ignore_label} in the ground truth), "
                f"got {int(np.concatenate([pred[bad], gt[bad]]).max())} — check the class count"
            )
        self.confusion += np.bincount(gt * self.num_classes + pred, minlength=self.num_classes**2).reshape(
            self.num_classes, self.num_classes
        )

    def iou_per_class(self) -> np.ndarray:
        """float64 [C] IoU in percent; NaN for a class absent from both ground truth and prediction."""
        tp = np.diag(self.confusion).astype(np.float64)
        union = self.confusion.sum(0) + self.confusion.sum(1) - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(union > 0, 100.0 * tp / union, np.nan)

    def results(self) -> dict:
        """``{"mIoU", "fwIoU", "pACC"}`` in percent and ``"IoU"``: per-class list (None where undefined).

        mIoU is the mean over classes present in the ground truth or the prediction (detectron2's rule).
        """
        iou = self.iou_per_class()
        valid = ~np.isnan(iou)
        total = self.confusion.sum()
        gt_freq = self.confusion.sum(1) / max(total, 1)
        return {
            "mIoU": float(iou[valid].mean()) if valid.any() else 0.0,
            "fwIoU": float((gt_freq[valid] * iou[valid]).sum()),
            "pACC": float(100.0 * np.trace(self.confusion) / total) if total else 0.0,
            "IoU": [None if np.isnan(v) else float(v) for v in iou],
        }


def mean_iou(preds, gts, num_classes: int, ignore_label: int = IGNORE) -> float:
    """mIoU in percent of paired int [H, W] label maps (one confusion matrix over all of them)."""
    ev = SemSegEvaluator(num_classes, ignore_label)
    for p, g in zip(preds, gts):
        ev.add(p, g)
    return ev.results()["mIoU"]
