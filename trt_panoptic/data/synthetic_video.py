"""Synthetic video: textured shapes moving (and occluding each other) over a synthetic stuff background.

For the video pipeline's tests and demo: a clip whose content is known frame by frame. Shapes move at
constant velocity and spin, bounce off the frame edges, and keep their depth order, so they pass in
front of / behind one another. Each frame also has its panoptic ground truth (segment ids stable over
time), available from :func:`render_video_frames` for tests that want it.
Deterministic: frame ``t`` of seed ``s`` depends only on ``(s, t)``.
"""
from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import numpy as np

from trt_panoptic.data.categories import PanopticCategories
from trt_panoptic.data.synthetic import (
    _check_drawable,
    _drop_small,
    default_categories,
    paint_stuff,
    paint_things,
    random_thing,
)
from trt_panoptic.atomic_io import check_writable_dir
from trt_panoptic.data.frames import check_video_frames, check_video_writer, cv2_module
from trt_panoptic.errors import TrtPanopticError

logger = logging.getLogger(__name__)

FOURCC = {".mp4": "mp4v", ".avi": "MJPG"}


def render_video_frames(
    num_frames: int,
    size: tuple[int, int] = (256, 256),
    seed: int = 0,
    *,
    categories: PanopticCategories | None = None,
    num_things: tuple[int, int] = (3, 6),
) -> Iterator[tuple[np.ndarray, np.ndarray, list[dict]]]:
    """Yield ``num_frames`` frames of one scene.

    Args:
        size: (height, width) in pixels.
        num_things: inclusive range of the number of moving shapes.

    Yields:
        ``(frame, pan, segments)``: uint8 [H, W, 3] BGR; int64 [H, W] segment ids (0 = VOID); the
        ``[{"id", "category_id", "iscrowd"}]`` present in this frame.
    """
    cats = categories or default_categories()
    _check_drawable(cats)
    h, w = size
    rng = np.random.default_rng([seed, 2**31])  # scene: background and shapes
    background, bg_pan, stuff_segments = paint_stuff(rng, h, w, cats)
    n = int(rng.integers(num_things[0], num_things[1] + 1))
    things, ids, velocity, spin = [], [], [], []
    per_class = {cid: 0 for cid in cats.thing_ids}
    for _ in range(n):
        c = int(rng.integers(cats.num_things))
        cid = cats.thing_ids[c]
        per_class[cid] += 1
        t = random_thing(rng, cats.thing_names[c], h, w)
        t = replace(t, cx=rng.uniform(0.1, 0.9) * w, cy=rng.uniform(0.1, 0.9) * h, size=min(h, w) * rng.uniform(0.07, 0.18))
        things.append(t)
        ids.append(cid * 1000 + per_class[cid])
        speed = min(h, w) * rng.uniform(0.006, 0.02)  # px per frame
        heading = rng.uniform(0, 2 * np.pi)
        velocity.append((speed * np.cos(heading), speed * np.sin(heading)))
        spin.append(rng.uniform(-0.05, 0.05))  # rad per frame
    min_area = max(16, int(0.001 * h * w))
    for f in range(num_frames):
        moved = [replace(t, cx=_bounce(t.cx + vx * f, w), cy=_bounce(t.cy + vy * f, h), angle=t.angle + s * f)
                 for t, (vx, vy), s in zip(things, velocity, spin)]
        frame = background.copy()
        pan = bg_pan.copy()
        paint_things(frame, pan, moved, ids)
        noise_rng = np.random.default_rng([seed, f])
        frame += noise_rng.normal(0, 2.0, (h, w, 1)).astype(np.float32)
        pan = _drop_small(pan, min_area)
        present = set(np.unique(pan).tolist())
        segments = [s for s in stuff_segments if s["id"] in present]
        segments += [{"id": sid, "category_id": sid // 1000, "iscrowd": 0} for sid in ids if sid in present]
        yield np.clip(np.rint(frame), 0, 255).astype(np.uint8), pan, segments


def _bounce(x: float, limit: float) -> float:
    # reflect a position moving at constant speed between 0 and limit (a triangle wave)
    period = 2 * limit
    x = x % period
    return x if x <= limit else period - x


def write_synthetic_video(
    out: str | Path,
    num_frames: int,
    size: tuple[int, int] = (256, 256),
    seed: int = 0,
    fps: float = 30.0,
    *,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Write a synthetic clip: ``.mp4`` (mp4v) or ``.avi`` (MJPG), atomically (temp file, then rename).

    Raises:
        TrtPanopticError: unsupported suffix, ``num_frames`` < 1, an existing file without ``force``, or an
            OpenCV build that cannot write the codec.
    """
    cv2 = cv2_module()
    from tqdm import tqdm

    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in FOURCC:
        raise TrtPanopticError(f"--out should end in .mp4 or .avi, got {out.name!r} — e.g. --out clip.mp4")
    if num_frames < 1:
        raise TrtPanopticError(f"--frames should be at least 1, got {num_frames} — ask for some frames")
    if not fps > 0:
        raise TrtPanopticError(f"--fps should be positive, got {fps} — e.g. --fps 30")
    if out.exists() and not force:
        raise TrtPanopticError(f"--out {out} already exists — pass --force to replace it")
    check_writable_dir(out.parent, "--out")
    h, w = size
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=suffix, dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*FOURCC[suffix]), float(fps), (w, h))
        check_video_writer(writer, out, f"{FOURCC[suffix]} {suffix} files need another OpenCV build; try .avi")
        try:
            frames = render_video_frames(num_frames, size, seed)
            for frame, _, _ in tqdm(frames, total=num_frames, desc="synth-video", unit="frame", disable=not progress):
                writer.write(frame)
        finally:
            writer.release()
        check_video_frames(tmp, num_frames, out)
        os.chmod(tmp, 0o644)  # mkstemp made it 0600; a clip is meant to be shared
        os.replace(tmp, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    logger.info("wrote %d frames (%dx%d, %.0f fps, seed %d) to %s", num_frames, h, w, fps, seed, out)
    return out
