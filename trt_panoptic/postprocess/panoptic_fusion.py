"""Panoptic fusion: instances first by score, then stuff in the pixels left (Kirillov et al. 2019, Sec. 4)."""
from __future__ import annotations

import torch
from torch import Tensor


def combine_panoptic(
    sem_labels: Tensor,
    masks: Tensor,
    scores: Tensor,
    classes: Tensor,
    *,
    instance_score_thresh: float = 0.5,
    overlap_thresh: float = 0.5,
    stuff_area_limit: int = 4096,
) -> tuple[Tensor, list[dict]]:
    """Merge instance masks and the semantic label map into one non-overlapping segment map.

    Instances are placed by decreasing score; one scoring below ``instance_score_thresh`` ends the
    instance pass. An instance whose overlap with already-placed pixels is more than ``overlap_thresh`` of
    its own area is skipped; otherwise it takes its unclaimed pixels. Then every stuff label (1..S; 0 is
    'other' and never becomes stuff) takes its still-unclaimed pixels if they number at least
    ``stuff_area_limit`` (scale it with the image area for small inputs).

    Args:
        sem_labels: Tensor[H, W] int semantic labels.
        masks: Tensor[N, H, W] bool instance masks.
        scores: Tensor[N]; classes: Tensor[N] 0-based thing classes.

    Returns:
        (panoptic Tensor[H, W] int32 with 0 = unassigned, segments_info list): things
        ``{"id", "isthing": True, "score", "category_id", "instance_id"}``, stuff
        ``{"id", "isthing": False, "category_id", "area"}``.
    """
    panoptic = torch.zeros(sem_labels.shape, dtype=torch.int32, device=sem_labels.device)
    segments: list[dict] = []
    next_id = 0
    order = torch.argsort(-scores, stable=True)
    for inst in order.tolist():
        score = float(scores[inst])
        if score < instance_score_thresh:
            break
        mask = masks[inst].bool()
        area = int(mask.sum())
        if area == 0:
            continue
        taken = mask & (panoptic > 0)
        taken_area = int(taken.sum())
        if taken_area / area > overlap_thresh:
            continue
        if taken_area:
            mask = mask & (panoptic == 0)
        next_id += 1
        panoptic[mask] = next_id
        segments.append({"id": next_id, "isthing": True, "score": score, "category_id": int(classes[inst]), "instance_id": inst})
    for label in torch.unique(sem_labels).tolist():
        if label <= 0:
            continue
        mask = (sem_labels == label) & (panoptic == 0)
        area = int(mask.sum())
        if area < stuff_area_limit:
            continue
        next_id += 1
        panoptic[mask] = next_id
        segments.append({"id": next_id, "isthing": False, "category_id": int(label), "area": area})
    return panoptic, segments
