"""panoptic_from_detections against the readable reference: paste_masks_in_image + combine_panoptic."""
import pytest
import torch

from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.plugins import build
from trt_panoptic.postprocess.panoptic_tail import SEGMENT_COLUMNS, panoptic_from_detections, panoptic_table

from postprocess.cases import near_threshold, random_case, reference

IMPLEMENTATIONS = [
    "torch",
    pytest.param("host", marks=pytest.mark.skipif(build.find_cxx() is None, reason="no C++ compiler for the host library")),
]


def test_host_build_equals_the_reference_bit_for_bit():
    # The host build samples every pixel in grid_sample's own order of operations: no pixel may differ.
    if build.find_cxx() is None:
        pytest.skip("no C++ compiler for the host library")
    for seed in range(120):
        h, w = [(37, 53), (64, 64), (100, 80), (21, 90)][seed % 4]
        case = random_case(seed, h, w, n=seed % 19)
        rules = {"stuff_area_limit": 1 + seed % 40, "overlap_thresh": [0.5, 0.2, 0.8][seed % 3]}
        want = reference(*case, **rules)
        got = panoptic_from_detections(*case, **rules, implementation="host")
        assert torch.equal(got[0], want[0]), f"seed {seed}: maps differ"
        assert got[1] == want[1], f"seed {seed}: segments differ"


def test_torch_implementation_equals_the_reference_up_to_rounding_at_the_threshold():
    # The tensor version blends rows of a horizontally interpolated mask (separable), so a pixel whose
    # probability is within float32 rounding of the threshold may fall the other way; nothing else may differ.
    differing = 0
    for seed in range(120):
        h, w = [(37, 53), (64, 64), (100, 80), (21, 90)][seed % 4]
        case = random_case(seed, h, w, n=seed % 19)
        rules = {"stuff_area_limit": 1 + seed % 40, "overlap_thresh": [0.5, 0.2, 0.8][seed % 3]}
        want = reference(*case, **rules)
        got = panoptic_from_detections(*case, **rules, implementation="torch")
        diff = got[0] != want[0]
        assert not (diff & ~near_threshold(case[1], case[2], (h, w))).any(), f"seed {seed}: maps differ"
        differing += int(diff.sum())
        if not diff.any():
            assert got[1] == want[1], f"seed {seed}: segments differ"
    assert differing <= 3, f"{differing} pixels differ: more than rounding at the threshold explains"


def _full(n):
    return torch.ones(n, 28, 28)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_a_chain_of_skips_is_resolved_in_order(implementation):
    # Full masks fill their integer boxes exactly (rows 0..10, columns as below, 10 wide each).
    # A [0,10) placed; B [3,13) overlaps A by 7/10 → skipped; C [6,16) overlaps A by 4/10 → placed (it would
    # be skipped had B been placed); D [10,20) overlaps C by 6/10 → skipped; E [14,24) overlaps C by 2/10 → placed.
    xs = [0, 3, 6, 10, 14]
    boxes = torch.tensor([[x, 0, x + 10, 10] for x in xs], dtype=torch.float32)
    sem = torch.zeros(10, 30, dtype=torch.long)
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.55])
    classes = torch.arange(5)
    pan, segments = panoptic_from_detections(sem, _full(5), boxes, scores, classes, implementation=implementation)
    assert [s["instance_id"] for s in segments] == [0, 2, 4]
    assert (pan[0] > 0).sum() == 24 and torch.equal(pan, reference(sem, _full(5), boxes, scores, classes)[0])


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_table_describes_the_map(implementation):
    case = random_case(7, 64, 64, n=12)
    pan, table = panoptic_table(*case, stuff_area_limit=10, implementation=implementation)
    assert table.shape[1] == len(SEGMENT_COLUMNS)
    col = {name: table[:, i] for i, name in enumerate(SEGMENT_COLUMNS)}
    assert torch.equal(col["id"], torch.arange(1, table.shape[0] + 1, dtype=torch.float32))
    for row in table.tolist():
        seg = dict(zip(SEGMENT_COLUMNS, row))
        ys, xs = (pan == int(seg["id"])).nonzero(as_tuple=True)
        assert seg["area"] == len(xs)
        if len(xs):
            assert [seg["x0"], seg["y0"], seg["x1"], seg["y1"]] == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        if seg["isthing"]:
            i = int(seg["instance"])
            assert seg["score"] == float(case[3][i]) and seg["category"] == float(case[4][i])
        else:
            assert seg["instance"] == -1 and seg["score"] == 0


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_no_detections_leaves_stuff_only(implementation):
    sem = torch.tensor([[1, 1, 2], [1, 0, 2]])
    pan, segments = panoptic_from_detections(sem, torch.zeros(0, 28, 28), torch.zeros(0, 4), torch.zeros(0),
                                             torch.zeros(0, dtype=torch.long), stuff_area_limit=2,
                                             implementation=implementation)
    assert segments == [{"id": 1, "isthing": False, "category_id": 1, "area": 3},
                        {"id": 2, "isthing": False, "category_id": 2, "area": 2}]
    assert pan.tolist() == [[1, 1, 2], [1, 0, 2]]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_an_instance_that_keeps_no_pixel_has_an_empty_row(implementation):
    # overlap_thresh 1.0 accepts an instance whose pixels are all taken (as the reference does): its
    # segment has area 0 and an empty box.
    boxes = torch.tensor([[2.0, 2.0, 8.0, 8.0], [3.0, 3.0, 7.0, 7.0]])
    sem = torch.zeros(10, 10, dtype=torch.long)
    args = (sem, _full(2), boxes, torch.tensor([0.9, 0.8]), torch.tensor([0, 1]))
    pan, table = panoptic_table(*args, overlap_thresh=1.0, implementation=implementation)
    assert table[:, SEGMENT_COLUMNS.index("area")].tolist() == [36, 0]
    assert table[1, SEGMENT_COLUMNS.index("x0"):].tolist() == [0, 0, 0, 0]
    assert panoptic_from_detections(*args, overlap_thresh=1.0)[1] == reference(*args, overlap_thresh=1.0)[1]


