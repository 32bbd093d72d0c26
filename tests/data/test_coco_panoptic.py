"""The COCO panoptic reader on the real sample: targets as detectron2's panoptic_separated, bad input errors."""
from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trt_panoptic.config import load_config
from trt_panoptic.data import PanopticCategories, load_coco_panoptic, read_targets
from trt_panoptic.data.coco_panoptic import id2rgb, panoptic_to_targets, rgb2id, write_panoptic_png
from trt_panoptic.errors import TrtPanopticError



def png_ids_pil(path: Path) -> np.ndarray:
    """An independent decoder (PIL, RGB order) for the panoptic PNG."""
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]


@pytest.fixture(scope="module")
def sample(coco_sample):
    ds = load_coco_panoptic(coco_sample)
    gt = json.loads((coco_sample / "panoptic.json").read_text())
    return ds, gt


def test_categories_come_from_the_json(sample):
    ds, _ = sample
    assert ds.categories.num_things == 80 and ds.categories.num_stuff == 53
    assert ds.categories.thing_ids[:3] == (1, 2, 3) and ds.categories.thing_names[0] == "person"
    assert len(ds) == 2


def test_instance_class_counts(sample):
    ds, _ = sample
    cats = ds.categories
    counts = [Counter(cats.thing_ids[c] for c in read_targets(r, cats).classes.tolist()) for r in ds.records]
    # counted by hand from panoptic.json (crowd segments excluded): 142238: 13 × id 1, 1 × id 37;
    # 439180: 13 × id 1, 2 × id 8, 11 × id 19 (+1 crowd of id 1 and of id 19).
    assert counts[0] == {1: 13, 37: 1}
    assert counts[1] == {1: 13, 8: 2, 19: 11}


def test_crowd_is_other_in_the_semantic_target_and_absent_from_instances(sample):
    ds, gt = sample
    for rec, ann in zip(ds.records, gt["annotations"]):
        t = read_targets(rec, ds.categories)
        ids = png_ids_pil(rec.panoptic_path)
        crowd = [s for s in ann["segments_info"] if s["iscrowd"]]
        assert crowd, "the sample has a crowd region in every image"
        for s in crowd:
            region = ids == s["id"]
            assert region.sum() == s["area"]
            assert (t.sem_seg[region] == 0).all()
            assert not t.masks[:, region].any()
            assert s["id"] not in t.segment_ids.tolist()


def test_masks_boxes_and_semantic_labels_match_the_png(sample):
    ds, gt = sample
    cats = ds.categories
    for rec, ann in zip(ds.records, gt["annotations"]):
        t = read_targets(rec, cats)
        ids = png_ids_pil(rec.panoptic_path)
        by_id = {s["id"]: s for s in ann["segments_info"]}
        assert t.masks.dtype == bool and t.masks.shape == (len(t.classes), rec.height, rec.width)
        assert t.boxes.dtype == np.float32 and t.classes.dtype == np.int64
        for mask, box, cls, sid in zip(t.masks, t.boxes, t.classes, t.segment_ids):
            s = by_id[int(sid)]
            np.testing.assert_array_equal(mask, ids == sid)
            assert mask.sum() == s["area"]
            x, y, w, h = s["bbox"]
            np.testing.assert_array_equal(box, [x, y, x + w, y + h])
            assert cats.thing_ids[cls] == s["category_id"]
        expected = np.full(ids.shape, 255, np.int64)  # VOID stays 255
        for s in ann["segments_info"]:
            cat = s["category_id"]
            expected[ids == s["id"]] = 0 if cat in cats.thing_ids else cats.stuff_ids.index(cat) + 1
        np.testing.assert_array_equal(t.sem_seg, expected)
        assert (t.sem_seg == 255).sum() == (ids == 0).sum() > 0


def test_model_config_categories_give_the_synthetic_classes():
    cats = PanopticCategories.from_model_config(load_config("r18_fpn_tiny").model)
    assert cats.thing_ids == (1, 2, 3) and cats.stuff_ids == (4, 5, 6, 7)
    assert cats.thing_names == ("disc", "box", "triangle")
    assert cats.stuff_channel() == {4: 1, 5: 2, 6: 3, 7: 4}


def test_targets_on_a_hand_made_map():
    cats = PanopticCategories((1, 2), ("a", "b"), (4, 5), ("s", "t"))
    ids = np.array([[40, 40, 11, 11], [50, 0, 11, 12], [50, 50, 13, 13]])
    segs = [{"id": 40, "category_id": 4}, {"id": 50, "category_id": 5}, {"id": 11, "category_id": 2},
            {"id": 12, "category_id": 1}, {"id": 13, "category_id": 1, "iscrowd": 1}]
    t = panoptic_to_targets(ids, segs, cats)
    np.testing.assert_array_equal(t.sem_seg, [[1, 1, 0, 0], [2, 255, 0, 0], [2, 2, 0, 0]])
    assert t.classes.tolist() == [1, 0] and t.segment_ids.tolist() == [11, 12]
    np.testing.assert_array_equal(t.boxes, [[2, 0, 4, 2], [3, 1, 4, 2]])


