"""The COCO panoptic output of the pipeline is what the project's evaluator reads: an oracle predictor that
returns the ground truth must score PQ = 100 through image-folder source → pipeline → ``coco:`` sink."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from trt_panoptic.data.coco_panoptic import read_panoptic_png
from trt_panoptic.data.synthetic import generate_synthetic_dataset
from trt_panoptic.evaluation.pq import pq_compute
from trt_panoptic.runtime.result import PanopticResult
from trt_panoptic.video.pipeline import Pipeline, PipelineConfig
from trt_panoptic.video.sinks import CocoPanopticSink
from trt_panoptic.video.sources import open_source


class OraclePredictor:
    """Returns each image's ground truth in Predictor form (r18_fpn_tiny ids: things 1..3, stuff 4..7)."""

    backend = "oracle"
    thing_classes = ["disc", "box", "triangle"]
    stuff_classes = ["sky", "road", "grass", "wall"]
    thing_ids: list[int] = []  # 1..3, 4..7
    stuff_ids: list[int] = []
    thread_safe = False
    height = width = None

    def __init__(self, root: Path) -> None:
        data = json.loads((root / "panoptic.json").read_text())
        self._truth = [(root / "panoptic" / a["file_name"], a["segments_info"]) for a in data["annotations"]]
        self._next = 0

    def predict(self, image: np.ndarray) -> PanopticResult:
        png, segments = self._truth[self._next]
        self._next += 1
        ids = read_panoptic_png(png).astype(np.int32)
        infos = []
        for seg in segments:
            cid = int(seg["category_id"])
            if cid <= 3:
                infos.append({"id": int(seg["id"]), "isthing": True, "category_id": cid - 1, "score": 1.0})
            else:
                infos.append({"id": int(seg["id"]), "isthing": False, "category_id": cid - 3,
                              "area": int((ids == seg["id"]).sum())})
        return PanopticResult(ids, infos, np.zeros_like(ids))


def test_oracle_predictions_through_the_pipeline_score_pq_100(tmp_path: Path) -> None:
    gt = generate_synthetic_dataset(tmp_path / "gt", num_images=3, seed=5, size=(96, 128), progress=False)
    pred = tmp_path / "pred"
    stats = Pipeline(open_source(str(gt / "images")), OraclePredictor(gt), [CocoPanopticSink(pred)],
                     PipelineConfig(render=False)).run()
    assert stats.frames_written == 3
    result = pq_compute(gt / "panoptic.json", pred / "panoptic.json", gt / "panoptic", pred / "panoptic")
    for part in ("All", "Things", "Stuff"):
        assert result[part]["pq"] == 1.0, (part, result[part])  # fractions in 0..1
    # the images are the inputs' own files (PNGs here), so predictions join the ground truth by name too
    names = [img["file_name"] for img in json.loads((pred / "panoptic.json").read_text())["images"]]
    assert names == [img["file_name"] for img in json.loads((gt / "panoptic.json").read_text())["images"]]
    assert names[0].endswith(".png")
