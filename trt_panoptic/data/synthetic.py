"""Synthetic panoptic scenes: textured stuff regions with occluding, textured shapes on top.

The classes are those of a model config (``r18_fpn_tiny``: things disc/box/triangle, stuff
sky/road/grass/wall); names pick how a class is drawn, ids come from the config. A scene is an outdoor view
(sky above a wavy horizon, road in perspective, grass, sometimes a brick building) or an indoor one (a wall
above a floor). Things get a random colour pair, texture (solid, stripes, checker, gradient, radial), size,
rotation and place (partly outside the frame too); later shapes are drawn over earlier ones. What a shape
keeps visible is its segment; a segment that ends up smaller than ``min_area`` pixels — a sliver left by
occlusion — becomes VOID (ignored by training and PQ) rather than an unlearnable tiny instance; a fully
hidden shape is not written at all.

Determinism: image ``i`` of seed ``s`` is drawn from ``numpy.random.default_rng([s, i])`` only, so the
same seed gives byte-identical files whatever the number of images or the machine.
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from trt_panoptic.atomic_io import atomic_output_dir
from trt_panoptic.data.categories import PanopticCategories
from trt_panoptic.data.frames import cv2_module
from trt_panoptic.errors import TrtPanopticError

logger = logging.getLogger(__name__)

THING_KINDS = ("disc", "box", "triangle")
STUFF_KINDS = ("sky", "road", "grass", "wall")
THING_TEXTURES = ("solid", "stripes", "checker", "gradient", "radial")
DEFAULT_CONFIG = "r18_fpn_tiny"
FORMAT_VERSION = 1


def default_categories() -> PanopticCategories:
    """The synthetic classes, read from the shipped ``r18_fpn_tiny`` config (its names and ids)."""
    from trt_panoptic.config import load_config

    return PanopticCategories.from_model_config(load_config(DEFAULT_CONFIG).model)


def _check_drawable(categories: PanopticCategories) -> None:
    for names, kinds, what in ((categories.thing_names, THING_KINDS, "thing"), (categories.stuff_names, STUFF_KINDS, "stuff")):
        unknown = [n for n in names if n not in kinds]
        if unknown:
            raise TrtPanopticError(
                f"synthetic {what} classes should be among {list(kinds)}, got {unknown} — use the {DEFAULT_CONFIG} classes"
            )


def parse_size(text: str) -> tuple[int, int]:
    """``"HxW"`` (or a single ``"N"`` for a square) → (height, width) in pixels, each 32..4096."""
    parts = text.lower().split("x")
    try:
        h, w = (int(parts[0]), int(parts[-1])) if len(parts) in (1, 2) else (0, 0)
    except ValueError:
        h = w = 0
    if not (32 <= h <= 4096 and 32 <= w <= 4096):
        raise TrtPanopticError(f"--size should be HxW with each side in 32..4096, got {text!r} — e.g. --size 256x256")
    return h, w


# ---------------------------------------------------------------------------------------------- helpers
def smooth_noise(rng: np.random.Generator, h: int, w: int, cells: tuple[int, int]) -> np.ndarray:
    """float32 [h, w] value noise in about [-1, 1]: a random ``cells`` grid, bilinearly upsampled."""
    cv2 = cv2_module()
    grid = rng.uniform(-1, 1, (max(cells[0], 2), max(cells[1], 2))).astype(np.float32)
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)


def _hsv_to_bgr(h: float, s: float, v: float) -> np.ndarray:
    """Hue in degrees, s and v in 0..1 → float32 [3] BGR in 0..255."""
    import colorsys

    r, g, b = colorsys.hsv_to_rgb((h % 360) / 360.0, s, v)
    return np.array([b, g, r], np.float32) * 255.0


# ---------------------------------------------------------------------------------------------- stuff
def _tex_sky(rng, h, w):
    hue = rng.uniform(195, 225)
    top, bottom = _hsv_to_bgr(hue, rng.uniform(0.55, 0.85), rng.uniform(0.55, 0.8)), _hsv_to_bgr(hue, rng.uniform(0.15, 0.4), rng.uniform(0.85, 1.0))
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    img = top * (1 - t) + bottom * t
    clouds = np.clip(smooth_noise(rng, h, w, (4, 6)) * 1.5 - rng.uniform(0.2, 0.8), 0, 1)[..., None]
    return img * (1 - 0.7 * clouds) + 245.0 * 0.7 * clouds + rng.normal(0, 2, (h, w, 1))


def _tex_road(rng, h, w):
    base = rng.uniform(55, 115)
    tint = rng.uniform(-6, 6, 3)
    img = np.full((h, w, 3), base, np.float32) + tint
    img += 14 * smooth_noise(rng, h, w, (6, 6))[..., None]
    img += rng.normal(0, rng.uniform(8, 14), (h, w, 1))  # asphalt speckle: grey, not coloured
    return img


def _tex_grass(rng, h, w):
    cv2 = cv2_module()
    color = _hsv_to_bgr(rng.uniform(85, 135), rng.uniform(0.5, 0.85), rng.uniform(0.35, 0.7))
    blades = cv2.resize(rng.normal(0, 1, (max(h // 6, 2), w)).astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    patches = smooth_noise(rng, h, w, (5, 5))
    return color * (1 + 0.25 * blades[..., None] + 0.2 * patches[..., None])


def _tex_wall(rng, h, w):
    bh = int(rng.integers(7, 15))
    bw = int(bh * rng.uniform(2.0, 3.0))
    hue = rng.uniform(0, 35)
    mortar = rng.uniform(170, 215)
    ys, xs = np.mgrid[0:h, 0:w]
    row = ys // bh
    shifted = xs + (row % 2) * (bw // 2)
    col = shifted // bw
    brick_id = row * (w // bw + 3) + col
    n_bricks = int(brick_id.max()) + 1
    brick_v = rng.uniform(0.45, 0.75, n_bricks)
    brick_s = rng.uniform(0.45, 0.75, n_bricks)
    base = np.stack([_hsv_to_bgr(hue + rng.uniform(-6, 6), s, v) for s, v in zip(brick_s[:64], brick_v[:64])])
    img = base[brick_id % 64]
    is_mortar = (ys % bh < 2) | (shifted % bw < 2)
    img[is_mortar] = mortar
    return img + rng.normal(0, 6, (h, w, 1))


_STUFF_TEXTURES = {"sky": _tex_sky, "road": _tex_road, "grass": _tex_grass, "wall": _tex_wall}


def stuff_layout(rng: np.random.Generator, h: int, w: int, names: Sequence[str]) -> np.ndarray:
    """int32 [h, w] index into ``names`` per pixel (-1 = VOID): an outdoor or indoor arrangement."""
    has = {n: n in names for n in STUFF_KINDS}
    label = np.full((h, w), -1, np.int32)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    indoor = has["wall"] and (not has["sky"] or rng.random() < 0.25)
    ground = [n for n in ("grass", "road") if has[n]]
    if indoor:
        floor_y = h * rng.uniform(0.45, 0.8) + (xs[0] - w / 2) * rng.uniform(-0.15, 0.15)
        label[ys < floor_y] = names.index("wall")
        if ground:
            label[ys >= floor_y] = names.index(ground[int(rng.integers(len(ground)))])
        return label
    horizon = h * rng.uniform(0.25, 0.6) + h * rng.uniform(0.0, 0.05) * np.sin(xs[0] / w * rng.uniform(2, 9) + rng.uniform(0, 6.3))
    below = ys >= horizon
    top = "sky" if has["sky"] else "wall"
    if has[top]:
        label[~below] = names.index(top)
    if ground:
        label[below] = names.index(ground[0] if len(ground) == 1 or rng.random() < 0.55 else ground[-1])
        if has["road"] and has["grass"] and rng.random() < 0.75:
            # road in perspective: a trapezoid from the bottom edge narrowing towards a vanishing point
            vx = w * rng.uniform(0.2, 0.8)
            half_bottom = w * rng.uniform(0.25, 0.6)
            hz = float(horizon.mean())
            frac = np.clip((ys - hz) / max(h - hz, 1), 0, 1)
            cx = vx + (w * rng.uniform(0.3, 0.7) - vx) * frac
            half = 0.03 * w + (half_bottom - 0.03 * w) * frac
            road = below & (np.abs(xs - cx) < half)
            label[below] = names.index("grass")
            label[road] = names.index("road")
    if has["wall"] and top != "wall" and rng.random() < 0.55:
        # a building in front of the sky, standing on the horizon
        x0 = int(w * rng.uniform(-0.1, 0.7))
        x1 = x0 + int(w * rng.uniform(0.2, 0.55))
        y0 = int(h * rng.uniform(0.02, 0.2))
        y1 = int(horizon.max()) + int(rng.integers(0, max(h // 20, 2)))
        label[y0:y1, max(x0, 0):max(x1, 0)] = names.index("wall")
    return label


# ---------------------------------------------------------------------------------------------- things
@dataclass
class Thing:
    """One shape: kind (disc/box/triangle), centre (px), size (px, circumradius), rotation (rad),
    aspect (box/ellipse), triangle vertex jitter, two colours (BGR 0..255), texture and its period (px)."""

    kind: str
    cx: float
    cy: float
    size: float
    angle: float
    aspect: float
    jitter: tuple[float, ...]
    color1: np.ndarray
    color2: np.ndarray
    texture: str
    period: float

    def polygon(self) -> np.ndarray:
        """float32 [K, 2] outline (x, y) in pixels (discs: a 48-gon ellipse)."""
        if self.kind == "disc":
            t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
            pts = np.stack([np.cos(t) * self.size, np.sin(t) * self.size * self.aspect], 1)
        elif self.kind == "box":
            a = self.size / math.sqrt(1 + self.aspect**2)
            pts = np.array([[-a, -a * self.aspect], [a, -a * self.aspect], [a, a * self.aspect], [-a, a * self.aspect]])
        else:
            t = np.array([-np.pi / 2, np.pi / 6, 5 * np.pi / 6]) + np.array(self.jitter[:3])
            r = self.size * (1 + np.array(self.jitter[3:6]))
            pts = np.stack([np.cos(t) * r, np.sin(t) * r], 1)
        c, s = math.cos(self.angle), math.sin(self.angle)
        rot = pts @ np.array([[c, s], [-s, c]])
        return (rot + [self.cx, self.cy]).astype(np.float32)

    def mask(self, h: int, w: int) -> np.ndarray:
        """bool [h, w] filled shape (hard edges, so picture and label agree pixel for pixel)."""
        cv2 = cv2_module()
        m = np.zeros((h, w), np.uint8)
        pts = np.round(self.polygon() * 16).astype(np.int32)  # 4 fractional bits: sub-pixel outlines
        cv2.fillPoly(m, [pts], 1, lineType=cv2.LINE_8, shift=4)
        return m.astype(bool)

    def colors(self, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """float32 [K, 3] BGR of the shape at pixel coordinates ``ys``, ``xs`` (texture moves with the shape)."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        u = (xs - self.cx) * c + (ys - self.cy) * s
        v = -(xs - self.cx) * s + (ys - self.cy) * c
        if self.texture == "solid":
            t = np.zeros_like(u)
        elif self.texture == "stripes":
            t = (np.sin(u * 2 * np.pi / self.period) > 0).astype(np.float32)
        elif self.texture == "checker":
            t = ((np.floor(u / self.period) + np.floor(v / self.period)) % 2).astype(np.float32)
        elif self.texture == "gradient":
            t = np.clip(u / (2 * self.size) + 0.5, 0, 1)
        else:  # radial shading, like a lit ball or cone
            t = np.clip(np.hypot(u + 0.3 * self.size, v + 0.3 * self.size) / (1.6 * self.size), 0, 1)
        t = t.astype(np.float32)[:, None]
        return self.color1 * (1 - t) + self.color2 * t


