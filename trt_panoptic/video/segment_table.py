"""The segment table robotics outputs publish per frame: id, category id and name, isthing, score, area, box.

One definition for the result bag (``trt_panoptic_msgs/msg/Segment``) and the live Foxglove view (JSON,
:data:`SEGMENTS_JSON_SCHEMA`). Boxes come from the segment table the result carries
(``PanopticResult.segment_boxes``); areas are counted on the id map being published.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from trt_panoptic.runtime.result import PanopticResult
from trt_panoptic.video.sinks import StreamInfo


@dataclass
class SegmentRow:
    """One segment; fields as in ``trt_panoptic_msgs/msg/Segment`` (box ends exclusive, score NaN for stuff)."""

    id: int
    category_id: int
    category_name: str
    isthing: bool
    score: float
    area: int
    x0: int
    y0: int
    x1: int
    y1: int

    def to_json(self) -> dict:
        """The row as JSON (a stuff segment's NaN score becomes null: JSON has no NaN)."""
        row = asdict(self)
        if math.isnan(row["score"]):
            row["score"] = None
        return row


@dataclass
class CategoryRow:
    """One category of the model: its dataset id, name and kind (``trt_panoptic_msgs/msg/Category``)."""

    id: int
    name: str
    isthing: bool


def categories(info: StreamInfo) -> list[CategoryRow]:
    """The model's categories with their dataset ids, things first."""
    thing_ids, stuff_ids = info.category_ids()
    return ([CategoryRow(i, n, True) for i, n in zip(thing_ids, info.thing_classes)]
            + [CategoryRow(i, n, False) for i, n in zip(stuff_ids, info.stuff_classes)])


def _pixel_boxes(panoptic: np.ndarray, ids: list[int]) -> dict[int, tuple[int, int, int, int]]:
    """Tight boxes (ends exclusive) of ``ids`` from the map itself, for results without a segment table."""
    boxes = {}
    for seg_id in ids:
        ys, xs = np.nonzero(panoptic == seg_id)
        boxes[seg_id] = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1) if len(xs) else (0, 0, 0, 0)
    return boxes


def segment_rows(result: PanopticResult, info: StreamInfo) -> list[SegmentRow]:
    """The segments of ``result`` in id order, with dataset category ids and names from ``info``."""
    thing_ids, stuff_ids = info.category_ids()
    infos = sorted(result.segments_info, key=lambda s: int(s["id"]))
    ids = [int(s["id"]) for s in infos]
    area = np.bincount(result.panoptic.reshape(-1).clip(min=0), minlength=max(ids, default=0) + 1)
    table = result.segment_boxes
    if table is not None and len(table) == len(result.segments_info):
        order = {int(s["id"]): k for k, s in enumerate(result.segments_info)}
        boxes = {i: tuple(int(v) for v in table[order[i]]) for i in ids}
    else:
        boxes = _pixel_boxes(result.panoptic, ids)
    rows = []
    for seg in infos:
        cat = int(seg["category_id"])
        if seg["isthing"]:
            category_id, name = thing_ids[cat], info.thing_classes[cat]
            score = float(seg.get("score", math.nan))
        else:  # stuff: semantic channel 1..S
            category_id, name = stuff_ids[cat - 1], info.stuff_classes[cat - 1]
            score = math.nan
        x0, y0, x1, y1 = boxes[int(seg["id"])]
        rows.append(SegmentRow(int(seg["id"]), int(category_id), name, bool(seg["isthing"]), score,
                               int(area[int(seg["id"])]), x0, y0, x1, y1))
    return rows


_SEGMENT_PROPERTIES = {
    "id": {"type": "integer", "description": "the segment's value in the panoptic id map (0 there: unassigned)"},
    "category_id": {"type": "integer", "description": "dataset category id of the model"},
    "category_name": {"type": "string"},
    "isthing": {"type": "boolean", "description": "true: a countable object; false: stuff"},
    "score": {"type": ["number", "null"], "description": "detection score of a thing; null for stuff"},
    "area": {"type": "integer", "description": "pixels of the segment"},
    "x0": {"type": "integer", "description": "box of the segment's pixels, ends exclusive"},
    "y0": {"type": "integer"},
    "x1": {"type": "integer"},
    "y1": {"type": "integer"},
}

#: JSON schema of one frame's segment message on the live view (``trt_panoptic.Segments``).
SEGMENTS_JSON_SCHEMA = {
    "title": "trt_panoptic.Segments",
    "description": "The segment table of one frame's panoptic prediction (fields as trt_panoptic_msgs/msg/Segment)",
    "type": "object",
    "properties": {
        "timestamp": {"type": "object", "properties": {"sec": {"type": "integer"}, "nsec": {"type": "integer"}}},
        "frame_id": {"type": "string"},
        "segments": {"type": "array", "items": {"type": "object", "properties": _SEGMENT_PROPERTIES,
                                                "required": list(_SEGMENT_PROPERTIES)}},
    },
    "required": ["timestamp", "frame_id", "segments"],
}

#: JSON schema of the per-frame stats message on the live view (fields as trt_panoptic_msgs/msg/FrameStats).
STATS_JSON_SCHEMA = {
    "title": "trt_panoptic.FrameStats",
    "type": "object",
    "properties": {
        "timestamp": {"type": "object", "properties": {"sec": {"type": "integer"}, "nsec": {"type": "integer"}}},
        "frame_index": {"type": "integer"},
        "backend": {"type": "string"},
        **{k: {"type": "number"} for k in ("decode_ms", "queue_ms", "infer_ms", "render_ms", "latency_ms")},
    },
    "required": ["timestamp", "frame_index", "infer_ms", "latency_ms"],
}