def test_rgb_id_round_trip():
    ids = np.array([[0, 1, 255, 256], [65535, 65536, 256**3 - 1, 7001]])
    assert (rgb2id(id2rgb(ids)) == ids).all()
    assert id2rgb(np.array([[1 + 2 * 256 + 3 * 65536]]))[0, 0].tolist() == [1, 2, 3]
    ids = np.array([[0, 1, 256 + 2, 65536 * 3 + 256 * 4 + 5]])
    assert id2rgb(ids).tolist() == [[[0, 0, 0], [1, 0, 0], [2, 1, 0], [5, 4, 3]]]


# ------------------------------------------------------------------------------------------ bad input
@pytest.fixture
def copy_of_sample(tmp_path, coco_sample):
    root = tmp_path / "ds"
    shutil.copytree(coco_sample, root)
    return root


def edit_json(root: Path, fn) -> None:
    data = json.loads((root / "panoptic.json").read_text())
    fn(data)
    (root / "panoptic.json").write_text(json.dumps(data))


def test_missing_png_names_the_file(copy_of_sample):
    (copy_of_sample / "panoptic" / "000000439180.png").unlink()
    with pytest.raises(TrtPanopticError, match="000000439180.png"):
        load_coco_panoptic(copy_of_sample)


def test_png_id_absent_from_json_names_the_id(copy_of_sample):
    edit_json(copy_of_sample, lambda d: d["annotations"][0]["segments_info"].pop(0))  # id 3937500
    ds = load_coco_panoptic(copy_of_sample)
    with pytest.raises(TrtPanopticError, match=r"000000142238.png.*3937500"):
        read_targets(ds.records[0], ds.categories)


def test_unknown_category_names_the_segment(copy_of_sample, coco_sample):
    def bad(d):
        d["annotations"][1]["segments_info"][0]["category_id"] = 999
    edit_json(copy_of_sample, bad)
    with pytest.raises(TrtPanopticError, match=r"image 439180 segment 3937500 has category_id 999"):
        load_coco_panoptic(copy_of_sample)
    # the synthetic classes (ids 1..7) cannot read COCO either: id 37 is unknown to them
    with pytest.raises(TrtPanopticError, match="category_id"):
        load_coco_panoptic(coco_sample, categories=PanopticCategories.from_model_config(load_config("r18_fpn_tiny").model))


def test_corrupt_png_and_image_name_the_file(copy_of_sample):
    from trt_panoptic.data.frames import read_image_bgr

    (copy_of_sample / "panoptic" / "000000142238.png").write_bytes(b"not a png")
    (copy_of_sample / "images" / "000000439180.jpg").write_bytes(b"\xff\xd8 truncated")
    ds = load_coco_panoptic(copy_of_sample)
    with pytest.raises(TrtPanopticError, match="000000142238.png.*corrupt"):
        read_targets(ds.records[0], ds.categories)
    with pytest.raises(TrtPanopticError, match="000000439180.jpg.*truncated JPEG"):
        read_image_bgr(ds.records[1].image_path)


def test_empty_dataset_and_missing_json(copy_of_sample, tmp_path):
    edit_json(copy_of_sample, lambda d: d.update(annotations=[]))
    with pytest.raises(TrtPanopticError, match="empty dataset"):
        load_coco_panoptic(copy_of_sample)
    with pytest.raises(TrtPanopticError, match="panoptic.json should exist"):
        load_coco_panoptic(tmp_path / "nowhere")


def test_written_png_reads_back(tmp_path):
    ids = np.arange(12, dtype=np.int64).reshape(3, 4) * 70001
    write_panoptic_png(tmp_path / "x.png", ids)
    np.testing.assert_array_equal(png_ids_pil(tmp_path / "x.png"), ids)
    assert not list(tmp_path.glob(".*tmp"))


def test_cityscapes_layout_goes_through_the_same_reader(tmp_path, coco_sample):
    # cityscapesScripts' createPanopticImgs layout, with the COCO sample's content standing in.
    from trt_panoptic.data.coco_panoptic import load_cityscapes_panoptic

    data = json.loads((coco_sample / "panoptic.json").read_text())
    (tmp_path / "gtFine" / "cityscapes_panoptic_val").mkdir(parents=True)
    for img, ann in zip(data["images"], data["annotations"]):
        stem = f"frankfurt_000000_{img['id']:06d}"
        (tmp_path / "leftImg8bit" / "val" / "frankfurt").mkdir(parents=True, exist_ok=True)
        shutil.copy(coco_sample / "images" / img["file_name"], tmp_path / "leftImg8bit" / "val" / "frankfurt" / f"{stem}_leftImg8bit.png")
        shutil.copy(coco_sample / "panoptic" / ann["file_name"], tmp_path / "gtFine" / "cityscapes_panoptic_val" / f"{stem}_gtFine_panoptic.png")
        img["id"] = ann["image_id"] = stem  # Cityscapes ids are strings
        img["file_name"], ann["file_name"] = f"{stem}_leftImg8bit.png", f"{stem}_gtFine_panoptic.png"
    (tmp_path / "gtFine" / "cityscapes_panoptic_val.json").write_text(json.dumps(data))
    ds = load_cityscapes_panoptic(tmp_path, "val")
    assert ds.records[0].image_path.parent.name == "frankfurt" and ds.records[0].image_id == "frankfurt_000000_142238"
    assert len(read_targets(ds.records[1], ds.categories).classes) == 26