def paint_stuff(
    rng: np.random.Generator, h: int, w: int, categories: PanopticCategories
) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """A stuff background: float32 [H, W, 3] BGR image, int64 [H, W] ids (``category_id·1000``) and the
    ``segments_info`` of the stuff classes present — shared by the still images and the video."""
    layout = stuff_layout(rng, h, w, list(categories.stuff_names))
    image = np.zeros((h, w, 3), np.float32)
    pan = np.zeros((h, w), np.int64)
    segments = []
    for k, (cid, name) in enumerate(zip(categories.stuff_ids, categories.stuff_names)):
        region = layout == k
        if region.any():
            image[region] = _STUFF_TEXTURES[name](rng, h, w)[region]
            pan[region] = cid * 1000
            segments.append({"id": cid * 1000, "category_id": cid, "iscrowd": 0})
    return image, pan, segments


def random_thing(rng: np.random.Generator, kind: str, h: int, w: int) -> Thing:
    """A shape of ``kind`` with random place, scale (5–25 % of the short side as radius), colours, texture."""
    short = min(h, w)
    size = short * math.exp(rng.uniform(math.log(0.05), math.log(0.25)))
    hue = rng.uniform(0, 360)
    c1 = _hsv_to_bgr(hue, rng.uniform(0.45, 1.0), rng.uniform(0.45, 1.0))
    c2 = _hsv_to_bgr(hue + rng.choice([0, 30, 180]) + rng.uniform(-20, 20), rng.uniform(0.3, 1.0), rng.uniform(0.25, 1.0))
    return Thing(
        kind=kind,
        cx=rng.uniform(-0.05, 1.05) * w,
        cy=rng.uniform(0.0, 1.05) * h,
        size=size,
        angle=rng.uniform(0, 2 * np.pi),
        aspect=rng.uniform(0.75, 1.0) if kind == "disc" else rng.uniform(0.5, 1.0) if kind == "box" else 1.0,
        jitter=tuple(rng.uniform(-0.25, 0.25, 3)) + tuple(rng.uniform(-0.15, 0.15, 3)),
        color1=c1,
        color2=c2,
        texture=str(rng.choice(THING_TEXTURES, p=[0.35, 0.2, 0.15, 0.15, 0.15])),
        period=float(rng.uniform(3, 10)),
    )


