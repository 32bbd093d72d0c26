"""Matching predictions to ground truth by IoU, and balanced sampling of the matches (training only)."""
from __future__ import annotations

import torch
from torch import Tensor


def match_by_iou(
    quality: Tensor, thresholds: list[float], labels: list[int], allow_low_quality_matches: bool = False
) -> tuple[Tensor, Tensor]:
    """Assign every prediction (column) its best ground truth (row) and a label by IoU band.

    Args:
        quality: Tensor[G, P] IoU of G ground-truth boxes with P predictions/anchors.
        thresholds: band edges, e.g. [0.3, 0.7]; bands are [-inf, t0), [t0, t1), ..., [tn, inf).
        labels: one label per band (1 = foreground, 0 = background, -1 = ignore).
        allow_low_quality_matches: also make foreground every prediction that is the best match of some
            ground truth (Faster R-CNN's RPN rule, so every object gets an anchor).

    Returns:
        (matches Tensor[P] int64 index of the matched ground truth, match_labels Tensor[P] int8).
    """
    assert len(labels) == len(thresholds) + 1, "sampling: one label per IoU band"
    num_preds = quality.shape[1]
    if quality.shape[0] == 0:
        return (quality.new_zeros(num_preds, dtype=torch.int64), quality.new_full((num_preds,), labels[0], dtype=torch.int8))
    vals, matches = quality.max(dim=0)
    match_labels = matches.new_ones(num_preds, dtype=torch.int8)
    edges = [-float("inf")] + list(thresholds) + [float("inf")]
    for label, low, high in zip(labels, edges[:-1], edges[1:]):
        match_labels[(vals >= low) & (vals < high)] = label
    if allow_low_quality_matches:
        best_per_gt = quality.max(dim=1).values
        _, pred_idx = torch.nonzero(quality == best_per_gt[:, None], as_tuple=True)
        match_labels[pred_idx] = 1
    return matches, match_labels


def subsample_labels(
    labels: Tensor, num_samples: int, positive_fraction: float, bg_label: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Random subset with at most ``positive_fraction`` foreground; returns (pos_idx, neg_idx).

    ``labels``: Tensor[P] with -1 = ignore, ``bg_label`` = background, anything else = foreground.
    """
    positive = torch.nonzero((labels != -1) & (labels != bg_label)).squeeze(1)
    negative = torch.nonzero(labels == bg_label).squeeze(1)
    num_pos = min(positive.numel(), int(num_samples * positive_fraction))
    num_neg = min(negative.numel(), num_samples - num_pos)
    perm_pos = torch.randperm(positive.numel(), generator=generator)[:num_pos].to(labels.device)
    perm_neg = torch.randperm(negative.numel(), generator=generator)[:num_neg].to(labels.device)
    return positive[perm_pos], negative[perm_neg]
