"""evaluate_predictor: a ground-truth oracle scores 100; written predictions re-score identically from files."""
from __future__ import annotations


import numpy as np
import pytest

from trt_panoptic.config import load_config
from trt_panoptic.data import PanopticCategories, load_coco_panoptic, read_targets
from trt_panoptic.data.coco_panoptic import read_panoptic_png
from trt_panoptic.data.synthetic import generate_synthetic_dataset
from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.evaluation import evaluate_predictor, pq_compute
from trt_panoptic.runtime.predictor import Predictor
from trt_panoptic.runtime.result import PanopticResult



class Oracle:
    """Returns the ground truth of each image in dataset order, as a backend would (model class indices)."""

    backend = "oracle"
    thread_safe = False
    height = width = None

    def __init__(self, root, categories, drop_first_thing=False):
        ds = load_coco_panoptic(root)
        self.cats = categories
        self.thing_classes, self.stuff_classes = list(categories.thing_names), list(categories.stuff_names)
        self.thing_ids, self.stuff_ids = list(categories.thing_ids), list(categories.stuff_ids)
        self.queue = list(ds.records)
        self.drop = drop_first_thing

    def predict(self, image):
        rec = self.queue.pop(0)
        pan = read_panoptic_png(rec.panoptic_path).astype(np.int32)
        t = read_targets(rec, self.cats)
        segments, dropped = [], False
        for s in rec.segments_info:
            if s["iscrowd"]:
                pan[pan == s["id"]] = 0  # a model does not predict crowd regions
            elif s["category_id"] in self.cats.thing_ids:
                if self.drop and not dropped:
                    pan[pan == s["id"]] = 0
                    dropped = True
                    continue
                segments.append({"id": s["id"], "isthing": True, "category_id": self.cats.thing_ids.index(s["category_id"]),
                                 "score": 1.0, "instance_id": len(segments)})
            else:
                segments.append({"id": s["id"], "isthing": False, "category_id": self.cats.stuff_channel()[s["category_id"]],
                                 "area": int((pan == s["id"]).sum())})
        assert image.shape[:2] == pan.shape
        return PanopticResult(panoptic=pan, segments_info=segments, sem_labels=np.where(t.sem_seg == 255, 0, t.sem_seg).astype(np.int32))


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return generate_synthetic_dataset(tmp_path_factory.mktemp("e") / "val", 4, seed=11, size=(64, 64), progress=False)


def test_oracle_scores_100_on_synthetic_data(synth):
    cats = PanopticCategories.from_model_config(load_config("r18_fpn_tiny").model)
    oracle = Oracle(synth, cats)
    assert isinstance(oracle, Predictor)
    m = evaluate_predictor(oracle, synth, categories=cats, progress=False)
    assert (m["PQ"], m["PQ_th"], m["PQ_st"], m["mIoU"]) == (100.0, 100.0, 100.0, 100.0)
    assert m["num_images"] == 4 and m["images_per_s"] > 0


def test_oracle_scores_100_on_real_coco_with_crowd_left_void(coco_sample):
    cats = load_coco_panoptic(coco_sample).categories
    m = evaluate_predictor(Oracle(coco_sample, cats), coco_sample, progress=False)  # classes matched by name
    assert (m["PQ"], m["PQ_th"], m["PQ_st"], m["mIoU"]) == (100.0, 100.0, 100.0, 100.0)


def test_written_predictions_rescore_the_same_from_files(synth, tmp_path):
    cats = PanopticCategories.from_model_config(load_config("r18_fpn_tiny").model)
    m = evaluate_predictor(Oracle(synth, cats, drop_first_thing=True), synth, categories=cats,
                           pred_out=tmp_path / "pred", progress=False)
    assert m["PQ_th"] < 100.0 and m["PQ_st"] == 100.0
    again = pq_compute(synth / "panoptic.json", tmp_path / "pred" / "panoptic.json", synth / "panoptic", tmp_path / "pred" / "panoptic")
    assert again == m["pq"]


class SyntheticClassesModel:
    backend = "none"
    thing_classes = ["disc", "box", "triangle"]
    stuff_classes = ["sky", "road", "grass", "wall"]
    thing_ids: list[int] = []
    stuff_ids: list[int] = []
    thread_safe = False
    height = width = None

    def predict(self, image):
        raise AssertionError("never called: the class check comes first")


def test_model_classes_must_exist_in_the_dataset(coco_sample):
    with pytest.raises(TrtPanopticError, match=r"thing classes .*\['disc', 'box', 'triangle'\]"):
        evaluate_predictor(SyntheticClassesModel(), coco_sample, progress=False)
