"""PQ with the COCO panoptic API's rules: hand-computed cases, a brute-force reference, real ground truth."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from trt_panoptic.data.coco_panoptic import write_panoptic_png
from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.evaluation import PanopticEvaluator, pq_compute, pq_percent


# Category 1 is a thing, 2 a thing, 10 and 11 are stuff.
CATS = [
    {"id": 1, "name": "a", "isthing": 1},
    {"id": 2, "name": "b", "isthing": 1},
    {"id": 10, "name": "s", "isthing": 0},
    {"id": 11, "name": "t", "isthing": 0},
]


def seg(sid, cat, crowd=0, area=None):
    s = {"id": sid, "category_id": cat, "iscrowd": crowd}
    if area is not None:
        s["area"] = area
    return s


def evaluate(gt_row, gt_segs, pred_row, pred_segs):
    ev = PanopticEvaluator(CATS)
    ev.add(np.array([gt_row]), gt_segs, np.array([pred_row]), pred_segs, image_id=7)
    return ev.results()


def test_iou_exactly_half_is_not_a_match():
    # thing 1 (4 px) vs pred 5: intersection 2, union 4 → IoU 0.5 → FN + FP.
    # stuff 2 (4 px) vs pred 6 (6 px): intersection 4, union 6 → IoU 2/3 → TP.
    r = evaluate([1, 1, 1, 1, 2, 2, 2, 2], [seg(1, 1), seg(2, 10)],
                 [5, 5, 6, 6, 6, 6, 6, 6], [seg(5, 1), seg(6, 10)])
    assert r["per_class"][1] == {"pq": 0.0, "sq": 0.0, "rq": 0.0}
    assert r["Things"]["n"] == 1 and r["Things"]["pq"] == 0.0
    assert r["Stuff"]["pq"] == pytest.approx(2 / 3) and r["Stuff"]["sq"] == pytest.approx(2 / 3)
    assert r["Stuff"]["rq"] == 1.0
    assert r["All"] == {"pq": pytest.approx(1 / 3), "sq": pytest.approx(1 / 3), "rq": pytest.approx(0.5), "n": 2}


def test_just_above_half_matches():
    # gt 1 has 4 px, pred 5 covers 3 of them: IoU 3/4, a TP: PQ = SQ = 0.75, RQ = 1.
    r = evaluate([1, 1, 1, 1, 0], [seg(1, 1)], [5, 5, 5, 6, 6], [seg(5, 1), seg(6, 2)])
    assert r["per_class"][1] == {"pq": 0.75, "sq": 0.75, "rq": 1.0}
    # pred 6 (cat 2): 1 px on gt 1, 1 px on VOID → VOID share 0.5, not > 0.5 → a false positive.
    assert r["per_class"][2] == {"pq": 0.0, "sq": 0.0, "rq": 0.0}
    assert r["Things"]["n"] == 2


def test_union_excludes_prediction_on_void():
    # gt: 3 px of thing 1 then 3 px VOID; pred covers all 6 → IoU 3/(6+3-3-3) = 1 (would be 0.5 without the rule).
    r = evaluate([1, 1, 1, 0, 0, 0], [seg(1, 1)], [5] * 6, [seg(5, 1)])
    assert r["All"] == {"pq": 1.0, "sq": 1.0, "rq": 1.0, "n": 1}


def test_false_positive_mostly_in_void_is_ignored():
    # pred 6 (stuff 11) lies 3/3 on VOID → not an FP; category 11 is then absent from the averages.
    r = evaluate([1, 1, 0, 0, 0], [seg(1, 1)], [5, 5, 6, 6, 6], [seg(5, 1), seg(6, 11)])
    assert r["All"]["n"] == 1 and r["All"]["pq"] == 1.0
    assert r["Stuff"] == {"pq": 0.0, "sq": 0.0, "rq": 0.0, "n": 0}
    # 2 of 3 on VOID (> 0.5) is still ignored; 1 of 3 is an FP.
    r = evaluate([1, 1, 0, 0, 10], [seg(1, 1), seg(10, 10)], [5, 5, 6, 6, 6], [seg(5, 1), seg(6, 11)])
    assert r["per_class"][11]["pq"] == 0.0 and r["Stuff"]["n"] == 1  # stuff 10 is an FN, 11 ignored
    r = evaluate([1, 1, 0, 10, 10], [seg(1, 1), seg(10, 10)], [5, 5, 6, 6, 6], [seg(5, 1), seg(6, 11)])
    assert r["Stuff"]["n"] == 2  # now 11 counts as an FP


def test_crowd_is_never_matched_and_not_counted():
    # gt: thing 1 (2 px), crowd of category 1 (4 px). pred 5 = thing 1 exactly; pred 6 covers the crowd exactly.
    gt_segs = [seg(1, 1), seg(3, 1, crowd=1)]
    r = evaluate([1, 1, 3, 3, 3, 3], gt_segs, [5, 5, 6, 6, 6, 6], [seg(5, 1), seg(6, 1)])
    # 6 would be a perfect match of a crowd segment: no TP, and no FP (inside same-class crowd); crowd no FN.
    assert r["per_class"][1] == {"pq": 1.0, "sq": 1.0, "rq": 1.0}
    # the same region predicted as another class is an FP of that class (the crowd belongs to category 1).
    r = evaluate([1, 1, 3, 3, 3, 3], gt_segs, [5, 5, 6, 6, 6, 6], [seg(5, 1), seg(6, 2)])
    assert r["per_class"][2] == {"pq": 0.0, "sq": 0.0, "rq": 0.0} and r["Things"]["n"] == 2
    # the crowd alone, never predicted: nothing counted at all.
    r = evaluate([0, 0, 3, 3, 3, 3], [seg(3, 1, crowd=1)], [0] * 6, [])
    assert r["All"]["n"] == 0


def test_crowd_plus_void_share_decides():
    # pred 6 (cat 1): 1 px crowd(1) + 1 px VOID + 1 px stuff → 2/3 ignored → no FP.
    gt_segs = [seg(3, 1, crowd=1), seg(10, 10)]
    r = evaluate([3, 0, 10, 10, 10], gt_segs, [6, 6, 6, 7, 7], [seg(6, 1), seg(7, 10)])
    assert r["Things"]["n"] == 0


def test_gt_area_comes_from_the_json_like_panopticapi():
    # JSON says the gt segment has 3 px while the map has 2: union = 2 + 3 - 2 = 3 → IoU 2/3.
    r = evaluate([1, 1, 0], [seg(1, 1, area=3)], [5, 5, 0], [seg(5, 1)])
    assert r["All"]["pq"] == pytest.approx(2 / 3)


def test_inconsistent_prediction_is_an_error_naming_the_image():
    with pytest.raises(TrtPanopticError, match="image 7.*segment id 9"):
        evaluate([1, 1], [seg(1, 1)], [9, 9], [seg(5, 1)])
    with pytest.raises(TrtPanopticError, match=r"image 7.*\[5\]"):
        evaluate([1, 1], [seg(1, 1)], [0, 0], [seg(5, 1)])
    with pytest.raises(TrtPanopticError, match="category_id 99"):
        evaluate([1, 1], [seg(1, 1)], [5, 5], [seg(5, 99)])


def reference_pq(gt, gt_segs, pred, pred_segs, cats):
    """Brute force from the definitions with boolean masks and float64 (no pair hashing)."""
    isthing = {c["id"]: c["isthing"] for c in cats}
    stats = {c: [0.0, 0, 0, 0] for c in isthing}  # iou, tp, fp, fn
    void = gt == 0
    matched_p = set()
    crowd = {}
    for g in gt_segs:
        if g.get("iscrowd"):
            crowd[g["category_id"]] = gt == g["id"]
    for g in gt_segs:
        gm = gt == g["id"]
        if g.get("iscrowd"):
            continue
        hit = False
        for p in pred_segs:
            pm = pred == p["id"]
            if p["category_id"] != g["category_id"]:
                continue
            inter = float((gm & pm).sum())
            union = float((gm | pm).sum() - (pm & void).sum())
            if union > 0 and inter / union > 0.5:
                stats[g["category_id"]][0] += inter / union
                stats[g["category_id"]][1] += 1
                matched_p.add(p["id"])
                hit = True
        if not hit:
            stats[g["category_id"]][3] += 1
    for p in pred_segs:
        if p["id"] in matched_p:
            continue
        pm = pred == p["id"]
        ign = pm & (void | crowd.get(p["category_id"], np.zeros_like(void)))
        if ign.sum() / pm.sum() <= 0.5:
            stats[p["category_id"]][2] += 1
    out = {}
    for name, want in (("All", None), ("Things", 1), ("Stuff", 0)):
        vals = []
        for c, (iou, tp, fp, fn) in stats.items():
            if want is not None and isthing[c] != want or tp + fp + fn == 0:
                continue
            vals.append(iou / (tp + fp / 2 + fn / 2))
        out[name] = float(np.mean(vals)) if vals else 0.0
    return out


def random_case(rng, h=24, w=32):
    # gt: stuff background split in two, thing rectangles (one crowd), a VOID strip.
    gt = np.where(np.arange(w)[None, :] < rng.integers(8, 24), 100, 101).repeat(h, 0)
    segs = [seg(100, 10), seg(101, 11)]
    for k in range(rng.integers(2, 6)):
        y, x = rng.integers(0, h - 4), rng.integers(0, w - 4)
        gt[y:y + rng.integers(3, 10), x:x + rng.integers(3, 10)] = k + 1
        segs.append(seg(k + 1, int(rng.integers(1, 3)), crowd=int(k == 0 and rng.random() < 0.5)))
    gt[:, rng.integers(0, w):][: rng.integers(0, 4)] = 0
    present = set(np.unique(gt).tolist())
    segs = [s for s in segs if s["id"] in present]
    # pred: the gt shifted and relabelled in places, with random extra blobs.
    pred = np.roll(gt, (int(rng.integers(-2, 3)), int(rng.integers(-2, 3))), axis=(0, 1)) + 1000
    pred[pred == 1000] = 1500
    for k in range(rng.integers(0, 3)):
        y, x = rng.integers(0, h - 4), rng.integers(0, w - 4)
        pred[y:y + 5, x:x + 5] = 2000 + k
    cat_of = {s["id"] + 1000: s["category_id"] for s in segs}
    cat_of[1500] = 11
    psegs = [seg(int(i), cat_of.get(int(i), [1, 2, 10, 11][int(i) % 4])) for i in np.unique(pred)]
    return gt, segs, pred, psegs


def test_matches_a_brute_force_reference_on_random_cases():
    rng = np.random.default_rng(0)
    for _ in range(40):
        gt, segs, pred, psegs = random_case(rng)
        got = PanopticEvaluator(CATS)
        got.add(gt, segs, pred, psegs)
        r = got.results()
        ref = reference_pq(gt, segs, pred, psegs, CATS)
        for name in ("All", "Things", "Stuff"):
            assert r[name]["pq"] == pytest.approx(ref[name], abs=1e-12), name


def test_real_ground_truth_against_itself_is_100(tmp_path, coco_sample):
    results = pq_compute(coco_sample / "panoptic.json", coco_sample / "panoptic.json", coco_sample / "panoptic", coco_sample / "panoptic")
    assert set(results) == {"All", "Things", "Stuff", "per_class"}
    for name in ("All", "Things", "Stuff"):
        assert results[name]["pq"] == results[name]["sq"] == results[name]["rq"] == 1.0
    assert results["Things"]["n"] == 4 and results["Stuff"]["n"] == 4  # person, car, motorcycle/37, ... are present
    assert len(results["per_class"]) == 133
    assert pq_percent(results) == {"PQ": 100.0, "SQ": 100.0, "RQ": 100.0, "PQ_th": 100.0, "PQ_st": 100.0}


def test_real_ground_truth_with_a_missing_segment(tmp_path, coco_sample):
    # Predict the GT with one person erased (→ VOID): person gets one FN, everything else stays perfect.
    gt = json.loads((coco_sample / "panoptic.json").read_text())
    from trt_panoptic.data.coco_panoptic import read_panoptic_png

    pred_dir = tmp_path / "pred"
    shutil.copytree(coco_sample / "panoptic", pred_dir)
    ann = gt["annotations"][0]
    erased = ann["segments_info"][0]
    assert erased["category_id"] == 1 and not erased["iscrowd"]
    ids = read_panoptic_png(pred_dir / ann["file_name"])
    ids[ids == erased["id"]] = 0
    write_panoptic_png(pred_dir / ann["file_name"], ids)
    pred = json.loads(json.dumps(gt))
    pred["annotations"][0]["segments_info"] = ann["segments_info"][1:]
    (tmp_path / "pred.json").write_text(json.dumps(pred))
    r = pq_compute(coco_sample / "panoptic.json", tmp_path / "pred.json", coco_sample / "panoptic", pred_dir)
    persons = sum(1 for a in gt["annotations"] for s in a["segments_info"] if s["category_id"] == 1 and not s["iscrowd"])
    tp = persons - 1
    assert r["per_class"][1]["pq"] == pytest.approx(tp / (tp + 0.5))
    assert r["Stuff"]["pq"] == 1.0
    assert r["All"]["pq"] == pytest.approx((tp / (tp + 0.5) + 7) / 8)


def test_missing_prediction_is_an_error(tmp_path, coco_sample):
    pred = {"annotations": [], "categories": []}
    (tmp_path / "p").mkdir()
    with pytest.raises(TrtPanopticError, match="image 142238 should have a prediction"):
        pq_compute(coco_sample / "panoptic.json", pred, coco_sample / "panoptic", tmp_path / "p")


def test_dict_json_needs_its_folder(coco_sample):
    gt = json.loads((coco_sample / "panoptic.json").read_text())
    with pytest.raises(TrtPanopticError, match="gt_folder/pred_folder"):
        pq_compute(gt, gt)
    assert pq_compute(gt, gt, coco_sample / "panoptic", coco_sample / "panoptic")["All"]["pq"] == 1.0
