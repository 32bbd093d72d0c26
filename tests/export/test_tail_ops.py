"""The portable flavour's panoptic tail (standard ONNX ops, run by plain ONNX Runtime) against the reference."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.export.tail_ops import TAIL_INPUTS, TAIL_OUTPUTS, TailShape, panoptic_tail_nodes, tail_model
from trt_panoptic.plugins import build, host
from trt_panoptic.postprocess.panoptic_tail import segments_info_from_table

from postprocess.cases import near_threshold, random_case, reference

def tail_session(shape: TailShape, opset: int = 17, **rules) -> ort.InferenceSession:
    """A model holding only the tail, as the portable export emits it, checked and loaded by plain ONNX Runtime."""
    model = tail_model(shape, **{"instance_score_thresh": 0.5, "overlap_thresh": 0.5} | rules, opset=opset)
    onnx.checker.check_model(model, full_check=True)
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def run_tail(session, sem, probs, boxes, scores, classes, *, detections, valid_hw=None, num_stuff=4, fill=0.0):
    """Pad the case to the graph's D rows (rows past num_detections hold ``fill``) and run it."""
    h, w = sem.shape
    n = boxes.shape[0]
    pad = detections - n
    feed = {
        "sem_labels": sem[None].numpy().astype(np.int32),
        "mask_probs": np.concatenate([probs.numpy(), np.full((pad, *probs.shape[1:]), fill, np.float32)])[None],
        "boxes": np.concatenate([boxes.numpy(), np.full((pad, 4), fill, np.float32)])[None],
        "scores": np.concatenate([scores.numpy(), np.full(pad, 0.99 if fill else 0.0, np.float32)])[None],
        "classes": np.concatenate([classes.numpy(), np.zeros(pad, np.int64)]).astype(np.int32)[None],
        "num_detections": np.asarray([n], np.int32),
        "valid_hw": np.asarray([valid_hw or (h, w)], np.int32),
    }
    pan, table, num = session.run(None, feed)
    assert table.shape == (1, detections + num_stuff, 10) and not table[0, int(num[0]):].any()
    return torch.from_numpy(pan[0]), torch.from_numpy(table[0, : int(num[0])])


def stuff_of(segments, limit):
    """The graph keeps every stuff segment with a pixel; the host applies the limit afterwards."""
    return [s for s in segments if s["isthing"] or s["area"] >= limit]


def test_tail_equals_the_reference_up_to_rounding_at_the_threshold():
    differing = 0
    sessions = {}
    for seed in range(48):
        h, w = [(37, 53), (64, 64), (100, 80), (21, 90)][seed % 4]
        overlap = [0.5, 0.2, 0.8][seed % 3]
        key = (h, w, overlap)
        if key not in sessions:
            sessions[key] = tail_session(TailShape(h, w, 20, 28, 4), overlap_thresh=overlap)
        case = random_case(seed, h, w, n=seed % 19)
        pan, table = run_tail(sessions[key], *case, detections=20, fill=0.7)  # live-looking rows past num_detections
        want_pan, want = reference(*case, overlap_thresh=overlap, stuff_area_limit=0)
        diff = pan != want_pan
        assert not (diff & ~near_threshold(case[1], case[2], (h, w))).any(), f"seed {seed}: maps differ"
        differing += int(diff.sum())
        if not diff.any():
            got = segments_info_from_table(table)
            assert got == [s for s in want if s["isthing"] or s["area"] > 0], f"seed {seed}: segments differ"
    assert differing <= 3, f"{differing} pixels differ: more than rounding at the threshold explains"


@pytest.mark.skipif(build.find_cxx() is None, reason="no C++ compiler for the host library")
def test_tail_table_equals_the_plugin_host_build():
    # Same map and table, row for row (areas, pixel bounds, instance indices), as the TensorRT plugin's host build.
    session = tail_session(TailShape(64, 64, 16, 28, 4))
    for seed in range(12):
        sem, probs, boxes, scores, classes = random_case(100 + seed, 64, 64, n=12)
        valid = (64, 64) if seed % 2 else (50, 41)
        pan, table = run_tail(session, sem, probs, boxes, scores, classes, detections=16, valid_hw=valid)
        hp, ht, hn = host.panoptic_fusion(sem[None], probs[None], boxes[None], scores[None], classes[None],
                                          valid_hw=torch.tensor([valid]), stuff_area_limit=0, max_segments=20)
        assert torch.equal(pan, hp[0]) and torch.equal(table, ht[0, : int(hn[0])]), f"seed {seed}"


