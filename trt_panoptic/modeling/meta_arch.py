"""Panoptic FPN: wires backbone → {semantic head, RPN → RoI heads} → panoptic fusion."""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.modeling.backbone import FPN
from trt_panoptic.modeling.roi_heads import ROIHeads
from trt_panoptic.modeling.rpn import RPN
from trt_panoptic.ops import nonempty
from trt_panoptic.modeling.semantic_head import SemanticFPNHead, semantic_loss, upsample_logits
from trt_panoptic.postprocess import panoptic_from_detections, paste_masks_in_image


class PanopticFPN(nn.Module):
    """Panoptic FPN (Kirillov, Girshick, He, Dollár, CVPR 2019).

    ``forward(images, targets=None)``:
      - images: list of Tensor[3, H, W] (uint8 or float in 0..255, channel order ``input_format``), or a
        Tensor[N, 3, H, W]. Sizes may differ; the batch is normalized and zero-padded to a multiple of 32.
      - train mode: ``targets`` is a list of dicts with ``sem_seg`` Tensor[H, W] int64 (255 = ignore),
        ``boxes`` Tensor[G, 4] XYXY, ``classes`` Tensor[G] int64 (0-based), ``masks`` Tensor[G, H, W] bool;
        returns the loss dict {rpn_cls, rpn_loc, cls, box_reg, mask, sem_seg}, instance losses × λi and the
        semantic loss × λs.
      - eval mode: returns per image a dict: ``sem_seg`` Tensor[C, H, W] logits and ``sem_labels``
        Tensor[H, W] at input resolution, ``instances`` {boxes, scores, classes, masks Tensor[D, H, W] bool,
        mask_probs Tensor[D, 28, 28]}, ``panoptic`` (Tensor[H, W] int32, segments_info).
        ``do_postprocess=False`` (detectron2's switch) stops at the raw outputs: no ``masks`` and no
        ``panoptic``; the caller runs the panoptic tail once, where it wants it (every runtime predictor does).
      - ``pad_to=(H, W)`` zero-pads the batch to that size instead of the next multiple of 32 (what an exported
        graph of that size computes for a frame letterboxed into it); boxes are still clipped to each image.
    """

    def __init__(
        self, *, backbone: FPN, semantic_head: SemanticFPNHead, rpn: RPN, roi_heads: ROIHeads,
        pixel_mean: list[float], pixel_std: list[float], input_format: str = "BGR", size_divisibility: int = 32,
        instance_loss_weight: float = 1.0, semantic_loss_weight: float = 0.5, ignore_value: int = 255,
        instance_score_thresh: float = 0.5, overlap_thresh: float = 0.5, stuff_area_limit: int = 4096,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.semantic_head = semantic_head
        self.rpn = rpn
        self.roi_heads = roi_heads
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), persistent=False)
        self.input_format = input_format
        self.size_divisibility = size_divisibility
        self.instance_loss_weight = instance_loss_weight
        self.semantic_loss_weight = semantic_loss_weight
        self.ignore_value = ignore_value
        self.fusion = {
            "instance_score_thresh": instance_score_thresh, "overlap_thresh": overlap_thresh,
            "stuff_area_limit": stuff_area_limit,
        }

    # ---- input -----------------------------------------------------------------------------------------
    def preprocess(self, images: list[Tensor] | Tensor,
                   pad_to: tuple[int, int] | None = None) -> tuple[Tensor, list[tuple[int, int]]]:
        """Validate, normalize ``(x - mean) / std`` and zero-pad to a multiple of ``size_divisibility`` (or to
        ``pad_to``, a multiple of it that holds every image).

        Returns (Tensor[N, 3, H', W'] float32, the (H, W) of every image before padding).
        """
        if isinstance(images, Tensor):
            if images.dim() != 4:
                raise ValueError(f"images should be Tensor[N, 3, H, W] or a list of Tensor[3, H, W], got shape {tuple(images.shape)}")
            images = list(images)
        if not images:
            raise ValueError("images should hold at least one image, got an empty list")
        for i, img in enumerate(images):
            if not isinstance(img, Tensor) or img.dim() != 3 or img.shape[0] != 3:
                shape = tuple(img.shape) if isinstance(img, Tensor) else type(img).__name__
                raise ValueError(f"images[{i}] should be Tensor[3, H, W] ({self.input_format}), got {shape}")
            if img.dtype not in (torch.uint8, torch.float32, torch.float16):
                raise ValueError(f"images[{i}] should be uint8 or float32 in 0..255, got {img.dtype}")
        sizes = [(int(img.shape[1]), int(img.shape[2])) for img in images]
        ph, pw = self.padded_size(sizes, pad_to)
        batch = self.pixel_mean.new_zeros((len(images), 3, ph, pw))
        for i, img in enumerate(images):
            x = (img.to(self.pixel_mean.device, torch.float32) - self.pixel_mean) / self.pixel_std
            batch[i, :, : x.shape[1], : x.shape[2]] = x
        return batch, sizes

    def padded_size(self, sizes: list[tuple[int, int]], pad_to: tuple[int, int] | None = None) -> tuple[int, int]:
        """The batch's padded (H', W'): ``pad_to``, else the largest image rounded up to ``size_divisibility``."""
        d = self.size_divisibility
        need = (-(-max(h for h, _ in sizes) // d) * d, -(-max(w for _, w in sizes) // d) * d)
        if pad_to is None:
            return need
        ph, pw = (int(v) for v in pad_to)
        if ph % d or pw % d or ph < need[0] or pw < need[1]:
            raise TrtPanopticError(f"pad_to should be multiples of {d} holding every image ({need[0]}x{need[1]} "
                                   f"at least), got {ph}x{pw} — pass a larger size or none")
        return ph, pw

    # ---- forward ---------------------------------------------------------------------------------------
    def forward(self, images: list[Tensor] | Tensor, targets: list[dict[str, Tensor]] | None = None, *,
                do_postprocess: bool = True, pad_to: tuple[int, int] | None = None) -> Any:
        if self.training and targets is None:
            raise ValueError("PanopticFPN in train mode needs targets; call .eval() for inference")
        x, sizes = self.preprocess(images, pad_to)
        features = self.backbone(x)
        sem_logits = upsample_logits(self.semantic_head(features), self.semantic_head.common_stride)
        if self.training:
            return self.losses(features, sem_logits, sizes, targets)
        proposals, _ = self.rpn(features, sizes)
        detections, _ = self.roi_heads(features, [p[0] for p in proposals], sizes)
        return [self.postprocess(sem_logits[i], det, size, do_postprocess) for i, (det, size) in enumerate(zip(detections, sizes))]

    def losses(self, features: dict[str, Tensor], sem_logits: Tensor, sizes: list[tuple[int, int]],
               targets: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        sem_target = sem_logits.new_full(sem_logits.shape[:1] + sem_logits.shape[2:], self.ignore_value, dtype=torch.long)
        for i, t in enumerate(targets):
            h, w = t["sem_seg"].shape
            sem_target[i, :h, :w] = t["sem_seg"]
        losses = {"sem_seg": semantic_loss(sem_logits, sem_target, self.ignore_value) * self.semantic_loss_weight}
        proposals, rpn_losses = self.rpn(features, sizes, [t["boxes"] for t in targets])
        _, roi_losses = self.roi_heads(features, [p[0] for p in proposals], sizes, targets)
        for name, value in {**rpn_losses, **roi_losses}.items():
            losses[name] = value * self.instance_loss_weight
        return losses

    def postprocess(self, sem_logits: Tensor, det: dict[str, Tensor], size: tuple[int, int],
                    do_postprocess: bool = True) -> dict[str, Any]:
        """Crop the padding; unless ``do_postprocess`` is False, also paste masks and fuse.

        ``sem_logits``: Tensor[C, H', W'] for the padded image.
        """
        h, w = size
        sem = sem_logits[:, :h, :w]
        labels = sem.argmax(dim=0)
        keep = nonempty(det["boxes"])  # clipping can leave zero-width boxes; they cannot hold a mask
        det = {k: v[keep] for k, v in det.items()}
        if not do_postprocess:
            return {"sem_seg": sem, "sem_labels": labels, "instances": det}
        panoptic = panoptic_from_detections(labels, det["mask_probs"], det["boxes"], det["scores"], det["classes"],
                                            **self.fusion)
        masks = paste_masks_in_image(det["mask_probs"], det["boxes"], size)
        instances = {**det, "masks": masks}
        return {"sem_seg": sem, "sem_labels": labels, "instances": instances, "panoptic": panoptic}

