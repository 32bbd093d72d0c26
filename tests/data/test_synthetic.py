"""Synthetic panoptic images: COCO panoptic layout, classes from the config, determinism, occlusion rules."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from trt_panoptic.config import load_config
from trt_panoptic.data import PanopticCategories, load_coco_panoptic, read_targets
from trt_panoptic.data.coco_panoptic import read_panoptic_png
from trt_panoptic.data.frames import read_image_bgr
from trt_panoptic.data.synthetic import (
    SceneSpec,
    Thing,
    _drop_small,
    generate_synthetic_dataset,
    paint_things,
    parse_size,
    render_scene,
)
from trt_panoptic.errors import TrtPanopticError


def digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return generate_synthetic_dataset(tmp_path_factory.mktemp("s") / "train", 12, seed=5, size=(96, 128), progress=False)


def test_layout_and_json_follow_coco_panoptic(synth):
    data = json.loads((synth / "panoptic.json").read_text())
    model = load_config("r18_fpn_tiny").model
    assert [c["name"] for c in data["categories"]] == model.thing_classes + model.stuff_classes
    assert [c["id"] for c in data["categories"]] == model.thing_ids + model.stuff_ids
    assert [c["isthing"] for c in data["categories"]] == [1, 1, 1, 0, 0, 0, 0]
    assert all(len(c["color"]) == 3 for c in data["categories"])
    assert len(data["images"]) == len(data["annotations"]) == 12
    for img, ann in zip(data["images"], data["annotations"]):
        assert (img["height"], img["width"]) == (96, 128) and ann["image_id"] == img["id"]
        assert read_image_bgr(synth / "images" / img["file_name"]).shape == (96, 128, 3)
        ids = read_panoptic_png(synth / "panoptic" / ann["file_name"])
        assert set(np.unique(ids).tolist()) - {0} == {s["id"] for s in ann["segments_info"]}
        for s in ann["segments_info"]:
            assert set(s) == {"id", "category_id", "iscrowd", "bbox", "area"}
            m = ids == s["id"]
            ys, xs = np.nonzero(m)
            assert s["area"] == m.sum() >= SceneSpec().min_area_for(96, 128)  # no sliver left
            assert s["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]


def test_scenes_have_several_things_and_stuff_classes(synth):
    data = json.loads((synth / "panoptic.json").read_text())
    things = [sum(s["category_id"] <= 3 for s in a["segments_info"]) for a in data["annotations"]]
    stuff = {s["category_id"] for a in data["annotations"] for s in a["segments_info"] if s["category_id"] > 3}
    thing_classes = {s["category_id"] for a in data["annotations"] for s in a["segments_info"] if s["category_id"] <= 3}
    assert np.mean(things) >= 2.5 and max(things) >= 4
    assert stuff == {4, 5, 6, 7} and thing_classes == {1, 2, 3}


def test_reader_gives_targets_of_the_synthetic_classes(synth):
    ds = load_coco_panoptic(synth, categories=PanopticCategories.from_model_config(load_config("r18_fpn_tiny").model))
    t = read_targets(ds.records[0], ds.categories)
    assert t.sem_seg.max() <= 4 or (t.sem_seg == 255).any()
    assert set(np.unique(t.sem_seg).tolist()) <= {0, 1, 2, 3, 4, 255}
    assert len(t.classes) > 0 and t.classes.max() < 3


def test_same_seed_gives_identical_bytes_and_other_seeds_differ(tmp_path, synth):
    again = generate_synthetic_dataset(tmp_path / "again", 12, seed=5, size=(96, 128), progress=False)
    assert digest(again) == digest(synth)
    # image i only depends on (seed, i): a shorter run is a prefix of a longer one
    short = generate_synthetic_dataset(tmp_path / "short", 3, seed=5, size=(96, 128), progress=False)
    assert digest(short)["images/000002.png"] == digest(synth)["images/000002.png"]
    other = generate_synthetic_dataset(tmp_path / "other", 3, seed=6, size=(96, 128), progress=False)
    assert digest(other)["images/000000.png"] != digest(synth)["images/000000.png"]


def test_refuses_a_non_empty_out_without_force_and_leaves_no_temp(tmp_path):
    out = tmp_path / "d"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(TrtPanopticError, match="--force"):
        generate_synthetic_dataset(out, 1, size=(64, 64), progress=False)
    assert (out / "keep.txt").read_text() == "mine"
    generate_synthetic_dataset(out, 1, size=(64, 64), force=True, progress=False)
    assert not (out / "keep.txt").exists() and (out / "panoptic.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def _thing(kind, cx, cy, size):
    c = np.array([0, 0, 255], np.float32)
    return Thing(kind, cx, cy, size, 0.0, 1.0, (0.0,) * 6, c, c, "solid", 4.0)


def test_later_shapes_occlude_and_hidden_or_tiny_leftovers_are_dropped():
    h = w = 64
    image = np.zeros((h, w, 3), np.float32)
    pan = np.full((h, w), 4000, np.int64)
    # 1001: small disc fully inside the big box 2001 drawn later; 3001: triangle mostly covered by box 2002.
    things = [_thing("disc", 20, 20, 5), _thing("box", 20, 20, 14), _thing("triangle", 50, 50, 8), _thing("box", 50, 52, 10)]
    paint_things(image, pan, things, [1001, 2001, 3001, 2002])
    assert 1001 not in pan  # fully occluded: never written
    leftover = int((pan == 3001).sum())
    assert 0 < leftover < 20
    dropped = _drop_small(pan, min_area=20)
    assert 3001 not in dropped and (dropped[pan == 3001] == 0).all()  # sliver → VOID
    assert (dropped[pan != 3001] == pan[pan != 3001]).all()


def test_render_scene_segments_match_the_map():
    cats = PanopticCategories.from_model_config(load_config("r18_fpn_tiny").model)
    image, pan, segs = render_scene(np.random.default_rng(0), 80, 80, cats)
    assert image.dtype == np.uint8 and image.shape == (80, 80, 3)
    assert {s["id"] for s in segs} == set(np.unique(pan).tolist()) - {0}


def test_parse_size():
    assert parse_size("256x320") == (256, 320) and parse_size("128") == (128, 128)
    for bad in ("abc", "10x10", "1x2x3"):
        with pytest.raises(TrtPanopticError, match="--size"):
            parse_size(bad)