def test_tail_fuses_only_inside_the_valid_region():
    sem, probs, boxes, scores, classes = random_case(5, 64, 64, n=10)
    session = tail_session(TailShape(64, 64, 12, 28, 4))
    pan, table = run_tail(session, sem, probs, boxes, scores, classes, detections=12, valid_hw=(40, 48))
    assert not pan[40:].any() and not pan[:, 48:].any()
    want_pan, want = reference(sem[:40, :48], probs, boxes, scores, classes, stuff_area_limit=0)
    assert torch.equal(pan[:40, :48], want_pan)


def test_thresholds_are_the_decimals_the_attributes_stand_for():
    # 7 of 10 pixels taken is not "more than 0.7"; a float32 0.7 score is below the threshold 0.7 (Python's
    # comparison) — although float32(0.7) < 0.7, which is what the node's attribute holds.
    boxes = torch.tensor([[0.0, 0.0, 7.0, 1.0], [0.0, 0.0, 10.0, 1.0], [0.0, 1.0, 4.0, 2.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    args = (torch.zeros(2, 12, dtype=torch.long), torch.ones(3, 28, 28), boxes, scores, torch.tensor([0, 1, 2]))
    attr = float(np.float32(0.7))
    session = tail_session(TailShape(2, 12, 4, 28, 1), instance_score_thresh=host.field_decimal(attr),
                           overlap_thresh=host.field_decimal(attr))
    pan, table = run_tail(session, *args, detections=4, num_stuff=1)
    want_pan, want = reference(*args, overlap_thresh=0.7, instance_score_thresh=0.7, stuff_area_limit=0)
    assert [s["instance_id"] for s in want if s["isthing"]] == [0, 1]
    assert torch.equal(pan, want_pan) and segments_info_from_table(table)[:2] == want[:2]


def test_nan_scores_and_non_finite_boxes_are_never_placed():
    sem, probs, boxes, scores, classes = random_case(11, 64, 64, n=8)
    boxes, scores = boxes.clone(), scores.clone()
    boxes[0, 0], boxes[1, 2], scores[2] = -float("inf"), float("nan"), float("nan")
    scores[0] = scores[1] = 0.99
    pan, table = run_tail(tail_session(TailShape(64, 64, 8, 28, 4)), sem, probs, boxes, scores, classes, detections=8)
    ok = torch.tensor([False] * 3 + [True] * 5)
    want_pan, want = reference(sem, probs[ok], boxes[ok], scores[ok], classes[ok], stuff_area_limit=0)
    assert torch.equal(pan, want_pan)
    assert [s["instance_id"] for s in segments_info_from_table(table) if s["isthing"]] == \
        [s["instance_id"] + 3 for s in want if s["isthing"]]


def test_no_candidates_leaves_stuff_only():
    sem = torch.tensor([[1, 1, 2], [1, 0, 2]])
    empty = (torch.zeros(0, 28, 28), torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long))
    pan, table = run_tail(tail_session(TailShape(2, 3, 5, 28, 2)), sem, *empty, detections=5, num_stuff=2)
    assert pan.tolist() == [[1, 1, 2], [1, 0, 2]]
    assert segments_info_from_table(table) == [{"id": 1, "isthing": False, "category_id": 1, "area": 3},
                                               {"id": 2, "isthing": False, "category_id": 2, "area": 2}]
    assert table[:, 6:].tolist() == [[0, 0, 2, 2], [2, 0, 3, 2]]


@pytest.mark.parametrize("opset", [16, 20])
def test_tail_runs_at_the_opsets_it_supports(opset):
    case = random_case(3, 37, 53, n=6)
    pan, _ = run_tail(tail_session(TailShape(37, 53, 6, 28, 4), opset=opset), *case, detections=6)
    want_pan, _ = reference(*case, stuff_area_limit=0)
    assert (pan != want_pan).sum() <= 1


def test_tail_refuses_an_opset_without_grid_sample():
    with pytest.raises(TrtPanopticError, match="opset >= 16"):
        panoptic_tail_nodes(list(TAIL_INPUTS), list(TAIL_OUTPUTS), TailShape(8, 8, 2, 28, 1), instance_score_thresh=0.5, overlap_thresh=0.5,
                            opset=15)
