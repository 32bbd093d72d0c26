"""A torch Dataset of training samples from a COCO panoptic folder, and its collate function.

Each sample is a dict (detectron2's dataset-mapper convention, torch tensors)::

    image      uint8   [3, H, W]  BGR, after augmentation
    sem_seg    int64   [H, W]     0 = 'other' (thing pixels), 1..S stuff, 255 = ignore
    boxes      float32 [N, 4]     XYXY pixels of the augmented image
    classes    int64   [N]        0-based thing class
    masks      bool    [N, H, W]
    image_id   the JSON's image id
    file_name  str, path of the picture
    height, width   int, size of the original picture (where predictions are evaluated)

Augmentation randomness is ``numpy.random.default_rng([seed, epoch, index])``: a sample depends only on
those three numbers (not on workers or on what was loaded before), which makes resumed training exact.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from trt_panoptic.data.categories import PanopticCategories
from trt_panoptic.data.coco_panoptic import load_coco_panoptic, panoptic_to_targets, read_record_png
from trt_panoptic.data.frames import read_image_bgr
from trt_panoptic.data.preprocess import to_model_channels
from trt_panoptic.errors import TrtPanopticError


class PanopticDataset(torch.utils.data.Dataset):
    """Training samples of a COCO panoptic dataset folder (``images/``, ``panoptic/``, ``panoptic.json``).

    Args:
        root: the dataset folder (or its JSON).
        categories: the classes of the model (:meth:`PanopticCategories.from_model_config`); None = the JSON's.
        transforms: called as ``transforms(image, pan, rng)`` (see :mod:`trt_panoptic.data.transforms`); None = none.
        seed: base seed of the augmentation.
        input_format: the model's channel order (``cfg.model.input.format``); images are read as BGR and
            given to the model in this order, as every predictor gives them.
    """

    def __init__(
        self,
        root: str | Path,
        categories: PanopticCategories | None = None,
        transforms: Callable | None = None,
        seed: int = 0,
        input_format: str = "BGR",
    ) -> None:
        self.data = load_coco_panoptic(root, categories=categories)
        self.categories = self.data.categories
        self.transforms = transforms
        self.seed = seed
        self.input_format = input_format
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation stream of ``epoch`` (call before each pass, like DistributedSampler)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.data.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        rec = self.data.records[index]
        image = to_model_channels(read_image_bgr(rec.image_path), self.input_format)
        pan = read_record_png(rec)
        if image.shape[:2] != pan.shape:
            raise TrtPanopticError(
                f"{rec.panoptic_path} should be {image.shape[1]}x{image.shape[0]} like {rec.image_path.name}, "
                f"got {pan.shape[1]}x{pan.shape[0]} — regenerate the annotation"
            )
        height, width = pan.shape
        if self.transforms is not None:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            image, pan = self.transforms(image, pan, rng)
        t = panoptic_to_targets(pan, rec.segments_info, self.categories, source=str(rec.panoptic_path))
        return {
            "image": torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))),
            "sem_seg": torch.from_numpy(t.sem_seg.astype(np.int64)),
            "boxes": torch.from_numpy(t.boxes),
            "classes": torch.from_numpy(t.classes),
            "masks": torch.from_numpy(t.masks),
            "image_id": rec.image_id,
            "file_name": str(rec.image_path),
            "height": height,
            "width": width,
        }


def collate_list(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Collate for :class:`torch.utils.data.DataLoader`: keep the samples as a list (sizes differ;
    the model pads the images to its size divisibility)."""
    return list(batch)
