"""Panoptic Quality (Kirillov et al., CVPR 2019) with the rules of the COCO panoptic API.

The rules, per image, as in ``panopticapi.evaluation.pq_compute_single_core``:

- a ground-truth (GT) segment and a predicted segment *match* when they have the same category and
  IoU > 0.5 (strictly); crowd GT segments are never matched. IoU = intersection / union with
  union = pred area + GT area − intersection − (pred ∩ GT VOID): prediction pixels on VOID do not count.
  The GT area is the JSON's ``area`` (as panopticapi), the prediction's area is counted in its PNG.
- unmatched non-crowd GT segments are false negatives (FN); unmatched crowd GT are not counted.
- an unmatched prediction is a false positive (FP) unless more than half of its area lies on GT VOID plus
  the crowd region of its own category (one crowd segment per category, the last one listed, as panopticapi).
- per category: PQ = ΣIoU / (TP + FP/2 + FN/2), SQ = ΣIoU / TP, RQ = TP / (TP + FP/2 + FN/2); a category
  with TP + FP + FN = 0 is left out of the averages (and reported as zeros in ``per_class``).

Values are fractions (0..1), like panopticapi; :func:`pq_percent` gives the percent summary
(``PQ``, ``SQ``, ``RQ``, ``PQ_th``, ``PQ_st``). One difference: where panopticapi divides by zero (no
category of a group was seen), the average here is 0 with ``n`` = 0.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from trt_panoptic.errors import TrtPanopticError

logger = logging.getLogger(__name__)

OFFSET = 256 * 256 * 256  # ids are 24-bit (RGB), so gt * OFFSET + pred is a unique pair key
VOID = 0


@dataclass
class PQStatCat:
    """Sums of one category: matched IoU, true positives, false positives, false negatives."""

    iou: float = 0.0
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __iadd__(self, other: "PQStatCat") -> "PQStatCat":
        self.iou += other.iou
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        return self


class PQStat:
    """Per-category :class:`PQStatCat`, summed over images (``+=`` merges two, e.g. from two workers)."""

    def __init__(self) -> None:
        self.pq_per_cat: dict[int, PQStatCat] = defaultdict(PQStatCat)

    def __getitem__(self, category_id: int) -> PQStatCat:
        return self.pq_per_cat[category_id]

    def __iadd__(self, other: "PQStat") -> "PQStat":
        for cat, stat in other.pq_per_cat.items():
            self.pq_per_cat[cat] += stat
        return self

    def pq_average(self, categories: dict[int, dict], isthing: bool | None) -> tuple[dict, dict]:
        """Mean PQ/SQ/RQ over the categories of a group (None = all, True = things, False = stuff).

        Returns:
            ``({"pq", "sq", "rq", "n"}, {category_id: {"pq", "sq", "rq"}})``, fractions in 0..1.
        """
        pq = sq = rq = 0.0
        n = 0
        per_class = {}
        for cat, info in categories.items():
            if isthing is not None and (info["isthing"] == 1) != isthing:
                continue
            s = self.pq_per_cat.get(cat, PQStatCat())
            denom = s.tp + 0.5 * s.fp + 0.5 * s.fn
            if s.tp + s.fp + s.fn == 0:
                per_class[cat] = {"pq": 0.0, "sq": 0.0, "rq": 0.0}
                continue
            n += 1
            cls = {"pq": s.iou / denom, "sq": s.iou / s.tp if s.tp else 0.0, "rq": s.tp / denom}
            per_class[cat] = cls
            pq, sq, rq = pq + cls["pq"], sq + cls["sq"], rq + cls["rq"]
        if n == 0:
            return {"pq": 0.0, "sq": 0.0, "rq": 0.0, "n": 0}, per_class
        return {"pq": pq / n, "sq": sq / n, "rq": rq / n, "n": n}, per_class


def pq_stat_image(
    gt_ids: np.ndarray,
    gt_segments: Sequence[dict],
    pred_ids: np.ndarray,
    pred_segments: Sequence[dict],
    categories: dict[int, dict],
    image_id: Any = None,
) -> PQStat:
    """PQ statistics of one image from in-memory id maps (no PNG needed).

    Args:
        gt_ids / pred_ids: int [H, W] segment ids, 0 = VOID (same shape).
        gt_segments: GT ``segments_info`` (``id``, ``category_id``, ``iscrowd``, optional ``area`` — the
            pixel count is used when absent).
        pred_segments: predicted ``segments_info`` (``id``, ``category_id``); areas are counted here.
        categories: dataset category id → ``{"isthing": 0|1, ...}``.
        image_id: names the image in errors.

    Raises:
        TrtPanopticError: shapes differ, a predicted id is in the map but not in the segments (or the
            reverse), or a prediction has an unknown category.
    """
    gt_ids = np.asarray(gt_ids).astype(np.uint64)
    pred_ids = np.asarray(pred_ids).astype(np.uint64)
    if gt_ids.shape != pred_ids.shape:
        raise TrtPanopticError(
            f"image {image_id}: the prediction should be {gt_ids.shape[1]}x{gt_ids.shape[0]} like the ground truth, "
            f"got {pred_ids.shape[1]}x{pred_ids.shape[0]} — predict at the image's own size"
        )
    gt_segms = {int(s["id"]): dict(s) for s in gt_segments}
    pred_segms = {int(s["id"]): dict(s) for s in pred_segments}

    # Prediction areas come from the map; the map and the segment list must agree (panopticapi's checks).
    unlisted = set(pred_segms)
    labels, counts = np.unique(pred_ids, return_counts=True)
    for label, count in zip(labels.tolist(), counts.tolist()):
        if label not in pred_segms:
            if label == VOID:
                continue
            raise TrtPanopticError(
                f"image {image_id}: predicted segment id {label} is in the PNG but not in the JSON — write one segment per id"
            )
        pred_segms[label]["area"] = count
        unlisted.discard(label)
        if pred_segms[label]["category_id"] not in categories:
            raise TrtPanopticError(
                f"image {image_id}: predicted segment {label} has category_id {pred_segms[label]['category_id']}, "
                "which should be one of the ground truth's categories — map predictions to dataset ids"
            )
    if unlisted:
        raise TrtPanopticError(
            f"image {image_id}: predicted segment ids {sorted(unlisted)} are in the JSON but not in the PNG — drop empty segments"
        )
    need_gt_area = [sid for sid, s in gt_segms.items() if "area" not in s]

    # Intersections of every (gt id, pred id) pair in one pass.
    pair_labels, pair_counts = np.unique(gt_ids * np.uint64(OFFSET) + pred_ids, return_counts=True)
    inter: dict[tuple[int, int], int] = {}
    for label, count in zip(pair_labels.tolist(), pair_counts.tolist()):
        inter[(label // OFFSET, label % OFFSET)] = count
    if need_gt_area:
        gt_area = defaultdict(int)
        for (g, _), c in inter.items():
            gt_area[g] += c
        for sid in need_gt_area:
            gt_segms[sid]["area"] = gt_area.get(sid, 0)

    stat = PQStat()
    gt_matched, pred_matched = set(), set()
    for (g, p), intersection in inter.items():
        if g not in gt_segms or p not in pred_segms:
            continue
        gs, ps = gt_segms[g], pred_segms[p]
        if gs.get("iscrowd", 0) == 1 or gs["category_id"] != ps["category_id"]:
            continue
        union = ps["area"] + gs["area"] - intersection - inter.get((VOID, p), 0)
        iou = intersection / union
        if iou > 0.5:
            stat[gs["category_id"]].tp += 1
            stat[gs["category_id"]].iou += iou
            gt_matched.add(g)
            pred_matched.add(p)

    crowd_by_cat: dict[int, int] = {}
    for g, gs in gt_segms.items():
        if g in gt_matched:
            continue
        if gs.get("iscrowd", 0) == 1:
            crowd_by_cat[gs["category_id"]] = g  # the last crowd segment of a category wins, as panopticapi
            continue
        stat[gs["category_id"]].fn += 1

    for p, ps in pred_segms.items():
        if p in pred_matched:
            continue
        ignored = inter.get((VOID, p), 0)
        if ps["category_id"] in crowd_by_cat:
            ignored += inter.get((crowd_by_cat[ps["category_id"]], p), 0)
        if ignored / ps["area"] > 0.5:
            continue
        stat[ps["category_id"]].fp += 1
    return stat


def summarize(stat: PQStat, categories: dict[int, dict]) -> dict:
    """panopticapi's result: ``{"All"|"Things"|"Stuff": {"pq", "sq", "rq", "n"}, "per_class": {id: {...}}}``."""
    results: dict[str, Any] = {}
    for name, isthing in (("All", None), ("Things", True), ("Stuff", False)):
        results[name], per_class = stat.pq_average(categories, isthing)
        if name == "All":
            results["per_class"] = per_class
    return results


