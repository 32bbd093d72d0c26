"""Letterboxing frames to the model size and mapping raw outputs back, checked by hand-computed cases."""
import numpy as np
import pytest

from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.data.preprocess import Letterbox, letterbox
from trt_panoptic.runtime.decode import decode_outputs

FUSION = {"instance_score_thresh": 0.5, "overlap_thresh": 0.5, "stuff_area_limit": 10}


def test_letterbox_scales_keeps_aspect_and_pads_with_the_mean():
    image = np.full((50, 100, 3), 200, np.uint8)
    x, box = letterbox(image, 64, 64, (103.53, 116.28, 123.675))
    assert x.shape == (1, 3, 64, 64) and x.dtype == np.uint8
    assert box == Letterbox(0.64, (32, 64), (50, 100))  # 100 → 64 wide, 50 → 32 high
    assert np.all(x[0, :, :32, :] == 200)
    np.testing.assert_array_equal(x[0, :, 32:, :].reshape(3, -1).T[0], [104, 116, 124])


def _raw(n, boxes, scores, classes, sem, d=4):
    out = {"sem_labels": sem[None].astype(np.int32), "boxes": np.zeros((1, d, 4), np.float32),
           "scores": np.zeros((1, d), np.float32), "classes": np.zeros((1, d), np.int32),
           "mask_probs": np.zeros((1, d, 28, 28), np.float32), "num_detections": np.array([n], np.int32)}
    out["boxes"][0, :n] = boxes
    out["scores"][0, :n] = scores
    out["classes"][0, :n] = classes
    out["mask_probs"][0, :n] = 1.0  # full-box masks
    return out


def test_decode_maps_boxes_masks_and_labels_back_to_the_frame():
    # Frame 50x100 letterboxed into 64x64 at scale 0.64: model box (6.4, 3.2, 32, 19.2) is (10, 5, 50, 30).
    sem = np.zeros((64, 64), np.int32)
    sem[:16, :] = 2  # top half of the 32-row content → rows 0..24 of the frame
    sem[16:32, :] = 3
    sem[32:, :] = 1  # padding rows: must be cropped away, never reach the frame
    raw = _raw(2, [[6.4, 3.2, 32.0, 19.2], [0, 0, 0, 0]], [0.9, 0.8], [1, 0], sem)
    res = decode_outputs(raw, Letterbox(0.64, (32, 64), (50, 100)), **FUSION)
    assert res.panoptic.shape == res.sem_labels.shape == (50, 100)
    np.testing.assert_allclose(res.boxes, [[10, 5, 50, 30]], atol=1e-4)  # the empty second box is dropped
    assert res.classes.tolist() == [1] and res.masks.shape == (1, 50, 100)
    assert res.masks[0].sum() == 40 * 25 and res.masks[0, 5:30, 10:50].all()
    assert (res.sem_labels[:25] == 2).all() and (res.sem_labels[25:] == 3).all()
    thing = [s for s in res.segments_info if s["isthing"]]
    assert len(thing) == 1 and thing[0]["category_id"] == 1
    assert (res.panoptic[5:30, 10:50] == thing[0]["id"]).all()
    stuff = {s["category_id"]: s["area"] for s in res.segments_info if not s["isthing"]}
    assert stuff == {2: 25 * 100 - 40 * 20, 3: 25 * 100 - 40 * 5}


def test_decode_rejects_outputs_of_another_model():
    with pytest.raises(TrtPanopticError, match="num_detections"):
        decode_outputs({"sem_labels": np.zeros((1, 4, 4))}, Letterbox.identity(4, 4), **FUSION)


def test_letterbox_rejects_non_bgr_uint8():
    with pytest.raises(TrtPanopticError, match="BGR uint8"):
        letterbox(np.zeros((10, 10), np.uint8), 32, 32, (0, 0, 0))


def test_masks_are_pasted_only_when_read():
    sem = np.zeros((64, 64), np.int32)
    raw = _raw(1, [[6.4, 3.2, 32.0, 19.2]], [0.9], [1], sem)
    res = decode_outputs(raw, Letterbox(0.64, (32, 64), (50, 100)), **FUSION)
    assert res._masks is None  # nothing pasted per instance on the way
    assert res.masks.shape == (1, 50, 100) and res.masks[0].sum() == 40 * 25


