"""Panoptic overlay: colours per stuff class and per tracked instance, void untouched, deterministic."""
from __future__ import annotations

import numpy as np

from trt_panoptic.runtime.result import PanopticResult
from trt_panoptic.video.render import InstanceTracker, PanopticRenderer, box_iou, instance_color, stuff_color

THINGS = ["disc", "box", "triangle"]
STUFF = ["sky", "road", "grass", "wall"]


def _scene(x0: int) -> tuple[np.ndarray, PanopticResult]:
    """A 64×96 grey image: stuff 'road' (channel 2) on the bottom rows, two boxes (things), void elsewhere."""
    image = np.full((64, 96, 3), 100, np.uint8)
    pan = np.zeros((64, 96), np.int32)
    pan[48:, :] = 3
    pan[10:20, x0:x0 + 10] = 1
    pan[10:20, 60:75] = 2
    segments = [
        {"id": 1, "isthing": True, "category_id": 1, "score": 0.9, "instance_id": 0},
        {"id": 2, "isthing": True, "category_id": 1, "score": 0.8, "instance_id": 1},
        {"id": 3, "isthing": False, "category_id": 2, "area": int((pan == 3).sum())},
    ]
    boxes = np.array([[x0, 10, x0 + 10, 20], [60, 10, 75, 20]], np.float32)
    result = PanopticResult(pan, segments, np.zeros_like(pan), boxes, np.array([0.9, 0.8], np.float32),
                            np.array([1, 1]), np.zeros((2, 64, 96), bool))
    return image, result


def test_overlay_blends_class_and_instance_colours_and_leaves_void_alone() -> None:
    image, result = _scene(10)
    out = PanopticRenderer(THINGS, STUFF, alpha=0.5, labels=False).render(image, result)
    expect_road = (0.5 * 100 + 0.5 * np.array(stuff_color(2))).round()
    assert np.abs(out[56, 40].astype(float) - expect_road).max() <= 1  # inside the road, away from edges
    expect_first = (0.5 * 100 + 0.5 * np.array(instance_color(0))).round()
    assert np.abs(out[15, 15].astype(float) - expect_first).max() <= 1
    assert not np.array_equal(out[15, 15], out[15, 67])  # two instances of one class: two colours
    assert np.array_equal(out[35, 40], image[35, 40])  # void pixel untouched
    assert out.shape == image.shape and out.dtype == np.uint8


def test_instance_colour_follows_the_object_across_frames() -> None:
    renderer = PanopticRenderer(THINGS, STUFF, labels=False)
    first = renderer.segment_colors(_scene(10)[1])
    moved = renderer.segment_colors(_scene(13)[1])  # the first box moved 3 px: IoU 7/13 ≥ 0.3
    assert moved[1] == first[1] and moved[2] == first[2]


def test_rendering_is_deterministic_and_draws_labels() -> None:
    image, result = _scene(10)
    a = PanopticRenderer(THINGS, STUFF).render(image, result, hud=["12.0 FPS"])
    b = PanopticRenderer(THINGS, STUFF).render(image, result, hud=["12.0 FPS"])
    plain = PanopticRenderer(THINGS, STUFF, labels=False).render(image, result)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, plain)  # labels and HUD change pixels


def test_tracker_keeps_ids_for_matches_and_expires_old_tracks() -> None:
    tracker = InstanceTracker(iou_threshold=0.3, max_age=1)
    assert tracker.update(np.array([[0, 0, 10, 10], [50, 50, 60, 60]]), np.array([0, 0])) == [0, 1]
    # same place, other class → a new track; a shifted box of class 0 keeps id 0
    assert tracker.update(np.array([[1, 0, 11, 10], [50, 50, 60, 60]]), np.array([0, 2])) == [0, 2]
    assert tracker.update(np.zeros((0, 4)), np.zeros((0,), np.int64)) == []
    assert tracker.update(np.zeros((0, 4)), np.zeros((0,), np.int64)) == []
    assert tracker.update(np.array([[1, 0, 11, 10]]), np.array([0])) == [3]  # expired after max_age frames


def test_box_iou_hand_values() -> None:
    iou = box_iou(np.array([[0, 0, 10, 10]]), np.array([[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]]))
    assert np.allclose(iou, [[50 / 150, 0.0, 1.0]])


def test_many_segments_take_the_general_path_with_the_same_result() -> None:
    """Over 255 segments do not fit the uint8 fast path; both paths must colour and mask identically."""
    import cv2

    from trt_panoptic.video.render import _SegmentMasks

    rng = np.random.default_rng(0)
    pan = rng.integers(0, 400, size=(40, 50)).astype(np.int32)
    few = [int(v) for v in rng.choice(np.arange(1, 400), 200, replace=False)]
    fast = _SegmentMasks(cv2, pan, few)
    slow = _SegmentMasks(cv2, pan, few)
    slow._compact = None
    palette = rng.integers(0, 256, size=(len(few) + 1, 3)).astype(np.uint8)
    palette[0] = 0
    assert np.array_equal(fast.colorize(palette), slow.colorize(palette))
    assert np.array_equal(fast.covered() > 0, slow.covered() > 0)
    for k in (1, 57, 200):
        assert np.array_equal(fast.mask(k), slow.mask(k))
    assert np.array_equal(fast.mask(57) > 0, pan == few[56])  # independent: the plain comparison
    many = list(range(1, 300))
    assert _SegmentMasks(cv2, pan, many)._compact is None


