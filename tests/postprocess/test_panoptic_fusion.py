"""combine_panoptic on hand-built cases, following detectron2's combine rules."""
import torch

from trt_panoptic.postprocess import combine_panoptic


def _mask(h, w, y0, y1, x0, x1):
    m = torch.zeros(h, w, dtype=torch.bool)
    m[y0:y1, x0:x1] = True
    return m


def _check_consistent(panoptic, segments):
    ids = [s["id"] for s in segments]
    assert len(ids) == len(set(ids))
    assert set(torch.unique(panoptic).tolist()) - {0} == set(ids)
    for s in segments:
        if not s["isthing"]:
            assert s["area"] == int((panoptic == s["id"]).sum())


def test_score_threshold_and_order():
    sem = torch.zeros(10, 10, dtype=torch.long)
    masks = torch.stack([_mask(10, 10, 0, 5, 0, 5), _mask(10, 10, 5, 10, 5, 10), _mask(10, 10, 0, 3, 6, 9)])
    scores = torch.tensor([0.6, 0.9, 0.49])
    pan, seg = combine_panoptic(sem, masks, scores, torch.tensor([0, 1, 2]), stuff_area_limit=1)
    # Highest score first; 0.49 < 0.5 is dropped.
    assert [s["instance_id"] for s in seg] == [1, 0]
    assert int((pan == 1).sum()) == 25 and int((pan == 2).sum()) == 25
    _check_consistent(pan, seg)


def test_score_exactly_at_threshold_is_kept():
    sem = torch.zeros(4, 4, dtype=torch.long)
    pan, seg = combine_panoptic(sem, _mask(4, 4, 0, 2, 0, 2)[None], torch.tensor([0.5]), torch.tensor([0]))
    assert len(seg) == 1


def test_overlap_threshold_skips_or_trims():
    sem = torch.zeros(10, 10, dtype=torch.long)
    first = _mask(10, 10, 0, 10, 0, 4)  # 40 px
    mostly_covered = _mask(10, 10, 0, 10, 0, 5)  # 50 px, 40 overlap = 0.8 > 0.5 → skipped
    partly = _mask(10, 10, 0, 10, 3, 9)  # 60 px, 10 overlap → keeps its 50 free pixels
    masks = torch.stack([first, mostly_covered, partly])
    pan, seg = combine_panoptic(sem, masks, torch.tensor([0.9, 0.8, 0.7]), torch.tensor([0, 0, 1]), stuff_area_limit=1000)
    assert [s["instance_id"] for s in seg] == [0, 2]
    assert int((pan == 2).sum()) == 50
    _check_consistent(pan, seg)


def test_stuff_area_limit_and_other_never_stuff():
    sem = torch.zeros(10, 10, dtype=torch.long)
    sem[:, :6] = 1  # 60 px of stuff 1
    sem[:, 6:8] = 2  # 20 px of stuff 2 → below the limit
    # columns 8..9 stay 'other' (0): never a stuff segment
    inst = _mask(10, 10, 0, 5, 0, 2)  # takes 10 px of stuff 1's area
    pan, seg = combine_panoptic(sem, inst[None], torch.tensor([0.9]), torch.tensor([1]), stuff_area_limit=30)
    stuff = [s for s in seg if not s["isthing"]]
    assert [(s["category_id"], s["area"]) for s in stuff] == [(1, 50)]
    assert int((pan == 0).sum()) == 40  # stuff 2 (20) and 'other' (20) stay unassigned
    _check_consistent(pan, seg)


def test_empty_mask_is_ignored():
    sem = torch.ones(4, 4, dtype=torch.long)
    pan, seg = combine_panoptic(sem, torch.zeros(1, 4, 4, dtype=torch.bool), torch.tensor([0.99]), torch.tensor([0]), stuff_area_limit=1)
    assert [s["isthing"] for s in seg] == [False]