def paint_things(image: np.ndarray, pan: np.ndarray, things: Sequence[Thing], ids: Sequence[int]) -> None:
    """Draw ``things`` in order onto float [H, W, 3] ``image`` and write ``ids`` into int ``pan`` (in place)."""
    h, w = pan.shape
    for thing, sid in zip(things, ids):
        m = thing.mask(h, w)
        ys, xs = np.nonzero(m)
        if ys.size == 0:
            continue
        image[ys, xs] = thing.colors(ys.astype(np.float32), xs.astype(np.float32))
        pan[ys, xs] = sid


def _drop_small(pan: np.ndarray, min_area: int) -> np.ndarray:
    ids, inverse, counts = np.unique(pan, return_inverse=True, return_counts=True)
    small = (counts < min_area) & (ids != 0)
    if small.any():
        pan = np.where(small[inverse.reshape(pan.shape)], 0, pan)
    return pan


@dataclass(frozen=True)
class SceneSpec:
    """Scene knobs: instances per image (inclusive range), VOID clutter probability, smallest segment (px)."""

    min_instances: int = 2
    max_instances: int = 8
    void_prob: float = 0.3
    min_area: int = 0  # 0 = 0.1 % of the image, at least 16 px

    def min_area_for(self, h: int, w: int) -> int:
        return self.min_area or max(16, int(0.001 * h * w))