def _graph_with_panoptic(raw, **fusion):
    """What a graph that ends in the panoptic map returns for the same detections (at model resolution)."""
    import torch

    from trt_panoptic.postprocess import panoptic_table

    n = int(raw["num_detections"][0])
    pan, table = panoptic_table(torch.from_numpy(raw["sem_labels"][0]), torch.from_numpy(raw["mask_probs"][0, :n]),
                                torch.from_numpy(raw["boxes"][0, :n]), torch.from_numpy(raw["scores"][0, :n]),
                                torch.from_numpy(raw["classes"][0, :n]), **fusion)
    segments = np.zeros((1, 8, 10), np.float32)
    segments[0, : len(table)] = table.numpy()
    return {**raw, "panoptic": pan[None].numpy(), "segments": segments, "num_segments": np.array([len(table)], np.int32)}


def test_a_graph_that_ends_in_the_panoptic_map_is_only_cropped_and_resized():
    sem = np.zeros((64, 64), np.int32)
    sem[:16], sem[16:32] = 2, 3
    raw = _raw(2, [[0, 0, 0, 0], [6.4, 3.2, 32.0, 19.2]], [0.95, 0.9], [0, 1], sem)
    # At the model's own resolution both paths give the same result.
    same = Letterbox.identity(64, 64)
    want = decode_outputs(raw, same, **FUSION)
    got = decode_outputs(_graph_with_panoptic(raw, **FUSION), same, **FUSION)
    np.testing.assert_array_equal(got.panoptic, want.panoptic)
    assert got.segments_info == want.segments_info and got.classes.tolist() == [1]
    # Letterboxed: the id map is cropped to 32x64 and resized (nearest) to the 50x100 frame; areas are the frame's.
    box = Letterbox(0.64, (32, 64), (50, 100))
    res = decode_outputs(_graph_with_panoptic(raw, **FUSION), box, **FUSION)
    assert res.panoptic.shape == (50, 100)
    thing = [s for s in res.segments_info if s["isthing"]]
    assert thing == [{"id": 1, "isthing": True, "score": thing[0]["score"], "category_id": 1, "instance_id": 0}]
    assert (res.panoptic[6:29, 11:49] == 1).all()  # inside the box mapped back to the frame
    for s in res.segments_info:
        if not s["isthing"]:
            assert s["area"] == int((res.panoptic == s["id"]).sum())
    # the semantic labels reach the frame only when read (only mIoU needs them)
    assert callable(res._sem_labels)
    assert res.sem_labels.shape == (50, 100) and (res.sem_labels[:12] == 2).all() and not callable(res._sem_labels)
    assert (res.sem_labels == decode_outputs(raw, box, **FUSION).sem_labels).all()


def test_a_placed_detection_keeps_its_row_even_if_its_frame_box_rounds_to_empty():
    # Model width 334 is frame width 667 at scale 0.5: a box in the last model column, [333.5, 334], maps to
    # [667, 668] and is clipped to an empty frame box. The graph placed it, so the result keeps it and the
    # segment's instance_id names it (not the detection before it).
    sem = np.zeros((40, 334), np.int32)
    raw = _raw(2, [[10, 10, 30, 30], [333.5, 10, 334, 30]], [0.9, 0.8], [3, 7], sem, d=4)
    raw["sem_labels"] = sem[None]
    table = np.zeros((1, 8, 10), np.float32)
    table[0, 0] = [1, 1, 3, 0.9, 400, 0, 10, 10, 30, 30]
    table[0, 1] = [2, 1, 7, 0.8, 20, 1, 333, 10, 334, 30]
    pan = np.zeros((1, 40, 334), np.int32)
    pan[0, 10:30, 10:30] = 1
    pan[0, 10:30, 333] = 2
    raw.update(panoptic=pan, segments=table, num_segments=np.array([2], np.int32))
    res = decode_outputs(raw, Letterbox(0.5, (40, 334), (80, 667)), **FUSION)
    segs = [s for s in res.segments_info if s["isthing"]]
    assert [res.classes[s["instance_id"]] for s in segs] == [3, 7]