def pq_percent(results: dict) -> dict[str, float]:
    """Percent summary of :func:`pq_compute`'s result: ``PQ``, ``SQ``, ``RQ`` (All), ``PQ_th``, ``PQ_st`` in 0–100."""
    return {
        "PQ": 100.0 * results["All"]["pq"],
        "SQ": 100.0 * results["All"]["sq"],
        "RQ": 100.0 * results["All"]["rq"],
        "PQ_th": 100.0 * results["Things"]["pq"],
        "PQ_st": 100.0 * results["Stuff"]["pq"],
    }


class PanopticEvaluator:
    """Accumulates PQ over images fed as arrays (e.g. straight from a predictor), no PNGs written.

    Example::

        ev = PanopticEvaluator(gt_json["categories"])
        for ...:
            ev.add(gt_ids, gt_segments, pred_ids, pred_segments, image_id)
        results = ev.results()          # panopticapi's structure, fractions
        summary = pq_percent(results)   # PQ, SQ, RQ, PQ_th, PQ_st in percent
    """

    def __init__(self, categories: Sequence[dict] | dict[int, dict]) -> None:
        if isinstance(categories, dict):
            self.categories = dict(categories)
        else:
            self.categories = {int(c["id"]): c for c in categories}
        self.stat = PQStat()
        self.num_images = 0

    def add(self, gt_ids, gt_segments, pred_ids, pred_segments, image_id: Any = None) -> None:
        """Add one image (see :func:`pq_stat_image` for the arguments)."""
        self.stat += pq_stat_image(gt_ids, gt_segments, pred_ids, pred_segments, self.categories, image_id)
        self.num_images += 1

    def results(self) -> dict:
        return summarize(self.stat, self.categories)


