"""Evaluate any :class:`~trt_panoptic.runtime.predictor.Predictor` on a COCO panoptic dataset: PQ and mIoU.

Predictions are scored in memory (no PNG round trip) with :class:`~trt_panoptic.evaluation.pq.PanopticEvaluator`
and, when asked, also written in COCO panoptic format (``panoptic/`` PNGs + ``panoptic.json``) so that
:func:`~trt_panoptic.evaluation.pq.pq_compute` or panopticapi can re-score them.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from trt_panoptic.data.categories import PanopticCategories
from trt_panoptic.data.coco_panoptic import coco_segments_info
from trt_panoptic.errors import TrtPanopticError

logger = logging.getLogger(__name__)


def categories_by_name(thing_classes, stuff_classes, dataset: PanopticCategories) -> PanopticCategories:
    """The model's class lists with the dataset's ids, matched by name (for mapping predictions to ids).

    Raises:
        TrtPanopticError: a model class has no dataset category of that name and kind.
    """
    things = dict(zip(dataset.thing_names, dataset.thing_ids))
    stuff = dict(zip(dataset.stuff_names, dataset.stuff_ids))
    for names, table, kind in ((thing_classes, things, "thing"), (stuff_classes, stuff, "stuff")):
        missing = [n for n in names if n not in table]
        if missing:
            raise TrtPanopticError(
                f"model {kind} classes should be {kind} categories of the dataset, got {missing} that are not — "
                "evaluate on data with the model's classes"
            )
    return PanopticCategories(
        tuple(things[n] for n in thing_classes), tuple(thing_classes),
        tuple(stuff[n] for n in stuff_classes), tuple(stuff_classes), dataset.colors,
    )


def result_to_coco(result, categories: PanopticCategories) -> tuple[np.ndarray, list[dict]]:
    """A :class:`~trt_panoptic.runtime.result.PanopticResult` → (int64 [H, W] id map, COCO ``segments_info``).

    Category ids, bbox, area and score as :func:`trt_panoptic.data.coco_panoptic.coco_segments_info` gives them.
    """
    pan = np.asarray(result.panoptic).astype(np.int64)
    segments = coco_segments_info(pan, result.segments_info, categories.thing_ids, categories.stuff_ids)
    return pan, segments


def evaluate_predictor(
    predictor: Any,
    data: str | Path,
    *,
    categories: PanopticCategories | None = None,
    pred_out: str | Path | None = None,
    force: bool = False,
    limit: int | None = None,
    progress: bool = True,
) -> dict:
    """Run ``predictor`` on every image of a COCO panoptic dataset and score it.

    Args:
        predictor: anything with ``predict(bgr_uint8_HWC) -> PanopticResult``, ``thing_classes``, ``stuff_classes``.
        data: dataset folder (``images/``, ``panoptic/``, ``panoptic.json``).
        categories: the model's classes with dataset ids (e.g. from the model config); None = match the
            predictor's class names to the dataset's categories.
        pred_out: if given, a folder to write the predictions to in COCO panoptic format.
        limit: evaluate only the first ``limit`` images.

    Returns:
        ``{"PQ", "SQ", "RQ", "PQ_th", "PQ_st", "mIoU"}`` in percent, plus ``"pq"`` (panopticapi's structure,
        fractions), ``"miou"`` (per-class IoU etc.), ``"num_images"`` and ``"images_per_s"`` (predict calls only).
    """
    from tqdm import tqdm

    from trt_panoptic.atomic_io import atomic_output_dir
    from trt_panoptic.data.coco_panoptic import (
        encode_panoptic_png,
        load_coco_panoptic,
        make_annotation,
        panoptic_to_targets,
        read_record_png,
        write_coco_panoptic_json,
    )
    from trt_panoptic.data.frames import read_image_bgr
    from trt_panoptic.evaluation.miou import SemSegEvaluator
    from trt_panoptic.evaluation.pq import PanopticEvaluator, pq_percent

    ds = load_coco_panoptic(data)
    cats = categories or categories_by_name(predictor.thing_classes, predictor.stuff_classes, ds.categories)
    pq_eval = PanopticEvaluator(ds.categories.to_coco())
    sem_eval = SemSegEvaluator(cats.num_stuff + 1)
    records = ds.records[:limit] if limit else ds.records
    images, annotations, pngs = [], [], {}
    predict_s = 0.0
    for rec in tqdm(records, desc="eval", unit="img", disable=not progress):
        image = read_image_bgr(rec.image_path)
        gt = read_record_png(rec)
        t0 = time.perf_counter()
        result = predictor.predict(image)
        predict_s += time.perf_counter() - t0
        pred_ids, pred_segments = result_to_coco(result, cats)
        pq_eval.add(gt, rec.segments_info, pred_ids, pred_segments, rec.image_id)
        sem_gt = panoptic_to_targets(gt, rec.segments_info, cats, source=str(rec.panoptic_path)).sem_seg
        sem_eval.add(np.asarray(result.sem_labels), sem_gt)
        if pred_out is not None:
            name = Path(rec.panoptic_path).name
            pngs[name] = encode_panoptic_png(pred_ids)
            h, w = pred_ids.shape
            images.append({"id": rec.image_id, "file_name": rec.image_path.name, "height": h, "width": w})
            annotations.append(make_annotation(rec.image_id, name, pred_ids, pred_segments))
    if pred_out is not None:
        with atomic_output_dir(pred_out, force=force, flag="--pred-out") as tmp:
            (tmp / "panoptic").mkdir()
            for name, data_bytes in pngs.items():
                (tmp / "panoptic" / name).write_bytes(data_bytes)
            write_coco_panoptic_json(tmp / "panoptic.json", images, annotations, ds.categories.to_coco())
    pq = pq_eval.results()
    miou = sem_eval.results()
    metrics = {**pq_percent(pq), "mIoU": miou["mIoU"]}
    logger.info("PQ %.1f (things %.1f, stuff %.1f)  mIoU %.1f over %d images",
                metrics["PQ"], metrics["PQ_th"], metrics["PQ_st"], metrics["mIoU"], len(records))
    return {**metrics, "pq": pq, "miou": miou, "num_images": len(records),
            "images_per_s": len(records) / predict_s if predict_s > 0 else 0.0}