def test_stuff_label_lands_on_the_segment_even_when_split() -> None:
    """The middle row of a split region's bounding box is empty: the label anchor must still be on it."""
    from trt_panoptic.video.render import _inside_point

    mask = np.zeros((48, 64), np.uint8)
    mask[0:6, 10:30] = 255
    mask[40:48, 20:50] = 255
    x, y = _inside_point(mask)
    assert mask[y, x] == 255
    pan = (mask > 0).astype(np.int32) * 5
    result = PanopticResult(pan, [{"id": 5, "isthing": False, "category_id": 3, "area": int((pan == 5).sum())}],
                            np.zeros_like(pan))
    out = PanopticRenderer(THINGS, STUFF).render(np.zeros((48, 64, 3), np.uint8), result)
    assert out.shape == (48, 64, 3)


def test_segment_boxes_only_speed_up_rendering():
    # With the segment table's boxes, each segment is outlined inside its box instead of over the frame: the
    # picture must not change. Detections decoded through the host tail at 120x160, letterboxed from 60x80.
    import torch

    from trt_panoptic.data.preprocess import Letterbox
    from trt_panoptic.postprocess.result import result_from_outputs

    g = torch.Generator().manual_seed(3)
    n = 6
    xy = torch.rand(n, 2, generator=g) * torch.tensor([60.0, 40.0])
    boxes = torch.cat([xy, xy + 10 + torch.rand(n, 2, generator=g) * 20], 1)
    sem = torch.randint(0, 5, (1, 60, 80), generator=g, dtype=torch.int32)
    sem[:, 30:] = 2
    raw = {"sem_labels": sem, "boxes": boxes[None], "scores": torch.linspace(0.95, 0.6, n)[None],
           "classes": torch.randint(0, 3, (1, n), generator=g, dtype=torch.int32),
           "mask_probs": torch.rand(1, n, 28, 28, generator=g), "num_detections": torch.tensor([n], dtype=torch.int32)}
    fusion = {"instance_score_thresh": 0.5, "overlap_thresh": 0.5, "stuff_area_limit": 50}
    result = result_from_outputs(raw, Letterbox(0.5, (60, 80), (120, 160)), **fusion)
    assert result.segment_boxes is not None and len(result.segment_boxes) == len(result.segments_info)
    assert any(s["isthing"] for s in result.segments_info)
    image = np.full((120, 160, 3), 90, np.uint8)
    renderer = PanopticRenderer(THINGS, STUFF, track=False)
    fast = renderer.render(image, result)
    result.segment_boxes = None
    np.testing.assert_array_equal(fast, renderer.render(image, result))
    # The same for a graph that ends in the panoptic map: its table's boxes are at model resolution and are
    # mapped to the frame (the id map is resized by nearest neighbour).
    from trt_panoptic.postprocess import panoptic_table

    pan, table = panoptic_table(sem[0], raw["mask_probs"][0], boxes, raw["scores"][0], raw["classes"][0], **fusion)
    segments = torch.zeros(1, n + 4, 10)
    segments[0, : len(table)] = table
    graph = {**raw, "panoptic": pan[None], "segments": segments, "num_segments": torch.tensor([len(table)])}
    result = result_from_outputs(graph, Letterbox(0.5, (60, 80), (120, 160)), **fusion)
    fast = renderer.render(image, result)
    result.segment_boxes = None
    np.testing.assert_array_equal(fast, renderer.render(image, result))


def test_labels_never_overlap_each_other_the_hud_or_the_legend() -> None:
    # 12 overlapping instances along the top edge (where the HUD sits) and two stuff regions: every label is
    # drawn clear of the others and of the panels, inside the frame, or left out (the lowest scores first)
    from trt_panoptic.video.render import overlaps

    h, w = 120, 200
    pan = np.zeros((h, w), np.int32)
    pan[80:100] = 13
    pan[100:] = 14
    segments, boxes = [], []
    for i in range(12):
        x0 = 8 + 14 * i
        pan[2:30, x0:x0 + 20] = i + 1
        boxes.append([x0, 2, x0 + 20, 30])
        segments.append({"id": i + 1, "isthing": True, "category_id": i % 3, "score": 0.95 - 0.02 * i, "instance_id": i})
    segments += [{"id": 13, "isthing": False, "category_id": 2, "area": 20 * w},
                 {"id": 14, "isthing": False, "category_id": 3, "area": 20 * w}]
    result = PanopticResult(pan, segments, np.zeros_like(pan), np.array(boxes, np.float32),
                            np.array([s["score"] for s in segments[:12]], np.float32), np.array([i % 3 for i in range(12)]))
    renderer = PanopticRenderer(THINGS, STUFF)
    renderer.render(np.full((h, w, 3), 90, np.uint8), result, hud=["  --- FPS  infer 10.0 ms", "onnxruntime 256x256"])
    layout = renderer.last_layout
    labels, panels = layout["labels"], layout["hud"] + layout["legend"]
    assert len(layout["hud"]) == 1 and len(layout["legend"]) == 1 and len(labels) >= 4
    for i, a in enumerate(labels):
        assert 0 <= a[0] < a[2] <= w and 0 <= a[1] < a[3] <= h
        assert not any(overlaps(a, b) for b in labels[i + 1:] + panels), (a, labels, panels)
    # the best-scored instance keeps its label; a dropped one is never better than a drawn one
    assert len(labels) < 14


def test_hud_and_legend_panels_sit_in_the_left_corners() -> None:
    image, result = _scene(10)
    renderer = PanopticRenderer(THINGS, STUFF)
    renderer.render(image, result, hud=["12.0 FPS"])
    (hud,), (legend,) = renderer.last_layout["hud"], renderer.last_layout["legend"]
    assert hud[:2] == (0, 0) and legend[0] == 0 and legend[3] == 64  # top-left and bottom-left
    plain = PanopticRenderer(THINGS, STUFF, legend=False)
    plain.render(image, result)
    assert plain.last_layout["legend"] == [] and plain.last_layout["hud"] == []  # switched off: nothing drawn
