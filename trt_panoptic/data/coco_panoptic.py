"""The COCO panoptic format: reading and writing datasets and predictions.

A dataset folder holds ``images/`` (the pictures), ``panoptic/`` (one PNG per image whose RGB colour
encodes the segment id, ``id = R + 256·G + 256²·B``, 0 = VOID) and ``panoptic.json`` with ``images``,
``annotations`` (per image: ``image_id``, ``file_name`` of the PNG, ``segments_info`` with ``id``,
``category_id``, ``iscrowd``, ``bbox`` [x, y, w, h], ``area``) and ``categories`` (``id``, ``name``,
``isthing``, ``color``). Synthetic data, COCO and Cityscapes (after cityscapesScripts' conversion) all
come through here.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from trt_panoptic.atomic_io import atomic_write_bytes, atomic_write_text
from trt_panoptic.data.categories import PanopticCategories
from trt_panoptic.data.frames import cv2_module, read_image_bgr
from trt_panoptic.errors import TrtPanopticError

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------- id maps
def rgb2id(rgb: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 3] RGB → int64 [H, W] segment ids (``R + 256·G + 256²·B``)."""
    rgb = rgb.astype(np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 256 * 256 * rgb[..., 2]


def id2rgb(ids: np.ndarray) -> np.ndarray:
    """int [H, W] segment ids (0 ≤ id < 256³) → uint8 [H, W, 3] RGB."""
    ids = np.asarray(ids, dtype=np.int64)
    assert ids.min(initial=0) >= 0 and ids.max(initial=0) < 256**3, "coco_panoptic: ids must fit in 24 bits"
    return np.stack([ids % 256, ids // 256 % 256, ids // 65536], axis=-1).astype(np.uint8)


def read_panoptic_png(path: str | Path) -> np.ndarray:
    """Read a panoptic PNG into int64 [H, W] segment ids.

    Raises:
        TrtPanopticError: the file is missing or not a readable RGB image.
    """
    bgr = read_image_bgr(path, what="panoptic PNG", folder="panoptic/", fix="regenerate it")
    return rgb2id(bgr[..., ::-1])


def encode_panoptic_png(ids: np.ndarray) -> bytes:
    """PNG bytes of an int [H, W] id map (RGB-encoded)."""
    ok, buf = cv2_module().imencode(".png", id2rgb(ids)[..., ::-1])
    assert ok, "coco_panoptic: PNG encoding failed"
    return buf.tobytes()


def write_panoptic_png(path: str | Path, ids: np.ndarray) -> None:
    """Write an int [H, W] id map as an RGB-encoded panoptic PNG (atomically)."""
    atomic_write_bytes(path, encode_panoptic_png(ids))


def coco_segments_info(
    panoptic: np.ndarray, segments: Sequence[dict], thing_ids: Sequence[int], stuff_ids: Sequence[int]
) -> list[dict]:
    """A prediction's segments as COCO ``segments_info``: ``id``, dataset ``category_id``, ``iscrowd`` 0,
    ``bbox`` [x, y, w, h] and ``area`` counted in ``panoptic``, and ``score`` when the segment has one.

    ``segments`` are the model's (``isthing``, 0-based thing class or 1-based stuff channel as
    ``category_id``); thing class c becomes ``thing_ids[c]``, stuff channel s ``stuff_ids[s - 1]``. Segments
    absent from the map are dropped (COCO lists only non-empty segments).
    """
    out = []
    for seg in segments:
        ys, xs = np.nonzero(panoptic == int(seg["id"]))
        if len(xs) == 0:
            continue
        c = int(seg["category_id"])
        out.append({
            "id": int(seg["id"]),
            "category_id": int(thing_ids[c] if seg["isthing"] else stuff_ids[c - 1]),
            "iscrowd": 0,
            "bbox": [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)],
            "area": int(len(xs)),
            **({"score": float(seg["score"])} if "score" in seg else {}),
        })
    return out


def segment_stats(ids: np.ndarray) -> dict[int, tuple[int, list[int]]]:
    """Area (pixels) and COCO bbox [x, y, w, h] of every non-zero id in an int [H, W] map."""
    flat_ids, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(ids.shape)
    out = {}
    for k, seg_id in enumerate(flat_ids.tolist()):
        if seg_id == 0:
            continue
        ys, xs = np.nonzero(inverse == k)
        x0, y0 = int(xs.min()), int(ys.min())
        out[seg_id] = (int(counts[k]), [x0, y0, int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1])
    return out


# ---------------------------------------------------------------------------------------------- dataset
@dataclass
class PanopticRecord:
    """One annotated image of a COCO panoptic dataset.

    Attributes:
        image_id: the JSON's ``image_id`` (int or str, as written there).
        image_path / panoptic_path: the picture and its panoptic PNG.
        height / width: pixels, from the ``images`` entry (0 when the JSON has none).
        segments_info: the annotation's segments (``id``, ``category_id``, ``iscrowd``, ``bbox``, ``area``).
    """

    image_id: Any
    image_path: Path
    panoptic_path: Path
    height: int
    width: int
    segments_info: list[dict] = field(default_factory=list)


@dataclass
class CocoPanopticDataset:
    """A parsed COCO panoptic JSON: the records and the dataset's own categories."""

    records: list[PanopticRecord]
    categories: PanopticCategories
    json_path: Path

    def __len__(self) -> int:
        return len(self.records)


def _resolve_layout(root: str | Path, json_path, image_dir, panoptic_dir) -> tuple[Path, Path, Path]:
    root = Path(root)
    if root.is_file():
        json_path = json_path or root
        root = root.parent
    json_path = Path(json_path) if json_path else root / "panoptic.json"
    image_dir = Path(image_dir) if image_dir else root / "images"
    panoptic_dir = Path(panoptic_dir) if panoptic_dir else root / "panoptic"
    return json_path, image_dir, panoptic_dir


def load_json(path: str | Path, what: str = "panoptic JSON") -> dict:
    """Read a JSON file; a missing or malformed one is a :class:`TrtPanopticError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise TrtPanopticError(f"{what} {path} should exist, got no such file — check the path")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TrtPanopticError(f"{what} {path} should be valid JSON, got {exc} — regenerate or fix it") from None


def load_coco_panoptic(
    root: str | Path,
    *,
    json_path: str | Path | None = None,
    image_dir: str | Path | None = None,
    panoptic_dir: str | Path | None = None,
    categories: PanopticCategories | None = None,
    check_files: bool = True,
) -> CocoPanopticDataset:
    """Parse a COCO panoptic dataset folder (``images/``, ``panoptic/``, ``panoptic.json``).

    Args:
        root: the dataset folder (or the JSON file itself).
        json_path / image_dir / panoptic_dir: override the default layout under ``root``.
        categories: the classes to read with (e.g. :meth:`PanopticCategories.from_model_config`); None = the
            JSON's own ``categories``. Every segment's ``category_id`` must be one of them.
        check_files: check now that every picture and PNG exists (cheap; errors early, naming the file).

    Raises:
        TrtPanopticError: missing/invalid JSON, an empty dataset, an unknown category, a missing file.
    """
    json_path, image_dir, panoptic_dir = _resolve_layout(root, json_path, image_dir, panoptic_dir)
    data = load_json(json_path)
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        raise TrtPanopticError(f"{json_path} should hold a COCO panoptic JSON with 'annotations', got none — check the file")
    if not data["annotations"]:
        raise TrtPanopticError(f"{json_path} should list at least one annotation, got an empty dataset — generate or point to real data")
    json_categories = PanopticCategories.from_coco(data.get("categories") or [])
    cats = categories or json_categories
    known = set(cats.thing_ids) | set(cats.stuff_ids)
    images = {img["id"]: img for img in data.get("images", []) if isinstance(img, dict) and "id" in img}
    records = []
    for ann in data["annotations"]:
        try:
            image_id, png_name, segs = ann["image_id"], ann["file_name"], ann["segments_info"]
        except (KeyError, TypeError):
            raise TrtPanopticError(
                f"{json_path}: annotation {ann!r:.80} should have image_id, file_name and segments_info — fix the JSON"
            ) from None
        for seg in segs:
            if seg.get("category_id") not in known:
                raise TrtPanopticError(
                    f"{json_path}: image {image_id} segment {seg.get('id')} has category_id {seg.get('category_id')!r}, "
                    f"which should be one of the {len(known)} categories it is read with — fix the JSON or the category lists"
                )
        info = images.get(image_id, {})
        image_name = info.get("file_name") or Path(png_name).with_suffix(".jpg").name
        rec = PanopticRecord(
            image_id=image_id,
            image_path=_image_path(image_dir, image_name),
            panoptic_path=panoptic_dir / png_name,
            height=int(info.get("height", 0)),
            width=int(info.get("width", 0)),
            segments_info=list(segs),
        )
        if check_files:
            for path, kind in ((rec.panoptic_path, "panoptic PNG"), (rec.image_path, "image")):
                if not path.is_file():
                    raise TrtPanopticError(f"{kind} {path} (image_id {image_id}) should exist, got no such file — check the dataset folder")
        records.append(rec)
    return CocoPanopticDataset(records=records, categories=cats, json_path=json_path)


def _image_path(image_dir: Path, name: str) -> Path:
    # COCO keeps all pictures in one folder; Cityscapes (leftImg8bit/<split>/<city>/<city>_..._leftImg8bit.png)
    # keeps them per city, the city being the file name's first field.
    path = image_dir / name
    if not path.is_file() and "_" in name:
        city = image_dir / name.split("_", 1)[0] / name
        if city.is_file():
            return city
    return path


def load_cityscapes_panoptic(root: str | Path, split: str = "val", **kwargs: Any) -> CocoPanopticDataset:
    """Cityscapes after cityscapesScripts' ``createPanopticImgs``: ``gtFine/cityscapes_panoptic_<split>.json``,
    PNGs in ``gtFine/cityscapes_panoptic_<split>/``, pictures in ``leftImg8bit/<split>/<city>/``."""
    root = Path(root)
    return load_coco_panoptic(
        root,
        json_path=root / "gtFine" / f"cityscapes_panoptic_{split}.json",
        image_dir=root / "leftImg8bit" / split,
        panoptic_dir=root / "gtFine" / f"cityscapes_panoptic_{split}",
        **kwargs,
    )


# ---------------------------------------------------------------------------------------------- targets
@dataclass
class PanopticTargets:
    """Training targets of one image (detectron2's panoptic_separated convention).

    Attributes:
        sem_seg: uint8 [H, W]; 0 = 'other' (every thing pixel, crowd included), 1..S = stuff in the order of
            the category list, 255 = VOID / ignore.
        boxes: float32 [N, 4] XYXY pixels (x1, y1 inclusive; x2, y2 = last pixel + 1), tight around the mask.
        classes: int64 [N], 0-based thing class.
        masks: bool [N, H, W].
        segment_ids: int64 [N], the panoptic ids of the instances (crowd and empty segments excluded).
    """

    sem_seg: np.ndarray
    boxes: np.ndarray
    classes: np.ndarray
    masks: np.ndarray
    segment_ids: np.ndarray


def masks_to_boxes(masks: np.ndarray) -> np.ndarray:
    """bool [N, H, W] → float32 [N, 4] tight XYXY boxes (x2 = last column + 1); an empty mask gives zeros."""
    n = masks.shape[0]
    boxes = np.zeros((n, 4), np.float32)
    if n == 0:
        return boxes
    rows, cols = masks.any(axis=2), masks.any(axis=1)
    for i in range(n):
        ys, xs = np.flatnonzero(rows[i]), np.flatnonzero(cols[i])
        if ys.size:
            boxes[i] = (xs[0], ys[0], xs[-1] + 1, ys[-1] + 1)
    return boxes


def panoptic_to_targets(
    pan_ids: np.ndarray,
    segments_info: Sequence[dict],
    categories: PanopticCategories,
    *,
    source: str = "panoptic PNG",
) -> PanopticTargets:
    """Turn an id map and its segments into semantic and instance targets.

    Args:
        pan_ids: int [H, W] segment ids (0 = VOID).
        segments_info: the annotation's segments (``id``, ``category_id``, ``iscrowd``).
        categories: the class lists that fix the target indices.
        source: how to name the input in errors (the PNG path).

    Raises:
        TrtPanopticError: an id in the map has no segment, or a segment's category is not in ``categories``.
    """
    thing_index, stuff_channel = categories.thing_index(), categories.stuff_channel()
    seg_ids, inverse = np.unique(pan_ids, return_inverse=True)
    inverse = inverse.reshape(pan_ids.shape)
    by_id = {int(s["id"]): s for s in segments_info}
    # Label per unique id, then one gather: every pixel gets the label of its segment.
    lut = np.full(len(seg_ids), 255, np.uint8)
    instances = []
    for k, seg_id in enumerate(seg_ids.tolist()):
        if seg_id == 0:
            continue
        seg = by_id.get(seg_id)
        if seg is None:
            raise TrtPanopticError(
                f"{source}: segment id {seg_id} is in the PNG but not in the JSON's segments_info — regenerate the annotation"
            )
        cat = seg.get("category_id")
        if cat in thing_index:
            lut[k] = 0
            if not seg.get("iscrowd", 0):
                instances.append((k, seg_id, thing_index[cat]))
        elif cat in stuff_channel:
            lut[k] = stuff_channel[cat]
        else:
            raise TrtPanopticError(
                f"{source}: segment {seg_id} has category_id {cat!r}, which should be one of the known categories — "
                "fix the JSON or the category lists"
            )
    sem_seg = lut[inverse]
    h, w = pan_ids.shape
    masks = np.zeros((len(instances), h, w), bool)
    for i, (k, _, _) in enumerate(instances):
        masks[i] = inverse == k
    return PanopticTargets(
        sem_seg=sem_seg,
        boxes=masks_to_boxes(masks),
        classes=np.array([c for _, _, c in instances], np.int64),
        masks=masks,
        segment_ids=np.array([s for _, s, _ in instances], np.int64),
    )


def read_record_png(record: PanopticRecord) -> np.ndarray:
    """A record's panoptic PNG as int64 [H, W] ids, checked against its JSON segments both ways.

    A JSON segment without a pixel would count as a missed ground-truth segment and silently lower PQ; an id
    in the PNG without a segment has no category. The COCO panoptic API treats both as errors.

    Raises:
        TrtPanopticError: the PNG is unreadable, or the PNG and the JSON disagree.
    """
    pan = read_panoptic_png(record.panoptic_path)
    in_png = set(np.unique(pan).tolist()) - {0}
    in_json = {int(s["id"]) for s in record.segments_info}
    for found, where, other in ((sorted(in_json - in_png), "the JSON's segments_info", "the PNG"),
                                (sorted(in_png - in_json), "the PNG", "the JSON's segments_info")):
        if found:
            more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
            raise TrtPanopticError(f"{record.panoptic_path}: segment id {found[0]} is in {where} but not in {other}"
                                   f"{more} — regenerate the annotation")
    return pan


def read_targets(record: PanopticRecord, categories: PanopticCategories) -> PanopticTargets:
    """Read a record's PNG (checked against its JSON) and build its :class:`PanopticTargets`."""
    pan = read_record_png(record)
    return panoptic_to_targets(pan, record.segments_info, categories, source=str(record.panoptic_path))


# ---------------------------------------------------------------------------------------------- writing
def write_coco_panoptic_json(
    path: str | Path,
    images: list[dict],
    annotations: list[dict],
    categories: list[dict],
    info: dict | None = None,
) -> None:
    """Write a COCO panoptic JSON atomically (keys in a fixed order, so equal inputs give equal bytes)."""
    data = {"info": info or {}, "images": images, "annotations": annotations, "categories": categories}
    atomic_write_text(path, json.dumps(data, indent=None, separators=(",", ":")) + "\n")


def make_annotation(image_id: Any, png_name: str, pan_ids: np.ndarray, segments: Sequence[dict]) -> dict:
    """A COCO panoptic annotation for an id map: fills ``area`` and ``bbox`` from the pixels.

    Args:
        segments: per segment at least ``id`` and ``category_id`` (``iscrowd`` defaults to 0); a segment
            absent from the map is dropped (COCO never lists empty segments).
    """
    stats = segment_stats(pan_ids)
    infos = []
    for seg in segments:
        sid = int(seg["id"])
        if sid not in stats:
            continue
        area, bbox = stats[sid]
        infos.append({"id": sid, "category_id": int(seg["category_id"]), "iscrowd": int(seg.get("iscrowd", 0)),
                      "bbox": bbox, "area": area})
    missing = set(stats) - {s["id"] for s in infos}
    assert not missing, f"coco_panoptic: ids {sorted(missing)} in the map have no segment"
    return {"image_id": image_id, "file_name": png_name, "segments_info": infos}
