"""Random panoptic-tail cases and the readable reference they are checked against (shared by the tail tests)."""
import torch

from trt_panoptic.postprocess import combine_panoptic, paste_masks_in_image


def reference(sem, probs, boxes, scores, classes, **rules):
    """The reference pair; empty boxes are dropped first (they cannot hold a mask) and ids mapped back."""
    keep = ((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])).nonzero().squeeze(1)
    masks = paste_masks_in_image(probs[keep], boxes[keep], tuple(sem.shape))
    pan, segments = combine_panoptic(sem, masks, scores[keep], classes[keep], **rules)
    for s in segments:
        if s["isthing"]:
            s["instance_id"] = int(keep[s["instance_id"]])
    return pan, segments


def random_case(seed, h, w, n, num_labels=5):
    """Blob-like masks in boxes that overlap, nest, touch the border, are tiny or empty; tied scores."""
    g = torch.Generator().manual_seed(seed)
    cell = 4 + seed % 5
    sem = torch.randint(0, num_labels, (h // cell + 1, w // cell + 1), generator=g)
    sem = sem.repeat_interleave(cell, 0).repeat_interleave(cell, 1)[:h, :w].contiguous()
    probs = torch.rand(n, 28, 28, generator=g)
    probs = (torch.nn.functional.avg_pool2d(probs[:, None], 5, 1, 2)[:, 0] * 1.6 - 0.3).clamp(0, 1)
    cx, cy = torch.rand(n, generator=g) * w, torch.rand(n, generator=g) * h
    bw = torch.rand(n, generator=g) * w * 0.5 + 0.2
    bh = torch.rand(n, generator=g) * h * 0.5 + 0.2
    boxes = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1)
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
    if n >= 4:
        boxes[1] = boxes[0] * 0.5  # shares its top-left corner with box 0's when that is at the origin
        boxes[2] = torch.tensor([boxes[3, 0] + 1, boxes[3, 1] + 1, boxes[3, 2] - 1, boxes[3, 3] - 1])  # nested
        boxes[3, 2] = boxes[3, 0]  # an empty box
    scores = torch.rand(n, generator=g) * 0.7 + 0.35
    scores[: n // 3] = scores[n // 3: 2 * (n // 3)]  # ties
    return sem, probs, boxes, scores, torch.randint(0, 3, (n,), generator=g)


def near_threshold(probs, boxes, size, eps=1e-5):
    """Pixels whose pasted probability (the reference's) lies within eps of 0.5 for some instance."""
    low = paste_masks_in_image(probs, boxes, size, threshold=0.5 - eps)
    high = paste_masks_in_image(probs, boxes, size, threshold=0.5 + eps)
    return (low != high).any(dim=0)
