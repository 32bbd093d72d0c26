"""Data: the COCO panoptic format (reader/writer), training targets and datasets, synthetic data."""
from trt_panoptic.data.categories import PanopticCategories
from trt_panoptic.data.coco_panoptic import (
    PanopticRecord,
    PanopticTargets,
    load_coco_panoptic,
    panoptic_to_targets,
    read_targets,
)

__all__ = ["PanopticCategories", "PanopticRecord", "PanopticTargets", "load_coco_panoptic", "panoptic_to_targets", "read_targets"]