def _default_folder(json_path: Path | None, folder: str | Path | None) -> Path:
    if folder is not None:
        return Path(folder)
    # panopticapi's default: X.json → X/ ; our dataset layout keeps the PNGs in panoptic/ beside the JSON.
    if json_path is None:
        raise TrtPanopticError("a PNG folder should be given with a JSON passed as a dict, got none — pass gt_folder/pred_folder")
    plain = json_path.with_suffix("")
    return plain if plain.is_dir() else json_path.parent / "panoptic"


def pq_compute(
    gt_json: str | Path | dict,
    pred_json: str | Path | dict,
    gt_folder: str | Path | None = None,
    pred_folder: str | Path | None = None,
) -> dict:
    """Evaluate COCO panoptic predictions against ground truth, like ``panopticapi.evaluation.pq_compute``.

    Args:
        gt_json / pred_json: paths to (or loaded) COCO panoptic JSONs; the categories are the GT's.
        gt_folder / pred_folder: folders of the panoptic PNGs (default: ``X/`` for ``X.json``, else the
            ``panoptic/`` folder beside the JSON).

    Returns:
        ``{"All": {"pq", "sq", "rq", "n"}, "Things": ..., "Stuff": ..., "per_class": {category_id: {"pq", "sq", "rq"}}}``
        with fractions in 0..1 (see :func:`pq_percent` for percent).

    Raises:
        TrtPanopticError: a missing file or folder, an image without prediction, or an inconsistent prediction.
    """
    from trt_panoptic.data.coco_panoptic import load_json, read_panoptic_png
    from tqdm import tqdm

    gt_path = None if isinstance(gt_json, dict) else Path(gt_json)
    pred_path = None if isinstance(pred_json, dict) else Path(pred_json)
    gt = gt_json if isinstance(gt_json, dict) else load_json(gt_path, "ground-truth JSON")
    pred = pred_json if isinstance(pred_json, dict) else load_json(pred_path, "prediction JSON")
    gt_dir, pred_dir = _default_folder(gt_path, gt_folder), _default_folder(pred_path, pred_folder)
    for d, what in ((gt_dir, "ground-truth"), (pred_dir, "prediction")):
        if not d.is_dir():
            raise TrtPanopticError(f"{what} PNG folder {d} should exist, got no such folder — pass the folder explicitly")
    evaluator = PanopticEvaluator(gt.get("categories") or [])
    if not evaluator.categories:
        raise TrtPanopticError("the ground-truth JSON should list its categories, got none — use a COCO panoptic JSON")
    preds = {a["image_id"]: a for a in pred.get("annotations", [])}
    for gt_ann in tqdm(gt.get("annotations", []), desc="PQ", unit="img", leave=False):
        image_id = gt_ann["image_id"]
        if image_id not in preds:
            raise TrtPanopticError(f"image {image_id} should have a prediction, got none — predict every ground-truth image")
        pred_ann = preds[image_id]
        evaluator.add(
            read_panoptic_png(gt_dir / gt_ann["file_name"]), gt_ann["segments_info"],
            read_panoptic_png(pred_dir / pred_ann["file_name"]), pred_ann["segments_info"],
            image_id,
        )
    results = evaluator.results()
    logger.info("PQ %.1f  SQ %.1f  RQ %.1f  (things %.1f, stuff %.1f) over %d images",
                *[pq_percent(results)[k] for k in ("PQ", "SQ", "RQ", "PQ_th", "PQ_st")], evaluator.num_images)
    return results