def test_unknown_implementation_is_a_one_line_error():
    with pytest.raises(TrtPanopticError, match="implementation should be one of"):
        panoptic_table(torch.zeros(2, 2, dtype=torch.long), torch.zeros(0, 28, 28), torch.zeros(0, 4), torch.zeros(0),
                       torch.zeros(0, dtype=torch.long), implementation="cuda")


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_nan_scores_and_non_finite_boxes_are_never_placed(implementation):
    # NaN ranks below every score and a box with an infinite or NaN coordinate holds no pixel: the result is
    # the reference's on the other detections (the host build used to read out of bounds on such a box).
    case = random_case(11, 64, 64, n=8)
    sem, probs, boxes, scores, classes = case
    boxes, scores = boxes.clone(), scores.clone()
    boxes[0, 0] = -float("inf")
    boxes[1, 2] = float("nan")
    scores[2] = float("nan")
    scores[0] = scores[1] = 0.99
    got = panoptic_from_detections(sem, probs, boxes, scores, classes, stuff_area_limit=5, implementation=implementation)
    ok = torch.tensor([False, False, False] + [True] * 5)
    want = reference(sem, probs[ok], boxes[ok], scores[ok], classes[ok], stuff_area_limit=5)
    for s in want[1]:
        if s["isthing"]:
            s["instance_id"] += 3
    assert torch.equal(got[0], want[0]) and got[1] == want[1]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_thresholds_compare_as_the_reference_compares_them(implementation):
    # Python floats: 7 of 10 pixels taken is not "more than 0.7" (float32(0.7) is below 0.7, so a float32
    # comparison would skip the instance); a float32 score of 0.7 is below the threshold 0.7.
    boxes = torch.tensor([[0.0, 0.0, 7.0, 1.0], [0.0, 0.0, 10.0, 1.0], [0.0, 1.0, 4.0, 2.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    args = (torch.zeros(2, 12, dtype=torch.long), _full(3), boxes, scores, torch.tensor([0, 1, 2]))
    got = panoptic_from_detections(*args, overlap_thresh=0.7, instance_score_thresh=0.7, implementation=implementation)
    want = reference(*args, overlap_thresh=0.7, instance_score_thresh=0.7)
    assert [s["instance_id"] for s in want[1]] == [0, 1]  # the 0.7-scored third one stays out
    assert torch.equal(got[0], want[0]) and got[1] == want[1]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_negative_labels_are_never_stuff(implementation):
    sem = torch.tensor([[-1, -1, 2], [-1, 2, 2]])
    pan, segments = panoptic_from_detections(sem, torch.zeros(0, 28, 28), torch.zeros(0, 4), torch.zeros(0),
                                             torch.zeros(0, dtype=torch.long), stuff_area_limit=1,
                                             implementation=implementation)
    assert segments == [{"id": 1, "isthing": False, "category_id": 2, "area": 3}]
    assert pan.tolist() == [[0, 0, 1], [0, 1, 1]]


def test_host_build_without_detections_or_masks_gives_a_clean_map():
    if build.find_cxx() is None:
        pytest.skip("no C++ compiler for the host library")
    from trt_panoptic.plugins import host

    pan, table, num = host.panoptic_fusion(torch.ones(1, 4, 5, dtype=torch.int32), torch.zeros(1, 0, 0, 0),
                                           torch.zeros(1, 0, 4), torch.zeros(1, 0), torch.zeros(1, 0), stuff_area_limit=1)
    assert pan.tolist() == [[[1] * 5] * 4] and int(num[0]) == 1 and table[0, 0, 4] == 20