def render_scene(
    rng: np.random.Generator,
    height: int,
    width: int,
    categories: PanopticCategories,
    spec: SceneSpec = SceneSpec(),
) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Draw one scene.

    Returns:
        image: uint8 [H, W, 3] BGR.
        pan: int64 [H, W] segment ids (0 = VOID): stuff ``category_id·1000``, thing k ``category_id·1000 + k``.
        segments: ``[{"id", "category_id", "iscrowd": 0}]`` for the ids present in ``pan``.
    """
    cv2 = cv2_module()
    _check_drawable(categories)
    h, w = height, width
    image, pan, segments = paint_stuff(rng, h, w, categories)
    if rng.random() < spec.void_prob:
        # unlabeled clutter (as in real data): noisy blob that no class owns
        blob = Thing("disc", rng.uniform(0, w), rng.uniform(0, h), min(h, w) * rng.uniform(0.04, 0.1), rng.uniform(0, 6.3),
                     rng.uniform(0.4, 1.0), (0.0,) * 6, np.zeros(3, np.float32), np.zeros(3, np.float32), "solid", 1.0)
        m = blob.mask(h, w)
        image[m] = rng.uniform(0, 255, (int(m.sum()), 3))
        pan[m] = 0
    n = int(rng.integers(spec.min_instances, spec.max_instances + 1))
    things, ids = [], []
    per_class = {cid: 0 for cid in categories.thing_ids}
    for _ in range(n):
        c = int(rng.integers(categories.num_things))
        cid = categories.thing_ids[c]
        per_class[cid] += 1
        things.append(random_thing(rng, categories.thing_names[c], h, w))
        ids.append(cid * 1000 + per_class[cid])
    paint_things(image, pan, things, ids)
    for thing, sid in zip(things, ids):
        segments.append({"id": sid, "category_id": sid // 1000, "iscrowd": 0})
    image = cv2.GaussianBlur(image, (3, 3), rng.uniform(0.3, 0.7))  # soften aliased edges a little, as a lens would
    image += rng.normal(0, rng.uniform(1, 4), (h, w, 1)).astype(np.float32)  # sensor noise
    pan = _drop_small(pan, spec.min_area_for(h, w))
    present = set(np.unique(pan).tolist())
    segments = [s for s in segments if s["id"] in present]
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), pan, segments


# ---------------------------------------------------------------------------------------------- dataset
#: Most images one synthetic dataset holds (a few hours on 2 cores, ~0.2 MB each): a larger request is a
#: typo, refused before anything is written instead of running until killed.
MAX_SYNTH_IMAGES = 1_000_000


def generate_synthetic_dataset(
    out: str | Path,
    num_images: int,
    seed: int = 0,
    size: tuple[int, int] = (256, 256),
    *,
    categories: PanopticCategories | None = None,
    spec: SceneSpec = SceneSpec(),
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Write ``num_images`` synthetic scenes in COCO panoptic layout under ``out``.

    Layout: ``images/NNNNNN.png`` (BGR pictures, PNG so that no compression artefact blurs the object
    boundaries), ``panoptic/NNNNNN.png`` (RGB-encoded ids), ``panoptic.json``. The folder is built aside and
    renamed into place at the end.

    Args:
        size: (height, width) in pixels.
        categories: classes to draw (default: those of the ``r18_fpn_tiny`` config).
        force: replace a non-empty ``out``.

    Returns:
        The output folder.

    Raises:
        TrtPanopticError: ``num_images`` outside 1..:data:`MAX_SYNTH_IMAGES`, ``out`` non-empty without
            ``force``, undrawable classes.
    """
    cv2 = cv2_module()
    from tqdm import tqdm

    from trt_panoptic.data.coco_panoptic import encode_panoptic_png, make_annotation, write_coco_panoptic_json

    if not 1 <= num_images <= MAX_SYNTH_IMAGES:
        raise TrtPanopticError(f"--num-images should be 1..{MAX_SYNTH_IMAGES:,}, got {num_images:,} — ask for fewer images "
                               "(or make several datasets)")
    cats = categories or default_categories()
    _check_drawable(cats)
    h, w = size
    images, annotations = [], []
    with atomic_output_dir(out, force=force) as tmp:
        (tmp / "images").mkdir()
        (tmp / "panoptic").mkdir()
        for i in tqdm(range(num_images), desc="synth", unit="img", disable=not progress):
            rng = np.random.default_rng([seed, i])
            image, pan, segments = render_scene(rng, h, w, cats, spec)
            name = f"{i:06d}.png"
            ok, buf = cv2.imencode(".png", image)
            assert ok, "synthetic: PNG encoding failed"
            (tmp / "images" / name).write_bytes(buf.tobytes())
            (tmp / "panoptic" / name).write_bytes(encode_panoptic_png(pan))
            images.append({"id": i, "file_name": name, "height": h, "width": w})
            annotations.append(make_annotation(i, name, pan, segments))
        info = {"description": "trt_panoptic synthetic shapes", "seed": seed, "size": [h, w], "version": FORMAT_VERSION}
        write_coco_panoptic_json(tmp / "panoptic.json", images, annotations, cats.to_coco(), info)
    logger.info("wrote %d synthetic images (%dx%d, seed %d) to %s", num_images, h, w, seed, out)
    return Path(out)


def dataset_summary(root: str | Path) -> dict:
    """Counts of a COCO panoptic folder: images, segments per category name (for logs and checks)."""
    data = json.loads((Path(root) / "panoptic.json").read_text())
    names = {c["id"]: c["name"] for c in data["categories"]}
    counts: dict[str, int] = {}
    for ann in data["annotations"]:
        for s in ann["segments_info"]:
            counts[names[s["category_id"]]] = counts.get(names[s["category_id"]], 0) + 1
    return {"images": len(data["images"]), "segments": counts}
